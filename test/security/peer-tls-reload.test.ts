/**
 * The peer certificates reloaded in place: the peer listener's mutual TLS
 * through our certificate provider (a handshake completed through grpc-js's
 * certificate-provider server credentials, so an upgrade that changes how
 * it reads its arguments fails here), a new identity and CA bundle for new
 * connections after an update, peer channels remade with the new
 * credentials, and the reload source's checks (another node id, another
 * cluster, a corrupt or expired certificate keep the last good set).
 */
import { describe, test, before } from 'node:test';
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { chmodSync, mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import tls from 'node:tls';
import { credentials, type ChannelCredentials } from '@grpc/grpc-js';
import { GrpcServer } from '../../src/cluster/transport/grpc-server.ts';
import { GrpcTransport } from '../../src/cluster/transport/grpc-transport.ts';
import { mutualTls } from '../../src/cluster/transport/peer-tls.ts';
import { peerCertsSource } from '../../src/cluster/peer-security.ts';
import { CA_CERT, NODE_CERT, NODE_KEY } from '../../src/security/certs/certs-dir.ts';
import { createCa, createNodeCert, type IssuedCert, type SigningCa } from '../../src/security/certs/issue.ts';
import { loadNodeCerts, type LoadedCertPair } from '../../src/security/certs/load-cert-pair.ts';
import { CertReloader, type ReloadOutcome, type ServingCert } from '../../src/security/tls/cert-reloader.ts';
import { grpcHealth } from '../support/tls-probe.ts';
import { tempDir } from '../support/temp-dir.ts';

const DAY_MS = 86_400_000;
const inDays = (days: number): Date => new Date(Date.now() + days * DAY_MS);
const HOSTS = ['127.0.0.1', 'localhost'];

const signing = (ca: IssuedCert): SigningCa => ({ certPem: ca.certPem, keyPem: ca.keyPem });
const serialOf = (c: IssuedCert): string => new X509Certificate(c.certPem).serialNumber;

/** Writes a certs dir (ca.crt, node.crt, node.key 0600) into `dir`, over whatever is there. */
function writeCertsDir(dir: string, caPem: string, leaf: IssuedCert, certText = leaf.certPem): string {
  mkdirSync(dir, { recursive: true });
  writeFileSync(path.join(dir, CA_CERT), caPem);
  writeFileSync(path.join(dir, NODE_CERT), certText);
  writeFileSync(path.join(dir, NODE_KEY), leaf.keyPem, { mode: 0o600 });
  chmodSync(path.join(dir, NODE_KEY), 0o600);
  return dir;
}

/** Channel credentials presenting `leaf` (none when undefined) and trusting `caPem`; the server's identity is not checked. */
function clientCreds(caPem: string, leaf?: IssuedCert): ChannelCredentials {
  return credentials.createSsl(Buffer.from(caPem), leaf === undefined ? null : Buffer.from(leaf.keyPem), leaf === undefined ? null : Buffer.from(leaf.certPem), { checkServerIdentity: () => undefined });
}

/** The serial of the certificate a new connection to 127.0.0.1:`port` is served, presenting `leaf` (the peer port asks for one). */
function servedSerial(port: number, leaf: IssuedCert): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = tls.connect({ host: '127.0.0.1', port, servername: 'localhost', rejectUnauthorized: false, ALPNProtocols: ['h2'], cert: leaf.certPem, key: leaf.keyPem }, () => {
      const cert = socket.getPeerX509Certificate();
      socket.destroy();
      if (cert === undefined) reject(new Error('no certificate served'));
      else resolve(cert.serialNumber);
    });
    socket.once('error', reject);
  });
}

/** Polls `check` until it holds, up to `ms`. */
async function eventually(check: () => Promise<boolean>, ms = 10_000): Promise<boolean> {
  const until = Date.now() + ms;
  while (Date.now() < until) {
    if (await check()) return true;
    await new Promise((r) => setTimeout(r, 100));
  }
  return false;
}

describe('peer certificates reloaded in place', () => {
  let ca1: IssuedCert;
  let ca2: IssuedCert;
  /** n1 and n2 of ca1, then of ca2. */
  let n1: IssuedCert;
  let n2: IssuedCert;
  let n1b: IssuedCert;
  let n2b: IssuedCert;

  before(async () => {
    ca1 = await createCa({ clusterId: 'c1', notAfter: inDays(3650) });
    ca2 = await createCa({ clusterId: 'c1', notAfter: inDays(3650) });
    n1 = await createNodeCert(signing(ca1), { nodeId: 'n1', hosts: HOSTS, notAfter: inDays(365) });
    n2 = await createNodeCert(signing(ca1), { nodeId: 'n2', hosts: HOSTS, notAfter: inDays(365) });
    n1b = await createNodeCert(signing(ca2), { nodeId: 'n1', hosts: HOSTS, notAfter: inDays(365) });
    n2b = await createNodeCert(signing(ca2), { nodeId: 'n2', hosts: HOSTS, notAfter: inDays(365) });
  });

  test('the peer listener completes mutual TLS through the certificate provider (the grpc-js argument-order quirk included), and an update is served from the next connection on', async (t) => {
    const dir = tempDir(t, 'sluice-peer-tls-');
    const security = mutualTls(await loadNodeCerts(writeCertsDir(path.join(dir, 'n1'), ca1.certPem, n1)));
    const server = await GrpcServer.start('127.0.0.1', 0, [], security.serverCredentials());
    t.after(() => server.stop(0));
    assert.equal(await grpcHealth(server.port, clientCreds(ca1.certPem, n2)), 'SERVING', 'a node certificate of the CA completes the handshake');
    assert.match(await grpcHealth(server.port, clientCreds(ca1.certPem), 2_000), /^error:/, 'no client certificate: refused');
    assert.match(await grpcHealth(server.port, clientCreds(ca1.certPem, n2b), 2_000), /^error:/, 'a client certificate of a CA not in ca.crt: refused');
    assert.equal(await servedSerial(server.port, n2), serialOf(n1));

    // The CA rotated: ca.crt is ca2 alone, node.crt is ca2's.
    security.update(await loadNodeCerts(writeCertsDir(path.join(dir, 'n1'), ca2.certPem, n1b)));
    assert.equal(security.pair.serialNumber, serialOf(n1b));
    assert.equal(await servedSerial(server.port, n2b), serialOf(n1b), 'a new connection is served the new certificate');
    assert.equal(await grpcHealth(server.port, clientCreds(ca2.certPem, n2b)), 'SERVING', 'a client certificate of the new CA is verified');
    assert.match(await grpcHealth(server.port, clientCreds(ca1.certPem, n2), 2_000), /^error:/, 'one of the dropped CA is refused');
  });

  test('renewChannels remakes peer channels with the credentials of the new set; the old channel kept the old ones', async (t) => {
    const dir = tempDir(t, 'sluice-peer-tls-');
    const server = mutualTls(await loadNodeCerts(writeCertsDir(path.join(dir, 'n1'), `${ca1.certPem}${ca2.certPem}`, n1)));
    const grpc = await GrpcServer.start('127.0.0.1', 0, [], server.serverCredentials());
    t.after(() => grpc.stop(0));
    const client = mutualTls(await loadNodeCerts(writeCertsDir(path.join(dir, 'n2'), ca1.certPem, n2)));
    const transport = new GrpcTransport(client);
    t.after(() => transport.close());
    transport.setAddress('n1', `127.0.0.1:${grpc.port}`);
    assert.equal(await transport.check('n1', 5_000), true);

    // n2 now trusts ca2 alone, and n1 still serves ca1's certificate: only a new connection can tell.
    client.update(await loadNodeCerts(writeCertsDir(path.join(dir, 'n2'), ca2.certPem, n2b)));
    assert.equal(await transport.check('n1', 5_000), true, 'the channel made before the update still holds its connection');
    transport.renewChannels();
    assert.equal(await transport.check('n1', 2_000), false, 'the new channel verifies the server with the new CA bundle');
    server.update(await loadNodeCerts(writeCertsDir(path.join(dir, 'n1'), `${ca1.certPem}${ca2.certPem}`, n1b)));
    assert.ok(await eventually(() => transport.check('n1', 2_000)), 'and connects once the server serves a certificate of it');
  });

  test('a reload of the certs dir keeps the last good set for another node id, another cluster, a corrupt or expired certificate; a good one is served', async (t) => {
    const dir = writeCertsDir(tempDir(t, 'sluice-peer-tls-'), ca1.certPem, n1);
    const outcomes: ReloadOutcome[] = [];
    const serving: string[] = [];
    const observer = { onServing: (_l: string, p: ServingCert) => serving.push(p.serialNumber), onReload: (o: ReloadOutcome) => outcomes.push(o), onExpiring: () => undefined };
    const initial = await CertReloader.open(peerCertsSource(dir, 'n1', 'c1'));
    const reloader = new CertReloader<LoadedCertPair>(initial, observer);
    const applied: string[] = [];
    reloader.serve({ name: 'peer', apply: (p) => applied.push(p.serialNumber) });
    const otherCa = await createCa({ clusterId: 'c2', notAfter: inDays(3650) });
    const foreign = await createNodeCert(signing(otherCa), { nodeId: 'n1', hosts: HOSTS, notAfter: inDays(30) });
    const bad: [string, () => void, RegExp][] = [
      ['another node', () => writeCertsDir(dir, ca1.certPem, n2), /is for node n2, but this node is --node-id n1/],
      ['another cluster', () => writeCertsDir(dir, otherCa.certPem, foreign), /is for cluster c2, not c1/],
      ['corrupt', () => writeCertsDir(dir, ca1.certPem, n1b, n1b.certPem.replace(/[A-Za-z]{8}\n/, 'xxxxxxxx\n')), /does not parse/],
      ['not of ca.crt', () => writeCertsDir(dir, ca1.certPem, n1b), /was not issued by a CA in/],
    ];
    for (const [what, write, reason] of bad) {
      write();
      await reloader.reload('signal');
      const last = outcomes.at(-1);
      assert.equal(last?.result, 'error', what);
      assert.match(last?.error?.message ?? '', reason, what);
      assert.equal(last?.pair.serialNumber, serialOf(n1), `${what}: the last good set is kept`);
      assert.equal(reloader.pair.serialNumber, serialOf(n1));
    }
    const expired = await createNodeCert(signing(ca1), { nodeId: 'n1', hosts: HOSTS, notBefore: inDays(-30), notAfter: inDays(-1) });
    writeCertsDir(dir, ca1.certPem, expired);
    await reloader.reload('signal');
    assert.match(outcomes.at(-1)?.error?.message ?? '', /expired on/);
    assert.deepEqual(applied, [], 'no bad set reached the listener');

    // A new ca.crt alone is a change a poll sees.
    writeCertsDir(dir, `${ca1.certPem}${ca2.certPem}`, n1);
    await reloader.reload('poll');
    assert.equal(outcomes.at(-1)?.result, 'ok');
    assert.deepEqual(applied, [serialOf(n1)]);
    writeCertsDir(dir, `${ca1.certPem}${ca2.certPem}`, n1b);
    await reloader.reload('poll');
    assert.deepEqual(applied, [serialOf(n1), serialOf(n1b)]);
    assert.deepEqual(serving, [serialOf(n1), serialOf(n1), serialOf(n1b)]);
  });
});
