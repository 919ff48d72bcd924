/**
 * Atomic batches across shards (two-phase commit), in-process: three
 * nodes with real stores, the fault-injecting transport between them, and
 * decisions in memory standing in for etcd. Each case checks every node's
 * own store: all of a batch or none of it, and nothing pending at the end.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { versionOf } from '../../../src/core/codec/record-batch-v1.ts';
import { isSluiceError } from '../../../src/core/errors.ts';
import { InProcessCluster, waitUntil } from '../../support/in-process-cluster.ts';

const TX_CONFIG = { txCommitDeadlineMs: 1_000, txResolveAfterMs: 1_700, txReadWaitMs: 3_000 };

/** How many of `ids` node `id` stores (each at most once is checked too). */
async function held(cluster: InProcessCluster, id: string, ids: readonly bigint[]): Promise<number> {
  const stored = await cluster.storedIds(id);
  for (const x of ids) assert.ok((stored.get(x) ?? 0) <= 1, `node ${id} stores ${x} once at most`);
  return ids.filter((x) => stored.has(x)).length;
}

/** Records of `ids` each replica of their shard should hold: per node, the count it must hold for "all". */
function expectedPerNode(cluster: InProcessCluster, keys: readonly string[]): Map<string, number> {
  const out = new Map<string, number>();
  for (const k of keys) for (const n of cluster.placement.replicas(shardOfKey(cluster, k), 3)) out.set(n, (out.get(n) ?? 0) + 1);
  return out;
}

function shardOfKey(cluster: InProcessCluster, key: string): number {
  return cluster.batchShard(key);
}

async function allOrNone(cluster: InProcessCluster, keys: readonly string[], ids: readonly bigint[]): Promise<'all' | 'none' | 'partial'> {
  const want = expectedPerNode(cluster, keys);
  let all = true;
  let none = true;
  for (const n of cluster.nodes) {
    const h = await held(cluster, n.id, ids);
    if (h !== (want.get(n.id) ?? 0)) all = false;
    if (h !== 0) none = false;
  }
  return all ? 'all' : none ? 'none' : 'partial';
}

test('an atomic batch over four shards commits on every replica at one commit version, and its decision is concluded', async (t) => {
  const cluster = await InProcessCluster.start(t, { config: TX_CONFIG });
  await cluster.waitAllAlive();
  const keys = cluster.keysOfShards(4);
  const ack = await cluster.write('n2', keys, { atomic: true });
  assert.ok(ack.txId !== undefined && /^[0-9]+$/.test(ack.txId), 'the answer names its transaction');
  // The answer comes at W = 2 COMMITs per shard; the third replica's arrives a moment later.
  await waitUntil(async () => (await allOrNone(cluster, keys, ack.ids)) === 'all', 3_000, 'every replica holds the whole batch');
  // One commit version, the same on every replica, for every record of the batch.
  const versions = new Map<bigint, bigint>();
  for (const n of cluster.nodes) {
    for await (const page of n.store.scanTable(cluster.entry.id)) for (const rec of page) {
      const id = rec.recordKey.readBigUInt64BE(rec.recordKey.length - 8);
      const v = versionOf(rec.value);
      assert.equal(versions.get(id) ?? v, v, `record ${id} has one version on every replica`);
      versions.set(id, v);
    }
  }
  const vs = new Set(ack.ids.map((id) => versions.get(id)));
  assert.equal(vs.size, 1, 'one version for the whole batch');
  assert.ok(([...vs][0] ?? 0n) > 0n);
  await waitUntil(() => cluster.decisions.decisions.size === 0, 3_000, 'the decision is concluded');
  assert.equal(await cluster.node('n1').coordinator.txStatus(BigInt(ack.txId as string)), 'committed', 'done markers still answer');
  for (const n of cluster.nodes) assert.equal(n.store.pendingTxs().length, 0);
  // Inside one shard no two-phase commit runs: no decision is ever written.
  const commits = cluster.decisions.calls.commit;
  const one = await cluster.write('n1', [keys[0] as string, keys[0] as string], { atomic: true });
  assert.equal(one.txId, undefined);
  assert.equal(cluster.decisions.calls.commit, commits);
});

test('PREPARE short of W replicas for a shard: NO_QUORUM, nothing visible anywhere, the staged parts aborted', async (t) => {
  const cluster = await InProcessCluster.start(t, { config: TX_CONFIG });
  await cluster.waitAllAlive();
  const keys = cluster.keysOfShards(3);
  cluster.faults.add({ action: 'drop-reply', from: 'n1', methods: ['Prepare'], to: 'n2' });
  cluster.faults.add({ action: 'drop-reply', from: 'n1', methods: ['Prepare'], to: 'n3' });
  await assert.rejects(cluster.write('n1', keys, { atomic: true }), (err: unknown) => isSluiceError(err, 'NO_QUORUM'));
  assert.equal(cluster.decisions.decisions.size, 0, 'presumed abort: nothing written to etcd');
  await waitUntil(() => cluster.nodes.every((n) => n.store.pendingTxs().length === 0), 3_000, 'every staged part aborted');
  for (const n of cluster.nodes) assert.equal((await cluster.storedIds(n.id)).size, 0, `${n.id} stores nothing`);
});

test('etcd unreachable at the decision: TX_IN_DOUBT naming the batch; once etcd is back the resolvers fence and abort it', async (t) => {
  const cluster = await InProcessCluster.start(t, { config: TX_CONFIG });
  await cluster.waitAllAlive();
  const keys = cluster.keysOfShards(3);
  cluster.decisions.down = true;
  let txId = '';
  await assert.rejects(cluster.write('n1', keys, { atomic: true }), (err: unknown) => {
    txId = isSluiceError(err, 'TX_IN_DOUBT') ? (err.txId ?? '') : '';
    return txId !== '' && err instanceof Error && err.message.includes(txId);
  });
  for (const n of cluster.nodes) assert.equal((await cluster.storedIds(n.id)).size, 0, 'nothing visible while in doubt');
  assert.ok(cluster.nodes.some((n) => n.store.pendingTxs().length > 0));
  cluster.decisions.down = false;
  for (const n of cluster.nodes) n.resolver.start();
  await waitUntil(() => cluster.nodes.every((n) => n.store.pendingTxs().length === 0), 8_000, 'resolved everywhere');
  assert.equal(cluster.decisions.decisions.get(BigInt(txId))?.s, 'abort', 'an abort fence decided it');
  assert.equal(await cluster.node('n2').coordinator.txStatus(BigInt(txId)), 'aborted');
  for (const n of cluster.nodes) assert.equal((await cluster.storedIds(n.id)).size, 0, `${n.id} stores nothing`);
  // The sweeper concludes the fence once no participant holds the batch.
  cluster.node('n1').sweeper.start();
  await waitUntil(() => cluster.decisions.decisions.size === 0, 5_000, 'the fence is concluded');
});

test('a coordinator whose registration is gone cannot commit late: 409 TX_ABORTED, nothing visible', async (t) => {
  const cluster = await InProcessCluster.start(t, { config: TX_CONFIG });
  await cluster.waitAllAlive();
  const keys = cluster.keysOfShards(3);
  cluster.decisions.registrations.set('nodes/n3', 'a later registration');
  await assert.rejects(cluster.write('n3', keys, { atomic: true }), (err: unknown) => isSluiceError(err, 'TX_ABORTED') && err.status === 409);
  await waitUntil(() => cluster.nodes.every((n) => n.store.pendingTxs().length === 0), 3_000, 'the staged parts aborted');
  for (const n of cluster.nodes) assert.equal((await cluster.storedIds(n.id)).size, 0);
});

test('a participant that misses COMMIT gets the batch from its resolver and a hint, once; the sweeper then concludes', async (t) => {
  const cluster = await InProcessCluster.start(t, { config: TX_CONFIG, replayHints: true });
  await cluster.waitAllAlive();
  const keys = cluster.keysOfShards(4);
  cluster.faults.add({ action: 'drop-request', from: 'n1', to: 'n3', methods: ['Commit'] });
  const ack = await cluster.write('n1', keys, { atomic: true });
  const n3 = cluster.node('n3');
  assert.equal(n3.store.pendingTxs().length, 1, 'n3 prepared and never heard the outcome');
  assert.equal(cluster.decisions.decisions.get(BigInt(ack.txId as string))?.s, 'commit', 'not concluded while n3 holds it');
  for (const n of cluster.nodes) n.resolver.start();
  cluster.node('n1').sweeper.start();
  await waitUntil(() => n3.store.pendingTxs().length === 0, 6_000, 'n3 resolved it');
  await waitUntil(() => cluster.decisions.decisions.size === 0, 6_000, 'the sweeper concluded it');
  assert.equal(await allOrNone(cluster, keys, ack.ids), 'all');
});

test('snapshot reads: a batch prepared at or below the snapshot holds the read until it is decided; the read then sees all of it', async (t) => {
  const cluster = await InProcessCluster.start(t, { config: TX_CONFIG });
  await cluster.waitAllAlive();
  const keys = cluster.keysOfShards(3);
  const n2 = cluster.node('n2');
  // n1 never reaches anyone with COMMIT: the replicas keep the batch pending until their resolvers run.
  cluster.faults.add({ action: 'drop-request', from: 'n1', methods: ['Commit'] });
  const writing = cluster.write('n1', keys, { atomic: true });
  await waitUntil(() => n2.store.pendingTxs().length > 0, 3_000, 'n2 prepared');
  const s = n2.coordinator.snapshot();
  const key = keys.find((k) => cluster.placement.replicas(cluster.batchShard(k), 3).includes('n2')) as string;
  const before = await n2.coordinator.queryRange(cluster.entry, { key, limit: 10, asOf: (n2.store.pendingTxs()[0]?.pt ?? 1n) - 1n });
  assert.deepEqual(before.records, [], 'a snapshot below the prepare time does not wait and sees nothing');
  const started = Date.now();
  const reading = n2.coordinator.queryRange(cluster.entry, { key, limit: 10, asOf: s + 1_000_000n, consistency: 'all' });
  for (const n of cluster.nodes) n.resolver.start();
  const ack = await writing;
  const page = await reading;
  assert.ok(Date.now() - started > 200, 'the read waited for the decision');
  assert.equal(page.records.length, 1);
  assert.ok(ack.ids.includes(page.records[0]?.id as bigint));
});

test('replicas answer COMMIT before its fsync; a client told "committed" reads the whole batch at once through any coordinator at quorum, and the decision is concluded only once every COMMIT is durable', async (t) => {
  const cluster = await InProcessCluster.start(t, { config: TX_CONFIG });
  await cluster.waitAllAlive();
  const keys = cluster.keysOfShards(4);
  // n3 never hears COMMIT from n1: the answer rests on n1's and n2's early COMMITs alone.
  cluster.faults.add({ action: 'drop-request', from: 'n1', to: 'n3', methods: ['Commit'] });
  const n2 = cluster.node('n2');
  for (let round = 0; round < 15; round++) {
    const ack = await cluster.write('n1', keys, { atomic: true });
    const reader = round % 2 === 0 ? n2 : cluster.node('n3');
    let seen = 0;
    for (const key of keys) {
      const page = await reader.coordinator.queryRange(cluster.entry, { key, limit: 100 });
      seen += page.records.filter((r) => ack.ids.includes(r.id)).length;
    }
    assert.equal(seen, ack.ids.length, `round ${round}: every record of the acknowledged batch reads back`);
  }
  assert.equal(cluster.decisions.decisions.size, 15, 'not concluded while n3 still holds every batch prepared');
  cluster.faults.heal();
  const last = await cluster.write('n1', keys, { atomic: true });
  await waitUntil(() => !cluster.decisions.decisions.has(BigInt(last.txId as string)), 3_000, 'a batch every replica committed is concluded once their COMMITs are durable');
  for (const n of cluster.nodes) assert.equal((await n.store.txState(BigInt(last.txId as string))).state, 'committed', `${n.id} holds the COMMIT durably`);
});
