/**
 * TLS of the public listeners on real `sluice serve` processes: HTTPS and
 * gRPC with a certificate from files (tokens still required), refusals of
 * plain text, foreign CAs and expired certificates, hot reload (a
 * Kubernetes `..data` swap at the next poll, SIGHUP, a corrupt file that
 * keeps the good pair), `--tls auto` and its pinned fingerprint, the CLI's
 * `--ca-cert`, and the start-up refusals (no TLS choice beyond loopback, a
 * key readable by others, an expired certificate).
 */
import { describe, test, before } from 'node:test';
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { chmodSync, mkdirSync, readFileSync, renameSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { credentials, type ServiceError } from '@grpc/grpc-js';
import { createCa, createNodeCert, type IssuedCert } from '../../src/security/certs/issue.ts';
import { NodeProcess, http, runCli, sleep, tempDir } from './harness.ts';
import { ingestClient, ingestWrite } from './ingest-client.ts';
import { EtcdProcess, freePort } from './etcd.ts';
import { createTestCa, nodeCertsDir } from '../support/cluster-certs.ts';
import { grpcHealth, httpsGet, oldTlsHandshake, servedCert } from '../support/tls-probe.ts';

const DAY_MS = 86_400_000;
const HOSTS = ['127.0.0.1', 'localhost'];

/** Writes `issued` as `dir/name.crt` and `dir/name.key` (0600). */
function writePair(dir: string, name: string, issued: IssuedCert): { cert: string; key: string } {
  const files = { cert: path.join(dir, `${name}.crt`), key: path.join(dir, `${name}.key`) };
  writeFileSync(files.cert, issued.certPem);
  writeFileSync(files.key, issued.keyPem, { mode: 0o600 });
  chmodSync(files.key, 0o600);
  return files;
}

const serialOf = (c: IssuedCert): string => new X509Certificate(c.certPem).serialNumber;
const portOf = (url: string): number => Number(new URL(url).port);

/** Polls `fn` every 50 ms until it returns true (`what` fails the test after `timeoutMs`). */
async function eventually(what: string, fn: () => Promise<boolean> | boolean, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await fn())) {
    if (Date.now() > deadline) assert.fail(`not within ${timeoutMs} ms: ${what}`);
    await sleep(50);
  }
}

function auditLines(dataDir: string): Record<string, unknown>[] {
  return readFileSync(path.join(dataDir, 'audit.log'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
}

describe('TLS on the public listeners', () => {
  let ca: IssuedCert;
  let foreignCa: IssuedCert;
  const leaf = (issuer: IssuedCert, days = 365, fromDays = -1): Promise<IssuedCert> =>
    createNodeCert({ certPem: issuer.certPem, keyPem: issuer.keyPem }, { nodeId: 'n1', hosts: HOSTS, notBefore: new Date(Date.now() + fromDays * DAY_MS), notAfter: new Date(Date.now() + days * DAY_MS) });

  before(async () => {
    ca = await createCa({ clusterId: 'c1', notAfter: new Date(Date.now() + 3650 * DAY_MS) });
    foreignCa = await createCa({ clusterId: 'c1', notAfter: new Date(Date.now() + 3650 * DAY_MS) });
  });

  test('HTTPS and gRPC for clients trusting the CA, tokens still required; plain text, TLS 1.1 and a foreign CA fail', async (t) => {
    const dir = tempDir(t, 'sluice-tls-');
    const files = writePair(dir, 'server', await leaf(ca));
    const grpcPort = await freePort();
    const node = await NodeProcess.start(t, { dataDir: path.join(dir, 'data'), args: ['--tls-cert', files.cert, '--tls-key', files.key, '--grpc', `127.0.0.1:${grpcPort}`] });
    assert.match(node.url, /^https:\/\//);
    assert.equal((await httpsGet(`${node.url}/v1/tables`, ca.certPem)).status, 200);
    assert.equal((await httpsGet(`${node.url}/v1/tables`, ca.certPem, 'not-a-token')).status, 401, 'TLS is no credential');
    await assert.rejects(http(`${node.url.replace('https:', 'http:')}/v1/tables`), 'plain HTTP to the TLS port');
    assert.match((await httpsGet(`${node.url}/v1/tables`, foreignCa.certPem)).error ?? '', /UNABLE_TO_VERIFY_LEAF_SIGNATURE|UNABLE_TO_GET_ISSUER_CERT/);
    assert.equal(await oldTlsHandshake(portOf(node.url)), 'ERR_SSL_TLSV1_ALERT_PROTOCOL_VERSION', 'TLS 1.1 on HTTP: the server refuses');
    assert.equal(await oldTlsHandshake(grpcPort), 'ERR_SSL_TLSV1_ALERT_PROTOCOL_VERSION', 'TLS 1.1 on gRPC: the server refuses');

    const trusted = ingestClient(grpcPort, { credentials: credentials.createSsl(Buffer.from(ca.certPem)) });
    t.after(() => trusted.close());
    const reply = await ingestWrite(trusted, { table: 'events', records: Buffer.from(JSON.stringify([{ trace_id: 'tls-1', msg: 'over TLS' }])) });
    assert.equal(reply.written, 1);
    const anonymous = ingestClient(grpcPort, { token: null, credentials: credentials.createSsl(Buffer.from(ca.certPem)) });
    t.after(() => anonymous.close());
    const refused = await ingestWrite(anonymous, { table: 'events', records: Buffer.from('{"trace_id":"x"}') }).then(() => undefined, (err: ServiceError) => err);
    assert.equal(refused?.code, 16, 'UNAUTHENTICATED');
    assert.match(await grpcHealth(grpcPort, credentials.createInsecure(), 2_000), /^error:/, 'plain-text gRPC to the TLS port');
    assert.match(await grpcHealth(grpcPort, credentials.createSsl(Buffer.from(foreignCa.certPem)), 2_000), /^error:/, 'a foreign CA');
    const metrics = await httpsGet(`${node.url}/metrics`, ca.certPem);
    const expiry = Math.floor(new X509Certificate(readFileSync(files.cert)).validToDate.getTime() / 1000);
    assert.match(metrics.text ?? '', new RegExp(`^sluice_tls_cert_expiry_timestamp_seconds\\{listener="http"\\} ${expiry}$`, 'm'));
    assert.match(metrics.text ?? '', new RegExp(`^sluice_tls_cert_expiry_timestamp_seconds\\{listener="grpc"\\} ${expiry}$`, 'm'));
  });

  test('an expired certificate is refused at start; one expiring while served is warned about, then fails clients\' handshakes', async (t) => {
    const dir = tempDir(t, 'sluice-tls-');
    const expired = writePair(dir, 'expired', await leaf(ca, -1, -30));
    const refused = NodeProcess.spawn({ dataDir: path.join(dir, 'd1'), args: ['--tls-cert', expired.cert, '--tls-key', expired.key] });
    assert.equal((await refused.waitExit()).code, 2);
    assert.match(refused.stderr, /expired on/);

    // Long enough to outlast a slow start (the node refuses an expired pair), short enough to wait out.
    const shortLived = await leaf(ca, 8 / 86_400);
    const files = writePair(dir, 'short', shortLived);
    const grpcPort = await freePort();
    const node = await NodeProcess.start(t, { dataDir: path.join(dir, 'd2'), args: ['--tls-cert', files.cert, '--tls-key', files.key, '--grpc', `127.0.0.1:${grpcPort}`] });
    assert.equal(node.events('tls_cert_expiring').length, 1, 'warned at start: under 14 days left');
    await sleep(Math.max(0, new X509Certificate(shortLived.certPem).validToDate.getTime() - Date.now() + 1_000));
    assert.match((await httpsGet(`${node.url}/v1/tables`, ca.certPem)).error ?? '', /CERT_HAS_EXPIRED/);
    assert.match(await grpcHealth(grpcPort, credentials.createSsl(Buffer.from(ca.certPem)), 2_000), /^error:/);
  });

  test('a `..data` symlink swap is served at the next poll, on HTTP and gRPC, without a restart', async (t) => {
    const dir = tempDir(t, 'sluice-tls-');
    const [a, b] = [await leaf(ca), await leaf(ca)];
    // Kubernetes' secret volume: tls.crt -> ..data/tls.crt, ..data -> a timestamped dir, swapped by renaming a new link over it.
    for (const [v, pair] of [['v1', a], ['v2', b]] as const) {
      mkdirSync(path.join(dir, v));
      writePair(path.join(dir, v), 'tls', pair);
    }
    symlinkSync('v1', path.join(dir, '..data'));
    symlinkSync('..data/tls.crt', path.join(dir, 'tls.crt'));
    symlinkSync('..data/tls.key', path.join(dir, 'tls.key'));
    const grpcPort = await freePort();
    const dataDir = path.join(dir, 'data');
    const args = ['--tls-cert', path.join(dir, 'tls.crt'), '--tls-key', path.join(dir, 'tls.key'), '--grpc', `127.0.0.1:${grpcPort}`, '--tls-reload-interval-ms', '200'];
    const node = await NodeProcess.start(t, { dataDir, args });
    assert.equal((await servedCert(portOf(node.url))).serialNumber, serialOf(a));
    symlinkSync('v2', path.join(dir, '..data_tmp'));
    renameSync(path.join(dir, '..data_tmp'), path.join(dir, '..data'));
    await eventually('HTTP serves the new certificate', async () => (await servedCert(portOf(node.url))).serialNumber === serialOf(b));
    assert.equal((await servedCert(grpcPort, 'h2')).serialNumber, serialOf(b));
    assert.equal((await httpsGet(`${node.url}/v1/tables`, ca.certPem)).status, 200);
    assert.equal(await grpcHealth(grpcPort, credentials.createSsl(Buffer.from(ca.certPem))), 'SERVING');
    const metrics = (await httpsGet(`${node.url}/metrics`, ca.certPem)).text ?? '';
    assert.match(metrics, /^sluice_tls_reload_total\{listener="http",result="ok"\} 1$/m);
    assert.match(metrics, /^sluice_tls_reload_total\{listener="grpc",result="ok"\} 1$/m);
    const audited = auditLines(dataDir).filter((l) => l['event'] === 'tls_reloaded');
    assert.deepEqual(audited.map((l) => [l['listener'], l['result'], l['trigger'], l['serial']]), [['http', 'ok', 'poll', serialOf(b)], ['grpc', 'ok', 'poll', serialOf(b)]]);
  });

  test('SIGHUP reloads at once, without waiting for the poll', async (t) => {
    const dir = tempDir(t, 'sluice-tls-');
    const [a, b] = [await leaf(ca), await leaf(ca)];
    const files = writePair(dir, 'server', a);
    const node = await NodeProcess.start(t, { dataDir: path.join(dir, 'data'), args: ['--tls-cert', files.cert, '--tls-key', files.key, '--tls-reload-interval-ms', '86400000'] });
    writePair(dir, 'server', b);
    await sleep(300);
    assert.equal((await servedCert(portOf(node.url))).serialNumber, serialOf(a), 'no poll for a day');
    node.child.kill('SIGHUP');
    await eventually('SIGHUP reloaded', async () => (await servedCert(portOf(node.url))).serialNumber === serialOf(b), 5_000);
    assert.equal(node.events('tls_reloaded')[0]?.['trigger'], 'signal');
    assert.equal((await httpsGet(`${node.url}/v1/tables`, ca.certPem)).status, 200);
  });

  test('a corrupt new certificate keeps the old pair serving and counts an error', async (t) => {
    const dir = tempDir(t, 'sluice-tls-');
    const a = await leaf(ca);
    const files = writePair(dir, 'server', a);
    const grpcPort = await freePort();
    const dataDir = path.join(dir, 'data');
    const node = await NodeProcess.start(t, { dataDir, args: ['--tls-cert', files.cert, '--tls-key', files.key, '--grpc', `127.0.0.1:${grpcPort}`, '--tls-reload-interval-ms', '200'] });
    writeFileSync(files.cert, a.certPem.replace(/\n[A-Za-z0-9+/]{16}/, '\n!!!!corrupt!!!!!'));
    await eventually('the failed reload is counted', async () => /^sluice_tls_reload_total\{listener="grpc",result="error"\} 1$/m.test((await httpsGet(`${node.url}/metrics`, ca.certPem)).text ?? ''));
    const metrics = (await httpsGet(`${node.url}/metrics`, ca.certPem)).text ?? '';
    assert.match(metrics, /^sluice_tls_reload_total\{listener="http",result="error"\} 1$/m);
    assert.doesNotMatch(metrics, /result="ok"/);
    assert.equal((await servedCert(portOf(node.url))).serialNumber, serialOf(a));
    assert.equal((await servedCert(grpcPort, 'h2')).serialNumber, serialOf(a));
    assert.equal((await httpsGet(`${node.url}/v1/tables`, ca.certPem)).status, 200);
    assert.equal(await grpcHealth(grpcPort, credentials.createSsl(Buffer.from(ca.certPem))), 'SERVING');
    const failed = auditLines(dataDir).find((l) => l['event'] === 'tls_reloaded' && l['result'] === 'error');
    assert.match(String(failed?.['reason']), /does not parse/);
    assert.equal(failed?.['serial'], serialOf(a), 'the audit line names the pair still serving');
    assert.equal(node.events('tls_reload_failed').length, 2);
  });

  test('--tls auto: a self-signed certificate whose printed fingerprint is the served one, reused on restart; the CLI trusts it with --ca-cert', async (t) => {
    const dataDir = tempDir(t, 'sluice-tls-');
    const grpcPort = await freePort();
    const args = ['--tls', 'auto', '--grpc', `127.0.0.1:${grpcPort}`];
    const first = await NodeProcess.start(t, { dataDir, args });
    const printed = /SHA-256 fingerprint ([0-9A-F:]{95})/.exec(first.stderr)?.[1];
    assert.ok(printed !== undefined, first.stderr);
    assert.match(first.stderr, /made the self-signed certificate/);
    assert.equal((await servedCert(portOf(first.url))).fingerprint256, printed);
    assert.equal((await servedCert(grpcPort, 'h2')).fingerprint256, printed);
    assert.equal(first.events('tls')[0]?.['fingerprint'], printed, 'logged too');
    const certFile = path.join(dataDir, 'tls', 'server.crt');
    assert.equal(statSync(path.join(dataDir, 'tls', 'server.key')).mode & 0o777, 0o600);
    assert.equal(statSync(path.join(dataDir, 'tls')).mode & 0o777, 0o700);
    const pinned = readFileSync(certFile, 'utf8');
    assert.equal((await httpsGet(`${first.url}/v1/tables`, pinned)).status, 200);
    assert.equal(await grpcHealth(grpcPort, credentials.createSsl(Buffer.from(pinned))), 'SERVING');

    const url = first.url.replace('127.0.0.1', 'localhost');
    const withCa = runCli(['--ca-cert', certFile, 'table', 'list', '--url', url]);
    assert.equal(withCa.code, 0, withCa.stderr);
    assert.match(withCa.stdout, /events/);
    assert.equal(runCli(['table', 'list', '--url', url], undefined, { SLUICE_CA_CERT: certFile }).code, 0);
    const without = runCli(['table', 'list', '--url', url]);
    assert.notEqual(without.code, 0);
    assert.match(without.stderr, /self-signed certificate/);
    const badCa = runCli(['--ca-cert', path.join(dataDir, 'nope.crt'), 'table', 'list', '--url', url]);
    assert.equal(badCa.code, 2);
    assert.match(badCa.stderr, /cannot use --ca-cert/);
    await first.kill('SIGTERM');

    const second = await NodeProcess.start(t, { dataDir, args });
    assert.match(second.stderr, /reusing the self-signed certificate/);
    assert.equal((await servedCert(portOf(second.url))).fingerprint256, printed);
  });

  test('beyond loopback: no TLS choice exits 2 listing the fixes, --tls off starts; a key readable by others is refused', async (t) => {
    const dir = tempDir(t, 'sluice-tls-');
    for (const [args, where] of [[['--http', '0.0.0.0:0'], /HTTP on 0\.0\.0\.0:0/], [['--grpc', '0.0.0.0:0'], /gRPC on 0\.0\.0\.0:0/]] as const) {
      const refused = NodeProcess.spawn({ dataDir: path.join(dir, 'refused'), args });
      assert.equal((await refused.waitExit()).code, 2);
      assert.match(refused.stderr, where);
      for (const fix of [/--tls-cert FILE --tls-key FILE/, /--tls auto/, /--tls off .*proxy/]) assert.match(refused.stderr, fix);
    }
    const off = await NodeProcess.start(t, { dataDir: path.join(dir, 'off'), args: ['--http', '0.0.0.0:0', '--tls', 'off'] });
    assert.equal(off.events('tls_off').length, 1);
    assert.equal((await http(`http://127.0.0.1:${portOf(off.url)}/v1/tables`)).status, 200);
    assert.equal((await http(`http://127.0.0.1:${portOf(off.url)}/v1/tables`, { token: null })).status, 401);

    const files = writePair(dir, 'open', await leaf(ca));
    chmodSync(files.key, 0o644);
    const open = NodeProcess.spawn({ dataDir: path.join(dir, 'open'), args: ['--tls-cert', files.cert, '--tls-key', files.key] });
    assert.equal((await open.waitExit()).code, 2);
    assert.match(open.stderr, /readable by group or others .*chmod 600/);
  });
});

test('a cluster node serves its client gRPC port (Ingest, Health) with the HTTP certificate; plain text fails there', async (t) => {
  const etcd = await EtcdProcess.start(t);
  const dir = tempDir(t, 'sluice-tls-cluster-');
  const ca = await createTestCa(path.join(dir, 'ca'));
  const grpcPort = await freePort();
  const node = await NodeProcess.start(t, {
    dataDir: path.join(dir, 'n1'),
    args: ['--etcd', etcd.clientUrl, '--node-id', 'n1', '--grpc', `127.0.0.1:${grpcPort}`, '--grpc-peer', `127.0.0.1:${await freePort()}`, '--certs-dir', await nodeCertsDir(ca, 'n1'), '--tls', 'auto', '--disk-free-bytes-min', '0'],
  });
  assert.match(node.url, /^https:/);
  const served = readFileSync(path.join(dir, 'n1', 'tls', 'server.crt'));
  assert.equal(await grpcHealth(grpcPort, credentials.createSsl(served)), 'SERVING');
  assert.match(await grpcHealth(grpcPort, credentials.createInsecure(), 2_000), /^error:/, 'plain text to the TLS port');
  const client = ingestClient(grpcPort, { credentials: credentials.createSsl(served) });
  t.after(() => client.close());
  const reply = await ingestWrite(client, { table: 'events', records: Buffer.from('{"trace_id":"tls-cluster"}') });
  assert.equal(reply.written, 1);
});
