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

/** A client whose first transaction after `arm()` succeeds in etcd but whose caller then stalls until `release()` (a leader paused past its lease). */
function stallingClient(client: Etcd3): { client: Etcd3; arm: () => Promise<void>; release: () => void } {
  let armed: (() => void) | undefined;
  let release: () => void = () => undefined;
  const gate = new Promise<void>((resolve) => (release = resolve));
  const wrap = (cb: object): object =>
    new Proxy(cb, {
      get(target, prop) {
        const value = Reflect.get(target, prop) as unknown;
        if (prop === 'commit') {
          return async () => {
            const res = await (value as () => Promise<unknown>).call(target);
            const stalled = armed;
            armed = undefined;
            if (stalled !== undefined) {
              stalled();
              await gate;
            }
            return res;
          };
        }
        if (prop === 'then' || prop === 'else') return (...ops: unknown[]) => ((value as (...a: unknown[]) => unknown).apply(target, ops), wrap(target));
        return typeof value === 'function' ? (value as () => unknown).bind(target) : value;
      },
    });
  const proxy = new Proxy(client, {
    get(target, prop) {
      const value = Reflect.get(target, prop) as unknown;
      if (prop === 'if') return (...args: unknown[]) => wrap((value as (...a: unknown[]) => object).apply(target, args));
      return typeof value === 'function' ? (value as () => unknown).bind(target) : value;
    },
  });
  return { client: proxy, arm: () => new Promise<void>((resolve) => (armed = resolve)), release: () => release() };
}

test('a leader paused between its switch and its cleanup does not erase the ready reports of the next leader’s transition (etcd)', async (t) => {
  const etcd = await EtcdProcess.start(t);
  const client = new Etcd3({ hosts: etcd.clientUrl, dialTimeout: 5000 });
  t.after(() => client.close());
  const keys = new EtcdKeys('p2');
  await client.put(keys.placement).value(JSON.stringify({ epoch: 1, nodes: ['a', 'b'] })).exec();
  const log = pino({ level: 'silent' });
  const common = { keys, leaseTtlMs: 2000, log, shards: SHARDS, replicationFactors: () => [2] };
  const stalling = stallingClient(client);
  const first = new PlacementService({ ...common, client: stalling.client, nodeId: 'a' });
  t.after(() => first.stop());
  first.observeMembers(['a', 'b']);
  await first.start();
  assert.ok(await eventually(() => first.isLeader, 10_000), 'a leads');
  const second = new PlacementService({ ...common, client, nodeId: 'b' });
  t.after(() => second.stop());
  second.observeMembers(['a', 'b']);
  await second.start();

  // c joins; every target node copies; a switches (epoch 3) and is paused right after, before anything else.
  first.observeMembers(['a', 'b', 'c']);
  second.observeMembers(['a', 'b', 'c']);
  assert.ok(await eventually(() => first.current.epoch === 2, 5_000), 'the join starts');
  const stalled = stalling.arm();
  for (const n of ['a', 'b', 'c']) await client.put(keys.ready(2, n)).value('1').exec();
  await stalled;
  // Its election lease runs out meanwhile: b leads, and starts d's join (epoch 4); a, b and c have copied.
  const [leaderKey] = await client.getAll().prefix(keys.electionKeys).sort('Create', 'Ascend').keys();
  assert.ok(leaderKey !== undefined);
  await client.delete().key(leaderKey).exec();
  assert.ok(await eventually(() => second.isLeader, 10_000), 'b leads');
  first.observeMembers(['a', 'b', 'c', 'd']);
  second.observeMembers(['a', 'b', 'c', 'd']);
  assert.ok(await eventually(() => second.current.epoch === 4, 5_000), 'd’s join starts');
  for (const n of ['a', 'b', 'c']) await client.put(keys.ready(4, n)).value('1').exec();
  // a resumes and finishes what it was doing; then d reports ready too.
  stalling.release();
  await new Promise((r) => setTimeout(r, 1_000));
  await client.put(keys.ready(4, 'd')).value('1').exec();
  assert.ok(await eventually(() => second.current.epoch === 5, 5_000), `the join of d finishes (ready reports left: ${JSON.stringify(await client.getAll().prefix(keys.readyAll).keys())})`);
  assert.deepEqual(second.current.nodes, ['a', 'b', 'c', 'd']);
});

test('withdrawing a decommission ends the transition that moves the node out (etcd)', async (t) => {
  const { leader } = await leaderOverThreeNodes(t, 1);
  // b died holding the only copy of its RF 1 shards: a and c can never copy them, so neither reports ready.
  leader.observeMembers(['a', 'c']);
  await leader.decommission('b', false);
  assert.ok(await eventually(() => leader.current.epoch === 2, 5_000), 'the transition starts');
  assert.deepEqual(leader.current.target, ['a', 'c']);
  // The operator withdraws the request: reads never left the current ring, so going back to it loses nothing.
  await leader.decommission('b', true);
  assert.ok(await eventually(() => leader.current.target === undefined, 5_000), `the transition goes on: ${JSON.stringify({ epoch: leader.current.epoch, target: leader.current.target })}`);
  assert.deepEqual(leader.current.nodes, ['a', 'b', 'c']);
});
