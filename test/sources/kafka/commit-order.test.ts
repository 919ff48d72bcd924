import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CommitOrder, type PartitionOffsets } from '../../../src/sources/kafka/commit-order.ts';

const offsets = (entries: [number, number][]): PartitionOffsets => new Map(entries.map(([p, o]) => [p, { offset: BigInt(o), leaderEpoch: 0 }]));
const plain = (m: PartitionOffsets): Record<number, number> => Object.fromEntries([...m].map(([p, o]) => [p, Number(o.offset)]));

test('offsets of a partition become committable only when every earlier batch is durable there', () => {
  const order = new CommitOrder();
  const a = order.add(offsets([[0, 10], [1, 5]]));
  const b = order.add(offsets([[0, 20]]));
  const c = order.add(offsets([[1, 9], [2, 3]]));
  order.done(c);
  order.done(b);
  // a is not durable: committing b's or c's offsets of partitions 0 and 1 could skip a after a crash; a has no partition 2.
  assert.deepEqual(plain(order.take()), { 2: 3 });
  assert.equal(order.inFlight, 1, 'b and c are done; a is not');
  order.done(a);
  assert.deepEqual(plain(order.take()), { 0: 20, 1: 9 });
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
  const waiting = order.earlierDone(c, 0).then(() => {
    resolved = true;
  });
  await order.earlierDone(a, 0); // nothing before the first batch
  order.done(b);
  await new Promise((r) => setImmediate(r));
  assert.equal(resolved, false, 'batch a is still in flight');
  order.done(a);
  await waiting;
  assert.equal(resolved, true);
  assert.equal(order.inFlight, 1, 'c itself is not done');
});

test('the order is per partition: a batch held back in one partition does not hold back the others, nor later batches there', async () => {
  const order = new CommitOrder();
  const a = order.add(offsets([[0, 10], [1, 10]]));
  const b = order.add(offsets([[0, 20], [1, 20]]));
  // a is durable but has dead letters in partition 1 still on their way: partition 0 goes on.
  order.done(a, [0]);
  order.done(b);
  assert.deepEqual(plain(order.take()), { 0: 20 }, 'partition 1 waits for a, partition 0 does not');
  assert.equal(order.inFlight, 1);
  let resolved = false;
  const waiting = order.earlierDone(b, 1).then(() => {
    resolved = true;
  });
  await order.earlierDone(b, 0);
  await new Promise((r) => setImmediate(r));
  assert.equal(resolved, false, 'partition 1 of batch a is not done');
  order.done(a, [1]);
  await waiting;
  assert.deepEqual(plain(order.take()), { 1: 20 });
  assert.equal(order.inFlight, 0);
  assert.throws(() => order.done(b, [1]), /unknown batch/, 'a batch done everywhere is forgotten');
});

test('a partition a batch does not carry is never held back by it', async () => {
  const order = new CommitOrder();
  const a = order.add(offsets([[0, 10]]));
  const b = order.add(offsets([[1, 5]]));
  await order.earlierDone(b, 1);
  order.done(b);
  assert.deepEqual(plain(order.take()), { 1: 5 });
  order.done(a);
  assert.deepEqual(plain(order.take()), { 0: 10 });
});
