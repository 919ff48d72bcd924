/**
 * The peer listener of real nodes (real etcd, real processes, grpc-js
 * clients made here): a Replica Write to a node's peer port is refused,
 * and nothing written, without a client certificate, with a client-role
 * certificate, an expired node certificate, a node certificate of a
 * foreign CA, or a valid node certificate for an id etcd does not list;
 * the same call with a registered node's certificate is applied. A peer
 * client refuses a server whose certificate names another node than the
 * one etcd lists at that address. The client gRPC port no longer serves
 * Replica. A decommissioned node's certificate stops working once it has
 * left the ring. A node certificate renewed in place is served after
 * SIGHUP, no restart, and a corrupt one keeps the last good set and is
 * counted. The CA rotation of docs/operations.md, by rolling restarts and
 * by SIGHUP alone, keeps the cluster replicating at every step and leaves
 * old certificates worthless. A
 * cluster node without certificates refuses to start unless given
 * --insecure-cluster.
 */
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { connect as tlsConnect } from 'node:tls';
import path from 'node:path';
import { test, type TestContext } from 'node:test';
import { Etcd3 } from 'etcd3';
import { Metadata, credentials, makeGenericClientConstructor, status, type ChannelCredentials, type Client, type ServiceError } from '@grpc/grpc-js';
import { GrpcTransport } from '../../src/cluster/transport/grpc-transport.ts';
import { mutualTls } from '../../src/cluster/transport/peer-tls.ts';
import { REPLICA_PROTOCOL_METADATA, encodeMessage } from '../../src/cluster/transport/replica-messages.ts';
import { replicaServiceDefinition } from '../../src/cluster/transport/replica-service.ts';
import { RecordBatchBuilder, RecordBatchReader } from '../../src/core/codec/record-batch-v1.ts';
import { encodeFields } from '../../src/core/codec/fields-codec.ts';
import { isSluiceError } from '../../src/core/errors.ts';
import { Hlc } from '../../src/core/hlc.ts';
import { systemClock } from '../../src/core/clock.ts';
import { shardOf } from '../../src/core/murmur3.ts';
import { loadNodeCerts } from '../../src/security/certs/load-cert-pair.ts';
import { createCa, createClientCert, createNodeCert, type IssuedCert } from '../../src/security/certs/issue.ts';
import { NODE_CERT, NODE_KEY } from '../../src/security/certs/certs-dir.ts';
import type { TableEntry } from '../../src/storage/catalog.ts';
import { TEST_NODE_HOSTS, createTestCa, nodeCertsDir } from '../support/cluster-certs.ts';
import { TestCluster, waitUntil } from './cluster.ts';
import { EtcdProcess, freePort } from './etcd.ts';
import { NodeProcess, http, tempDir } from './harness.ts';

const DAY_MS = 86_400_000;
const CALL_TIMEOUT_MS = 5_000;
const SHARDS = 16;
const TABLE = { name: 'marks', shardKey: 'k', replicationFactor: 3, fields: [{ name: 'k', type: 'string', required: true }] };
const RawReplica = makeGenericClientConstructor(replicaServiceDefinition, 'Replica');
type RawUnary = (request: Buffer, metadata: Metadata, options: { deadline: number }, callback: (err: ServiceError | null, reply?: Buffer) => void) => void;

/** A certificate and key, PEM. */
interface Leaf {
  readonly certPem: string;
  readonly keyPem: string;
}

/** The outcome of one raw Replica Write. */
interface Outcome {
  readonly ok: boolean;
  readonly code?: number;
  readonly details?: string;
}

/** TLS credentials trusting `caPem`, presenting `leaf` when given; the server's identity is not checked (an attacker's client would not). */
function tlsCredentials(caPem: string, leaf?: Leaf): ChannelCredentials {
  const key = leaf === undefined ? null : Buffer.from(leaf.keyPem);
  const cert = leaf === undefined ? null : Buffer.from(leaf.certPem);
  return credentials.createSsl(Buffer.from(caPem), key, cert, { checkServerIdentity: () => undefined });
}

/** One Replica Write of `batch` to `address` with `creds`, as a peer of any release would send it. */
function rawWrite(t: TestContext, address: string, creds: ChannelCredentials, batch: Buffer): Promise<Outcome> {
  // A DNS server name: Node warns about IP addresses as TLS server names.
  const client: Client = new RawReplica(address, creds, { 'grpc.ssl_target_name_override': 'localhost' });
  t.after(() => client.close());
  const metadata = new Metadata();
  metadata.set(REPLICA_PROTOCOL_METADATA, '1');
  const fn = (client as unknown as Record<string, RawUnary>)['Write'] as RawUnary;
  return new Promise((resolve) => {
    fn.call(client, encodeMessage({ batch }), metadata, { deadline: Date.now() + CALL_TIMEOUT_MS }, (err) => {
      resolve(err === null ? { ok: true } : { ok: false, code: err.code, details: err.details });
    });
  });
}

/** A stamped one-record batch of the `marks` table for key `k`, with id `id`. */
function markBatch(entry: TableEntry, k: string, id: bigint): Buffer {
  const builder = new RecordBatchBuilder(entry.id, entry.versions.length, Date.now());
  builder.add(shardOf(k, SHARDS), k, undefined, Date.now(), encodeFields([k]));
  const batch = Buffer.from(builder.finish());
  const reader = new RecordBatchReader(batch);
  while (reader.next()) {
    reader.id = id;
    reader.version = new Hlc(systemClock).now();
  }
  return batch;
}

/** The table as the cluster catalog in etcd holds it (the HTTP API does not name table ids). */
async function tableEntry(t: TestContext, cluster: TestCluster, name: string): Promise<TableEntry> {
  const etcd = new Etcd3({ hosts: cluster.etcd.clientUrl });
  t.after(() => etcd.close());
  const value = await etcd.get(`sluice/tables/${name}`).string();
  assert.ok(value !== null, `table ${name} in etcd`);
  return JSON.parse(value) as TableEntry;
}

/** The record `id` of `marks` read through node `i` from every replica; undefined when none has it. */
async function readMark(cluster: TestCluster, i: number, id: bigint): Promise<unknown> {
  const res = await http(`${cluster.url(i)}/v1/tables/marks/records/${id}?consistency=all`);
  if (res.status === 404) return undefined;
  assert.equal(res.status, 200, res.text);
  return res.body;
}

/** The node certificate and key of a certs dir. */
function nodeLeaf(dir: string): Leaf {
  return { certPem: readFileSync(path.join(dir, NODE_CERT), 'utf8'), keyPem: readFileSync(path.join(dir, NODE_KEY), 'utf8') };
}

test('the peer port refuses every caller but a registered node, applies nothing it refused, and the client port serves no Replica', { timeout: 120_000 }, async (t) => {
  const cluster = await TestCluster.start(t);
  await cluster.createTable(TABLE);
  const entry = await tableEntry(t, cluster, 'marks');
  const caPem = cluster.ca.signing.certPem;
  const inDays = (days: number): Date => new Date(Date.now() + days * DAY_MS);
  const foreignCa = await createCa({ clusterId: cluster.ca.clusterId, notAfter: inDays(30) });
  const issued: Record<string, IssuedCert> = {
    'a client-role certificate': await createClientCert(cluster.ca.signing, { name: 'n2', notAfter: inDays(30) }),
    'an expired node certificate': await createNodeCert(cluster.ca.signing, { nodeId: 'n2', hosts: TEST_NODE_HOSTS, notBefore: inDays(-10), notAfter: inDays(-1) }),
    'a node certificate of a foreign CA': await createNodeCert({ certPem: foreignCa.certPem, keyPem: foreignCa.keyPem }, { nodeId: 'n2', hosts: TEST_NODE_HOSTS, notAfter: inDays(30) }),
    'a node certificate for an id etcd does not list': await createNodeCert(cluster.ca.signing, { nodeId: 'n9', hosts: TEST_NODE_HOSTS, notAfter: inDays(30) }),
  };
  const target = cluster.peerAddress(0);
  let id = 7_000_000_000_000n;
  // No handshake completes without a certificate the CA bundle verifies (UNAVAILABLE); the caller check refuses the rest by name.
  const cases: [string, ChannelCredentials, number, RegExp][] = [
    ['no client certificate', tlsCredentials(caPem), status.UNAVAILABLE, /No connection established/],
    ['a client-role certificate', tlsCredentials(caPem, issued['a client-role certificate']), status.PERMISSION_DENIED, /a client certificate \(n2\) may not call the Replica service/],
    ['an expired node certificate', tlsCredentials(caPem, issued['an expired node certificate']), status.UNAVAILABLE, /No connection established/],
    ['a node certificate of a foreign CA', tlsCredentials(caPem, issued['a node certificate of a foreign CA']), status.UNAVAILABLE, /No connection established/],
    ['a node certificate for an id etcd does not list', tlsCredentials(caPem, issued['a node certificate for an id etcd does not list']), status.PERMISSION_DENIED, /node n9 is not registered in etcd/],
  ];
  for (const [what, creds, code, details] of cases) {
    const batchId = ++id;
    const outcome = await rawWrite(t, target, creds, markBatch(entry, `k-${batchId}`, batchId));
    assert.equal(outcome.ok, false, `${what}: refused`);
    assert.equal(outcome.code, code, `${what}: ${JSON.stringify(outcome)}`);
    assert.match(outcome.details ?? '', details, what);
    assert.equal(await readMark(cluster, 0, batchId), undefined, `${what}: nothing written`);
  }
  assert.ok(cluster.node(0).events('peer_refused').some((e) => e['nodeId'] === 'n9'), 'the refusal is logged');
  const audit = (): Record<string, unknown>[] =>
    readFileSync(path.join(cluster.dataDir(0), 'audit.log'), 'utf8')
      .split('\n')
      .filter((l) => l.endsWith('}'))
      .map((l) => JSON.parse(l) as Record<string, unknown>);
  await waitUntil(async () => audit().some((l) => l['event'] === 'access_denied' && l['principal'] === 'node n9' && l['listener'] === 'peer' && l['route'] === '/sluice.v1.Replica/Write'), 5_000, 'the refusal audited');
  assert.ok(audit().some((l) => l['event'] === 'access_denied' && l['listener'] === 'peer' && /client certificate/.test(String(l['reason']))), 'the client-role certificate too');

  // A registered node's certificate: the same call is applied.
  const goodId = ++id;
  const good = await rawWrite(t, target, tlsCredentials(caPem, nodeLeaf(cluster.certsDir(1))), markBatch(entry, 'k-good', goodId));
  assert.deepEqual(good, { ok: true });
  assert.equal(((await readMark(cluster, 0, goodId)) as { k?: string } | undefined)?.k, 'k-good', 'the record is stored');

  // The client port serves Ingest and Health, not Replica, whatever the caller.
  const onClientPort = await rawWrite(t, cluster.grpcAddress(0), credentials.createInsecure(), markBatch(entry, 'k-p', ++id));
  assert.equal(onClientPort.code, status.UNIMPLEMENTED, JSON.stringify(onClientPort));
});

test('a peer client refuses a server whose certificate names another node than the one etcd lists at the address', { timeout: 120_000 }, async (t) => {
  const cluster = await TestCluster.start(t);
  const transport = new GrpcTransport(mutualTls(await loadNodeCerts(cluster.certsDir(0))));
  t.after(() => transport.close());
  // etcd (or whoever wrote it) says n2 is at n3's peer address: n3's certificate names n3.
  transport.setAddress('n2', cluster.peerAddress(2));
  await assert.rejects(transport.call('n2', 'TxStatus', { txids: [] }, CALL_TIMEOUT_MS), (err: unknown) => {
    assert.ok(isSluiceError(err, 'NO_QUORUM'), String(err));
    assert.match(err.message, /certificate names node n3 of cluster test, but etcd lists node n2/);
    return true;
  });
  assert.equal(await transport.check('n2', CALL_TIMEOUT_MS), false, 'not even its health is believed');
  // The right id at the same address works: the certificates themselves are fine.
  transport.setAddress('n3', cluster.peerAddress(2));
  assert.deepEqual(await transport.call('n3', 'TxStatus', { txids: [] }, CALL_TIMEOUT_MS), { states: [] });
  assert.equal(await transport.check('n3', CALL_TIMEOUT_MS), true);
});

test("a decommissioned node's certificate is refused once it has left the ring", { timeout: 180_000 }, async (t) => {
  const cluster = await TestCluster.start(t);
  await cluster.createTable(TABLE);
  const entry = await tableEntry(t, cluster, 'marks');
  const n3 = tlsCredentials(cluster.ca.signing.certPem, nodeLeaf(cluster.certsDir(2)));
  assert.deepEqual(await rawWrite(t, cluster.peerAddress(0), n3, markBatch(entry, 'k-before', 8_000_000_000_001n)), { ok: true }, 'n3 is a member');
  const asked = await http(`${cluster.url(0)}/v1/cluster/nodes/n3/decommission`, { method: 'POST' });
  assert.equal(asked.status, 202, asked.text);
  await waitUntil(async () => {
    const view = await cluster.status(0);
    return view.placement.target === undefined && JSON.stringify(view.placement.nodes) === '["n1","n2"]';
  }, 60_000, 'n3 left the ring');
  // n3 still runs and is registered; its certificate no longer opens the peer port.
  const after = await rawWrite(t, cluster.peerAddress(0), n3, markBatch(entry, 'k-after', 8_000_000_000_002n));
  assert.equal(after.code, status.PERMISSION_DENIED, JSON.stringify(after));
  assert.match(after.details ?? '', /node n3 is decommissioned/);
  assert.equal(await readMark(cluster, 0, 8_000_000_000_002n), undefined);
});

/** Writes one record through node `i` at consistency=all, so every replica (over the peer ports) must take it. */
async function writeEverywhere(cluster: TestCluster, i: number, k: string): Promise<void> {
  const res = await http(`${cluster.url(i)}/v1/tables/pairs/records?consistency=all`, { method: 'POST', body: JSON.stringify({ k }), headers: { 'content-type': 'application/x-ndjson' } });
  assert.equal(res.status, 200, `${k} through node ${i}: ${res.text}`);
}

/** Restarts node `i` (after its certs dir changed) and waits until every node sees every other alive again. */
async function restart(cluster: TestCluster, i: number): Promise<void> {
  await cluster.kill(i);
  await cluster.startNode(i);
  await cluster.waitConverged();
}

/** The peer reloads node `i` has logged (`tls_reloaded` / `tls_reload_failed` with listener peer). */
function peerReloads(cluster: TestCluster, i: number): Record<string, unknown>[] {
  return cluster.node(i).logs.filter((l) => (l['event'] === 'tls_reloaded' || l['event'] === 'tls_reload_failed') && l['listener'] === 'peer');
}

/** SIGHUPs node `i` (after its certs dir changed) and waits for its peer reload to finish; returns what it logged. */
async function sighup(cluster: TestCluster, i: number): Promise<Record<string, unknown>> {
  const before = peerReloads(cluster, i).length;
  cluster.node(i).child.kill('SIGHUP');
  await waitUntil(async () => peerReloads(cluster, i).length > before, 10_000, `node ${i} reloaded its peer certificates`);
  return peerReloads(cluster, i)[before] ?? {};
}

/** The serial of the certificate a new connection to the peer port at `address` is served, presenting `leaf`. */
function peerServedSerial(address: string, leaf: Leaf): Promise<string> {
  const port = Number(address.slice(address.lastIndexOf(':') + 1));
  return new Promise((resolve, reject) => {
    const socket = tlsConnect({ host: '127.0.0.1', port, servername: 'localhost', ALPNProtocols: ['h2'], rejectUnauthorized: false, cert: leaf.certPem, key: leaf.keyPem }, () => {
      const serial = socket.getPeerX509Certificate()?.serialNumber;
      socket.destroy();
      if (serial === undefined) reject(new Error('no certificate served'));
      else resolve(serial);
    });
    socket.once('error', reject);
  });
}

/** The audit lines of node `i`. */
function auditOf(cluster: TestCluster, i: number): Record<string, unknown>[] {
  return readFileSync(path.join(cluster.dataDir(i), 'audit.log'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
}

test('a node certificate renewed in place is served after SIGHUP without a restart, and the cluster replicates; a corrupt node.crt keeps the last good set and is counted', { timeout: 120_000 }, async (t) => {
  const cluster = await TestCluster.start(t, { size: 2 });
  await cluster.createTable({ ...TABLE, name: 'pairs', replicationFactor: 2 });
  const check = async (step: string): Promise<void> => {
    for (const i of [0, 1]) await writeEverywhere(cluster, i, `${step}-${i}`);
  };
  await check('before');
  const n2 = nodeLeaf(cluster.certsDir(1));
  const oldSerial = new X509Certificate(nodeLeaf(cluster.certsDir(0)).certPem).serialNumber;
  assert.equal(await peerServedSerial(cluster.peerAddress(0), n2), oldSerial);
  const pid = cluster.node(0).pid;

  // Renewed: a new certificate and key of the same CA, written over the old ones.
  const renewed = await createNodeCert(cluster.ca.signing, { nodeId: cluster.nodeId(0), hosts: TEST_NODE_HOSTS, notAfter: new Date(Date.now() + 60 * DAY_MS) });
  const newSerial = new X509Certificate(renewed.certPem).serialNumber;
  writeFileSync(path.join(cluster.certsDir(0), NODE_KEY), renewed.keyPem, { mode: 0o600 });
  writeFileSync(path.join(cluster.certsDir(0), NODE_CERT), renewed.certPem);
  const ok = await sighup(cluster, 0);
  assert.deepEqual([ok['event'], ok['trigger'], ok['serial']], ['tls_reloaded', 'signal', newSerial]);
  assert.equal(await peerServedSerial(cluster.peerAddress(0), n2), newSerial, "a peer's new connection is served the new certificate");
  assert.ok(auditOf(cluster, 0).some((l) => l['event'] === 'tls_reloaded' && l['listener'] === 'peer' && l['result'] === 'ok' && l['serial'] === newSerial), 'audited');
  // Node 0's channels were remade: it replicates to node 1 presenting the new certificate, and node 1 to it.
  await check('renewed');
  assert.equal(cluster.node(0).pid, pid, 'no restart');

  // A corrupt node.crt: the renewed set keeps serving, and the failure is counted and audited.
  writeFileSync(path.join(cluster.certsDir(0), NODE_CERT), renewed.certPem.replace(/[A-Za-z]{8}\n/, 'xxxxxxxx\n'));
  const failed = await sighup(cluster, 0);
  assert.equal(failed['event'], 'tls_reload_failed');
  assert.equal(failed['serial'], newSerial, 'the last good set is named as serving');
  assert.equal(await peerServedSerial(cluster.peerAddress(0), n2), newSerial);
  await check('corrupt');
  const metrics = (await http(`${cluster.url(0)}/metrics`)).text;
  assert.match(metrics, /^sluice_tls_reload_total\{listener="peer",result="ok"\} 1$/m);
  assert.match(metrics, /^sluice_tls_reload_total\{listener="peer",result="error"\} 1$/m);
  const expiry = Math.floor(new X509Certificate(renewed.certPem).validToDate.getTime() / 1000);
  assert.match(metrics, new RegExp(`^sluice_tls_cert_expiry_timestamp_seconds\\{listener="peer"\\} ${expiry}$`, 'm'));
  assert.ok(auditOf(cluster, 0).some((l) => l['event'] === 'tls_reloaded' && l['listener'] === 'peer' && l['result'] === 'error' && /does not parse/.test(String(l['reason']))), 'the failure is audited');
});

for (const how of ['restart', 'SIGHUP'] as const) {
  test(`CA rotation as documented, each step applied by ${how === 'restart' ? 'a rolling restart' : 'SIGHUP (no restart)'}: append the new CA, reissue node certificates, drop the old CA; the cluster replicates at every step`, { timeout: 240_000 }, async (t) => {
    const cluster = await TestCluster.start(t, { size: 2 });
    await cluster.createTable({ ...TABLE, name: 'pairs', replicationFactor: 2 });
    const nodes = [0, 1];
    const pids = nodes.map((i) => cluster.node(i).pid);
    const apply = async (i: number): Promise<void> => {
      if (how === 'restart') await restart(cluster, i);
      else assert.equal((await sighup(cluster, i))['event'], 'tls_reloaded', `node ${i} took its new certs dir`);
    };
    const oldLeaf = nodeLeaf(cluster.certsDir(1));
    const oldCa = cluster.ca.signing.certPem;
    const newCa = await createTestCa(tempDir(t, 'sluice-ca2-'), cluster.ca.clusterId);
    const check = async (step: string): Promise<void> => {
      for (const i of nodes) await writeEverywhere(cluster, i, `${step}-${i}`);
    };
    await check('before');
    for (const i of nodes) {
      writeFileSync(path.join(cluster.certsDir(i), 'ca.crt'), `${oldCa}${newCa.signing.certPem}`);
      await apply(i);
    }
    await check('bundle');
    for (const i of nodes) {
      const issued = await createNodeCert(newCa.signing, { nodeId: cluster.nodeId(i), hosts: TEST_NODE_HOSTS, notAfter: new Date(Date.now() + 30 * DAY_MS) });
      writeFileSync(path.join(cluster.certsDir(i), NODE_KEY), issued.keyPem, { mode: 0o600 });
      writeFileSync(path.join(cluster.certsDir(i), NODE_CERT), issued.certPem);
      await apply(i);
      await check(`reissued-${i}`);
    }
    for (const i of nodes) {
      writeFileSync(path.join(cluster.certsDir(i), 'ca.crt'), newCa.signing.certPem);
      await apply(i);
    }
    await check('after');
    // The old CA is gone from every ca.crt: a certificate it issued no longer completes a handshake.
    const entry = await tableEntry(t, cluster, 'pairs');
    const stale = await rawWrite(t, cluster.peerAddress(0), tlsCredentials(newCa.signing.certPem, oldLeaf), markBatch(entry, 'k-old', 9_000_000_000_001n));
    assert.equal(stale.code, status.UNAVAILABLE, JSON.stringify(stale));
    if (how === 'SIGHUP') assert.deepEqual(nodes.map((i) => cluster.node(i).pid), pids, 'no node restarted');
  });
}

test('a cluster node without --certs-dir exits 2 naming the fixes; with --insecure-cluster it starts, loudly; a certificate of another node id is refused', { timeout: 120_000 }, async (t) => {
  const etcd = await EtcdProcess.start(t);
  const dir = tempDir(t, 'sluice-peer-');
  const base = (id: string): string[] => ['--etcd', etcd.clientUrl, '--node-id', id, '--disk-free-bytes-min', '0'];
  const grpcArgs = async (): Promise<string[]> => ['--grpc', `127.0.0.1:${await freePort()}`, '--grpc-peer', `127.0.0.1:${await freePort()}`];

  const bare = NodeProcess.spawn({ dataDir: path.join(dir, 'bare'), args: [...base('n1'), ...(await grpcArgs())] });
  t.after(async () => {
    await bare.kill('SIGKILL');
  });
  assert.equal((await bare.waitExit()).code, 2, bare.stderr);
  for (const needed of ['--certs-dir', 'sluice cert create-ca', 'sluice cert create-node', '--insecure-cluster']) assert.ok(bare.stderr.includes(needed), `names ${needed}: ${bare.stderr}`);

  const ca = await createTestCa(path.join(dir, 'certs'));
  const other = NodeProcess.spawn({ dataDir: path.join(dir, 'other'), args: [...base('n1'), ...(await grpcArgs()), '--certs-dir', await nodeCertsDir(ca, 'n2')] });
  t.after(async () => {
    await other.kill('SIGKILL');
  });
  assert.equal((await other.waitExit()).code, 2, other.stderr);
  assert.match(other.stderr, /node\.crt is for node n2, but this node is --node-id n1/);

  const insecure = await NodeProcess.start(t, { dataDir: path.join(dir, 'insecure'), args: [...base('n1'), ...(await grpcArgs()), '--insecure-cluster'] });
  assert.match(insecure.stderr, /INSECURE CLUSTER \(--insecure-cluster\)/);
  assert.equal(insecure.events('insecure_cluster').length, 1);
  assert.deepEqual(insecure.events('grpc_peer_listening').map((e) => e['tls']), [false]);
  assert.equal((await http(`${insecure.url}/readyz`)).status, 200);
});
