/**
 * The placement leader against a real etcd: when a transition may switch
 * reads to its target ring.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Etcd3 } from 'etcd3';
import { pino } from 'pino';
import { EtcdProcess } from '../../process/etcd.ts';
import { EtcdKeys } from '../../../src/cluster/metadata/etcd-keys.ts';
import { Placement } from '../../../src/cluster/placement/placement.ts';
import { PlacementService, type PlacementOptions } from '../../../src/cluster/placement/placement-service.ts';

const SHARDS = 16;

/** Polls `check` until it is true or `ms` pass; returns whether it became true. */
async function eventually(check: () => boolean, ms: number): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (check()) return true;
    await new Promise((r) => setTimeout(r, 50));
  }
  return check();
}

/** A placement leader for node `a` over a ring [a, b, c] in etcd, with tables of replication factor `rf`. */
async function leaderOverThreeNodes(t: { after: (fn: () => Promise<void> | void) => void }, rf: number): Promise<{ client: Etcd3; keys: EtcdKeys; leader: PlacementService }> {
  const etcd = await EtcdProcess.start(t);
  const client = new Etcd3({ hosts: etcd.clientUrl, dialTimeout: 5000 });
  t.after(() => client.close());
  const keys = new EtcdKeys('p1');
  await client.put(keys.placement).value(JSON.stringify({ epoch: 1, nodes: ['a', 'b', 'c'] })).exec();
  const options: PlacementOptions = { client, keys, nodeId: 'a', leaseTtlMs: 2000, log: pino({ level: 'silent' }), shards: SHARDS, replicationFactors: () => [rf] };
  const leader = new PlacementService(options);
  t.after(() => leader.stop());
  await leader.start();
  assert.ok(await eventually(() => leader.isLeader, 10_000), 'elected');
  return { client, keys, leader };
}

test('decommissioning the only holder of an RF 1 shard waits for the dead node that gains it to copy it (etcd)', async (t) => {
  const { client, keys, leader } = await leaderOverThreeNodes(t, 1);
  // c crashed (its lease is gone) and stays in the ring, as dead nodes do; the operator decommissions b, which is alive.
  leader.observeMembers(['a', 'b']);
  await leader.decommission('b', false);
  assert.ok(await eventually(() => leader.current.epoch === 2, 5_000), 'the transition starts');
  assert.deepEqual(leader.current.target, ['a', 'c']);
  const movedToC = Array.from({ length: SHARDS }, (_, s) => s).filter((s) => leader.current.replicas(s, 1)[0] === 'b' && leader.current.targetReplicas(s, 1)?.[0] === 'c');
  assert.ok(movedToC.length > 0, 'some of b’s shards go to c, whose only copy is on b');
  await client.put(keys.ready(2, 'a')).value('1').exec();
  // Switching now would leave those shards with no copy in the ring: c never copied them, and b leaves.
  assert.equal(await eventually(() => leader.current.epoch !== 2, 2_500), false, `switched to ${JSON.stringify(leader.current.nodes)} while shards ${movedToC.join(', ')} are only on b`);
  // c comes back, copies, and reports ready: now the switch happens.
  leader.observeMembers(['a', 'b', 'c']);
  await client.put(keys.ready(2, 'c')).value('1').exec();
  assert.ok(await eventually(() => leader.current.epoch === 3, 5_000), 'switched once c has copied');
  assert.deepEqual(leader.current.nodes, ['a', 'c']);
});

test('a dead target node that gains only shards its ring still holds does not hold a decommission up (etcd)', async (t) => {
  const { client, keys, leader } = await leaderOverThreeNodes(t, 2);
  leader.observeMembers(['a', 'b']);
  await leader.decommission('b', false);
  assert.ok(await eventually(() => leader.current.epoch === 2, 5_000), 'the transition starts');
  // RF 2 on [a, c]: every shard keeps its other old replica (a or c), which repair later copies from.
  const before = new Placement({ epoch: 1, nodes: ['a', 'b', 'c'] });
  for (let s = 0; s < SHARDS; s++) assert.ok(before.replicas(s, 2).some((n) => n !== 'b'));
  await client.put(keys.ready(2, 'a')).value('1').exec();
  assert.ok(await eventually(() => leader.current.epoch === 3, 5_000), 'switched without the dead node');
  assert.deepEqual(leader.current.nodes, ['a', 'c']);
});
