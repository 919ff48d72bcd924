/**
 * The id generator a cluster node stamps with (runtime-assembly.ts
 * `workerIds`): one per registration in etcd, under the worker id that
 * registration leased, never issuing below what the node issued before.
 */
import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import { test } from 'node:test';
import { workerIds } from '../../src/cluster/runtime-assembly.ts';
import type { Membership } from '../../src/cluster/membership/membership.ts';
import { workerIdOfId } from '../../src/core/snowflake.ts';

test('a registration again while the clock is behind moves to the new worker id and issues nothing below the old ids', (t) => {
  const membership = new EventEmitter();
  const ids = workerIds(membership as unknown as Membership, 0n, {});
  membership.emit('registered', { workerId: 7 });
  const before = ids().nextBatch(3).at(-1) as bigint;
  // The lease was lost (a VM pause) and the clock stepped back 5 s meanwhile; worker 7 went to
  // another node, so this node registers again under worker 9.
  const real = Date.now();
  t.mock.method(Date, 'now', () => real - 5_000);
  assert.doesNotThrow(() => membership.emit('registered', { workerId: 9 }));
  assert.equal(ids().workerId, 9, 'ids come from the worker id this node now holds, not the one another node may hold');
  // Too far behind to bridge: refused, loudly, under the new worker id.
  assert.throws(() => ids().next(), { code: 'CLOCK_ROLLBACK' });
  t.mock.restoreAll();
  const next = ids().next();
  assert.equal(workerIdOfId(next), 9);
  assert.ok(next > before, `${next} above ${before}`);
});
