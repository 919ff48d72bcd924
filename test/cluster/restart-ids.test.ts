/**
 * Ids across a restart of a cluster node whose clock is behind the ids it
 * issued before. A coordinator stamps ids for shards it does not replicate,
 * and those ids live only on other nodes, so the highest id of the node's
 * own index is no floor; the time ceiling it keeps on disk is
 * (storage/time-ceiling.ts).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import { pino } from 'pino';
import { workerIds } from '../../src/cluster/runtime-assembly.ts';
import type { Membership } from '../../src/cluster/membership/membership.ts';
import { systemClock } from '../../src/core/clock.ts';
import { shardOf } from '../../src/core/murmur3.ts';
import { snowflakeFloorAt, snowflakeParts } from '../../src/core/snowflake.ts';
import { TimeCeiling } from '../../src/storage/time-ceiling.ts';
import { InProcessCluster } from '../support/in-process-cluster.ts';
import { stopBeforeRemoval } from '../support/temp-dir.ts';

test('a node restarted with its clock behind does not reissue an id it stamped for a shard it does not hold', async (t) => {
  const cluster = await InProcessCluster.start(t, { size: 4 });
  await cluster.waitAllAlive();
  let key = '';
  for (let i = 0; key === ''; i++) if (!cluster.placement.replicas(shardOf(`x${i}`, cluster.shards), 3).includes('n1')) key = `x${i}`;
  const ack = await cluster.write('n1', [key], { consistency: 'all' });
  const issued = ack.ids[0] as bigint;
  const held = [...(await cluster.storedIds('n2')).keys(), ...(await cluster.storedIds('n3')).keys(), ...(await cluster.storedIds('n4')).keys()];
  assert.ok(held.includes(issued), 'the record is stored on its replicas');
  assert.ok(!(await cluster.storedIds('n1')).has(issued), 'and not on its coordinator');
  const n1 = cluster.node('n1');
  const maxIdAtOpen = await (n1.store as unknown as { index: { maxId(): Promise<bigint> } }).index.maxId();
  assert.ok(maxIdAtOpen < issued, 'the index alone is no floor for it');
  await n1.store.close(); // its time ceiling is written down to what a restart needs

  // n1 starts again (its floor as LocalStore.idFloor takes it) under the worker id its cluster.json prefers,
  // and NTP has stepped its clock back to the ms of that write.
  t.mock.method(Date, 'now', () => snowflakeParts(issued).timestampMs);
  const ceiling = await TimeCeiling.open(n1.dir, systemClock, pino({ level: 'silent' }));
  // Closed (its bound written down) before the cluster's hook, registered first, removes n1's dir.
  stopBeforeRemoval(n1.dir, () => ceiling.close());
  assert.ok(ceiling.previousMs !== undefined && ceiling.previousMs >= snowflakeParts(issued).timestampMs, 'the bound written is above the id');
  const floor = snowflakeFloorAt(ceiling.previousMs);
  const membership = new EventEmitter();
  const ids = workerIds(membership as unknown as Membership, floor > maxIdAtOpen ? floor : maxIdAtOpen, {}, ceiling);
  membership.emit('registered', { workerId: snowflakeParts(issued).workerId });
  let next: bigint | undefined;
  try {
    next = ids().next();
  } catch (err) {
    // Refusing is safe too (the clock is further behind than a generator may lead): never the same id.
    assert.equal((err as { code?: string }).code, 'CLOCK_ROLLBACK');
  }
  if (next !== undefined) assert.ok(next > issued, `${next} above ${issued}, issued before the restart`);
  // A clock behind the bound by less than a generator's lead: ids go on above the bound.
  t.mock.method(Date, 'now', () => (ceiling.previousMs as number) - 500);
  membership.emit('registered', { workerId: snowflakeParts(issued).workerId });
  assert.ok(ids().next() > floor, 'issued above the bound a previous run wrote');
});

test('ids stop at the time ceiling written: none is issued past a bound the disk has not taken', () => {
  const bound = { ms: Date.now() - 10 };
  const membership = new EventEmitter();
  const ids = workerIds(membership as unknown as Membership, 0n, {}, bound);
  membership.emit('registered', { workerId: 7 });
  assert.throws(() => ids().next(), (err: unknown) => (err as { code?: string }).code === 'NOT_READY');
  bound.ms = Date.now() + 2_000;
  assert.ok(snowflakeParts(ids().next()).timestampMs <= bound.ms);
});
