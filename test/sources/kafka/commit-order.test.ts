import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CommitOrder, type PartitionOffsets } from '../../../src/sources/kafka/commit-order.ts';

const offsets = (entries: [number, number][]): PartitionOffsets => new Map(entries.map(([p, o]) => [p, { offset: BigInt(o), leaderEpoch: 0 }]));
const plain = (m: PartitionOffsets): Record<number, number> => Object.fromEntries([...m].map(([p, o]) => [p, Number(o.offset)]));

test('offsets become committable only when every earlier batch is durable', () => {
  const order = new CommitOrder();
  const a = order.add(offsets([[0, 10], [1, 5]]));
  const b = order.add(offsets([[0, 20]]));
  const c = order.add(offsets([[1, 9], [2, 3]]));
  order.done(c);
  order.done(b);
  // a is not durable: committing b's or c's offsets could skip a after a crash.
  assert.deepEqual(plain(order.take()), {});
  assert.equal(order.inFlight, 3);
  order.done(a);
  assert.deepEqual(plain(order.take()), { 0: 20, 1: 9, 2: 3 });
  assert.equal(order.inFlight, 0);
  assert.deepEqual(plain(order.take()), {}, 'taken offsets are not handed out twice');
});

test('a failed commit is restored unless newer offsets arrived meanwhile', () => {
  const order = new CommitOrder();
  order.done(order.add(offsets([[0, 10], [1, 10]])));
  const taken = order.take();
  order.done(order.add(offsets([[0, 15]])));
  order.restore(taken);
  assert.deepEqual(plain(order.take()), { 0: 15, 1: 10 });
  assert.throws(() => order.done(99), /unknown batch/);
});

test('earlierDone resolves once every batch before it is durable, whatever the order they finish in', async () => {
  const order = new CommitOrder();
  const a = order.add(offsets([[0, 10]]));
  const b = order.add(offsets([[0, 20]]));
  const c = order.add(offsets([[0, 30]]));
  let resolved = false;
  const waiting = order.earlierDone(c).then(() => {
    resolved = true;
  });
  await order.earlierDone(a); // nothing before the first batch
  order.done(b);
  await new Promise((r) => setImmediate(r));
  assert.equal(resolved, false, 'batch a is still in flight');
  order.done(a);
  await waiting;
  assert.equal(resolved, true);
  assert.equal(order.inFlight, 1, 'c itself is not done');
});
