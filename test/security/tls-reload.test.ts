/**
 * The public listeners' certificate: the pair loader's checks, the file
 * signature a poll compares (a Kubernetes `..data` symlink swap included),
 * the reloader (poll, signal, a bad pair keeping the good one, per-listener
 * outcomes, the expiry warning), the rule that a listener beyond loopback
 * needs a TLS choice, and grpc-js serving through our certificate provider.
 */
import { describe, test, before } from 'node:test';
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { chmodSync, mkdirSync, renameSync, symlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { credentials } from '@grpc/grpc-js';
import { resolveConfig } from '../../src/config.ts';
import { isSluiceError } from '../../src/core/errors.ts';
import { GrpcServer } from '../../src/cluster/transport/grpc-server.ts';
import { CertError } from '../../src/security/certs/cert-error.ts';
import { createCa, createNodeCert, createSelfSignedServerCert, type IssuedCert } from '../../src/security/certs/issue.ts';
import { CertReloader, type ReloadObserver, type ReloadOutcome } from '../../src/security/tls/cert-reloader.ts';
import { fileSignature } from '../../src/security/tls/file-signature.ts';
import { PairCertificateProvider, grpcServerCredentials } from '../../src/security/tls/grpc-credentials.ts';
import { loadServerPair, type ServerPair } from '../../src/security/tls/server-pair.ts';
import { isLoopbackHost, requireTlsChoice } from '../../src/security/tls/tls-choice.ts';
import { grpcHealth, servedCert } from '../support/tls-probe.ts';
import { tempDir } from '../support/temp-dir.ts';

const DAY_MS = 86_400_000;
const inDays = (days: number): Date => new Date(Date.now() + days * DAY_MS);
const HOSTS = ['127.0.0.1', 'localhost'];

/** Writes `issued` as `dir/name.crt` and `dir/name.key` (0600); returns the paths. */
function writePair(dir: string, name: string, issued: IssuedCert, certText = issued.certPem): { cert: string; key: string } {
  const files = { cert: path.join(dir, `${name}.crt`), key: path.join(dir, `${name}.key`) };
  writeFileSync(files.cert, certText);
  writeFileSync(files.key, issued.keyPem, { mode: 0o600 });
  chmodSync(files.key, 0o600);
  return files;
}

const serialOf = (c: IssuedCert): string => new X509Certificate(c.certPem).serialNumber;

/** An observer that records what it is told. */
function recorder(): ReloadObserver & { serving: [string, string][]; outcomes: ReloadOutcome[]; expiring: number[] } {
  const r = {
    serving: [] as [string, string][],
    outcomes: [] as ReloadOutcome[],
    expiring: [] as number[],
    onServing: (listener: string, pair: ServerPair) => r.serving.push([listener, pair.serialNumber]),
    onReload: (o: ReloadOutcome) => r.outcomes.push(o),
    onExpiring: (_pair: ServerPair, msLeft: number) => r.expiring.push(msLeft),
  };
  return r;
}

describe('TLS of the public listeners', () => {
  let ca: IssuedCert;
  let a: IssuedCert;
  let b: IssuedCert;
  let soon: IssuedCert;

  before(async () => {
    ca = await createCa({ clusterId: 'c1', notAfter: inDays(3650) });
    const signing = { certPem: ca.certPem, keyPem: ca.keyPem };
    a = await createNodeCert(signing, { nodeId: 'n1', hosts: HOSTS, notAfter: inDays(365) });
    b = await createNodeCert(signing, { nodeId: 'n1', hosts: HOSTS, notAfter: inDays(365) });
    soon = await createNodeCert(signing, { nodeId: 'n1', hosts: HOSTS, notAfter: inDays(10) });
  });

  test('loadServerPair takes a pair with its chain after it, and says what is wrong with a bad one', async (t) => {
    const dir = tempDir(t, 'sluice-tls-');
    const good = await loadServerPair(writePair(dir, 'good', a, a.certPem + ca.certPem));
    assert.match(good.cert, /BEGIN CERTIFICATE[\s\S]*BEGIN CERTIFICATE/, 'the chain is served too');
    assert.match(good.fingerprint256, /^([0-9A-F]{2}:){31}[0-9A-F]{2}$/);
    assert.ok(good.notAfter > inDays(364));
    const refused = async (files: { cert: string; key: string }, pattern: RegExp): Promise<void> => {
      await assert.rejects(loadServerPair(files), (err: unknown) => err instanceof CertError && pattern.test(err.message));
    };
    await refused({ cert: path.join(dir, 'good.crt'), key: writePair(dir, 'b', b).key }, /is not the key of/);
    const expired = await createNodeCert({ certPem: ca.certPem, keyPem: ca.keyPem }, { nodeId: 'n1', hosts: HOSTS, notBefore: inDays(-30), notAfter: inDays(-1) });
    await refused(writePair(dir, 'expired', expired), /expired on/);
    const open = writePair(dir, 'open', a);
    chmodSync(open.key, 0o644);
    await refused(open, /chmod 600/);
    await refused(writePair(dir, 'corrupt', a, a.certPem.replace(/[A-Za-z]{8}\n/, 'xxxxxxxx\n')), /does not parse/);
    await refused(writePair(dir, 'empty', a, ''), /holds no PEM certificate/);
    await refused({ cert: path.join(dir, 'absent.crt'), key: open.key }, /cannot read the TLS certificate/);
  });

  test('the file signature follows symlinks: a `..data` swap changes it, nothing else does', async (t) => {
    const dir = tempDir(t, 'sluice-tls-');
    for (const [v, pair] of [['v1', a], ['v2', b]] as const) {
      mkdirSync(path.join(dir, v));
      writePair(path.join(dir, v), 'tls', pair);
    }
    symlinkSync('v1', path.join(dir, '..data'));
    symlinkSync('..data/tls.crt', path.join(dir, 'tls.crt'));
    symlinkSync('..data/tls.key', path.join(dir, 'tls.key'));
    const files = [path.join(dir, 'tls.crt'), path.join(dir, 'tls.key')];
    const first = await fileSignature(files);
    assert.equal(await fileSignature(files), first);
    // Kubernetes' swap: a new link renamed over ..data, atomically.
    symlinkSync('v2', path.join(dir, '..data_tmp'));
    renameSync(path.join(dir, '..data_tmp'), path.join(dir, '..data'));
    assert.notEqual(await fileSignature(files), first);
    assert.match(await fileSignature([path.join(dir, 'nope')]), /ENOENT/);
  });

  test('the reloader: an unchanged poll does nothing, a change is served, a bad pair keeps the good one, a signal reloads anyway', async (t) => {
    const dir = tempDir(t, 'sluice-tls-');
    const files = writePair(dir, 'server', a);
    const seen = recorder();
    const reloader = new CertReloader(await CertReloader.load(files), seen);
    const applied: Record<string, string[]> = { http: [], grpc: [] };
    reloader.serve({ name: 'http', apply: (p) => applied['http']?.push(p.serialNumber) });
    reloader.serve({ name: 'grpc', apply: (p) => applied['grpc']?.push(p.serialNumber) });
    assert.deepEqual(seen.serving, [['http', serialOf(a)], ['grpc', serialOf(a)]]);

    await reloader.reload('poll');
    assert.equal(seen.outcomes.length, 0, 'unchanged files: no reload');

    writePair(dir, 'server', b);
    await reloader.reload('poll');
    assert.deepEqual(seen.outcomes.map((o) => [o.listener, o.result, o.trigger]), [['http', 'ok', 'poll'], ['grpc', 'ok', 'poll']]);
    assert.deepEqual(applied, { http: [serialOf(b)], grpc: [serialOf(b)] });
    assert.equal(reloader.pair.serialNumber, serialOf(b));

    // A new certificate whose key has not arrived yet: refused, b keeps serving, and not retried until the files change again.
    writeFileSync(files.cert, a.certPem);
    await reloader.reload('poll');
    await reloader.reload('poll');
    assert.deepEqual(seen.outcomes.slice(2).map((o) => [o.listener, o.result, o.pair.serialNumber]), [['http', 'error', serialOf(b)], ['grpc', 'error', serialOf(b)]]);
    assert.match(seen.outcomes[2]?.error?.message ?? '', /is not the key of/);
    writeFileSync(files.key, a.keyPem);
    await reloader.reload('poll');
    assert.equal(reloader.pair.serialNumber, serialOf(a));

    // A signal reloads unchanged files; a listener that cannot apply the pair fails alone.
    reloader.serve({ name: 'broken', apply: () => assert.fail('cannot apply') });
    const before = seen.outcomes.length;
    await Promise.all([reloader.reload('signal'), reloader.reload('poll')]);
    assert.deepEqual(seen.outcomes.slice(before).map((o) => [o.listener, o.result, o.trigger]), [['http', 'ok', 'signal'], ['grpc', 'ok', 'signal'], ['broken', 'error', 'signal']]);
  });

  test('a certificate with 10 days left is warned about once at start, not at every poll', async (t) => {
    const seen = recorder();
    const reloader = new CertReloader(await CertReloader.load(writePair(tempDir(t, 'sluice-tls-'), 'soon', soon)), seen);
    reloader.start(60_000);
    t.after(() => reloader.stop());
    await reloader.reload('poll');
    assert.equal(seen.expiring.length, 1);
    assert.ok((seen.expiring[0] ?? 0) > 9 * DAY_MS && (seen.expiring[0] ?? 0) <= 10 * DAY_MS);
  });

  test('gRPC serves the provider\'s pair (the argument-order quirk of grpc-js included), and a new one from the next connection on', async (t) => {
    const dir = tempDir(t, 'sluice-tls-');
    const first = await loadServerPair(writePair(dir, 'a', a));
    const provider = new PairCertificateProvider(first);
    const server = await GrpcServer.start('127.0.0.1', 0, [], grpcServerCredentials(provider));
    t.after(() => server.stop(0));
    assert.equal(await grpcHealth(server.port, credentials.createSsl(Buffer.from(ca.certPem))), 'SERVING');
    assert.match(await grpcHealth(server.port, credentials.createInsecure(), 2_000), /^error:/, 'plain text is refused');
    assert.equal((await servedCert(server.port, 'h2')).serialNumber, first.serialNumber);
    provider.update(await loadServerPair(writePair(dir, 'b', b)));
    assert.notEqual((await servedCert(server.port, 'h2')).serialNumber, first.serialNumber);
    assert.equal(await grpcHealth(server.port, credentials.createSsl(Buffer.from(ca.certPem))), 'SERVING');
  });

  test('the --tls auto certificate is self-signed, names its hosts, and is trusted as its own CA', async (t) => {
    const issued = await createSelfSignedServerCert({ commonName: 'sluice node n1', hosts: ['127.0.0.1', 'localhost', 'db.example'], notAfter: inDays(3650) });
    const pair = await loadServerPair(writePair(tempDir(t, 'sluice-tls-'), 'auto', issued));
    const provider = new PairCertificateProvider(pair);
    const server = await GrpcServer.start('127.0.0.1', 0, [], grpcServerCredentials(provider));
    t.after(() => server.stop(0));
    assert.equal(await grpcHealth(server.port, credentials.createSsl(Buffer.from(issued.certPem))), 'SERVING');
    const cert = await servedCert(server.port, 'h2');
    assert.equal(cert.ca, false);
    assert.equal(cert.checkHost('db.example'), 'db.example');
    assert.equal(cert.issuer, cert.subject);
    assert.equal(cert.verify(cert.publicKey), true, 'self-signed');
  });

  test('a listener beyond loopback needs a TLS choice; loopback does not', () => {
    for (const host of ['127.0.0.1', '127.8.9.10', 'localhost', '::1', '[::1]', '::ffff:127.0.0.1']) assert.equal(isLoopbackHost(host), true, host);
    for (const host of ['0.0.0.0', '::', '', '10.0.0.1', 'db.example', '128.0.0.1']) assert.equal(isLoopbackHost(host), false, host);
    requireTlsChoice(resolveConfig({}));
    requireTlsChoice(resolveConfig({ httpHost: '0.0.0.0', tlsMode: 'off' }));
    const refuses = (overrides: Parameters<typeof resolveConfig>[0], pattern: RegExp): void =>
      assert.throws(() => requireTlsChoice(resolveConfig(overrides)), (err: unknown) => isSluiceError(err, 'INVALID_ARGUMENT') && pattern.test(err.message) && /--tls-cert FILE --tls-key FILE/.test(err.message) && /--tls auto/.test(err.message) && /--tls off/.test(err.message));
    refuses({ httpHost: '0.0.0.0' }, /HTTP on 0\.0\.0\.0:8080/);
    refuses({ grpcEnabled: true, grpcHost: '::' }, /gRPC on \[::\]:7070/);
    // A single node serves no gRPC unless asked: its default gRPC address does not count.
    requireTlsChoice(resolveConfig({ grpcHost: '0.0.0.0' }));
  });
});
