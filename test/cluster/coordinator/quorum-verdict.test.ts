/**
 * The quorum rules as a table: replica sets, acks, failures, consistency,
 * partition mode → the coordinator's answer. Each row is one situation a
 * cluster meets; the expected answer is what DESIGN §3 promises.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { availability, nodesForUnroutedRead, shortOfQuorum, writeVerdict, type ShardSets } from '../../../src/cluster/coordinator/quorum-verdict.ts';
import type { Consistency } from '../../../src/cluster/coordinator/coordinator.ts';
import { SluiceError } from '../../../src/core/errors.ts';

const ABC: ShardSets = [['a', 'b', 'c']];
const TRANSITION: ShardSets = [['a', 'b', 'c'], ['a', 'b', 'd']];

interface Row {
  readonly name: string;
  readonly shards: readonly ShardSets[];
  readonly acked: readonly string[];
  readonly failed?: readonly string[];
  readonly consistency: Consistency;
  readonly degraded?: boolean;
  readonly stale?: boolean;
  readonly clockSkew?: boolean;
  readonly want: 'ok' | 'wait' | 'NO_QUORUM' | 'STALE_PLACEMENT' | 'CLOCK_SKEW';
}

const ROWS: readonly Row[] = [
  { name: 'quorum: 2 of 3 acked', shards: [ABC], acked: ['a', 'b'], consistency: 'quorum', want: 'ok' },
  { name: 'quorum: 1 of 3 acked, none failed', shards: [ABC], acked: ['a'], consistency: 'quorum', want: 'wait' },
  { name: 'quorum: 1 acked, 1 failed, 1 outstanding', shards: [ABC], acked: ['a'], failed: ['b'], consistency: 'quorum', want: 'wait' },
  { name: 'quorum: 1 acked, 2 failed', shards: [ABC], acked: ['a'], failed: ['b', 'c'], consistency: 'quorum', want: 'NO_QUORUM' },
  { name: 'one: first ack is enough', shards: [ABC], acked: ['c'], consistency: 'one', want: 'ok' },
  { name: 'one: every replica failed', shards: [ABC], acked: [], failed: ['a', 'b', 'c'], consistency: 'one', want: 'NO_QUORUM' },
  { name: 'all: 2 of 3 acked waits for the third', shards: [ABC], acked: ['a', 'b'], consistency: 'all', want: 'wait' },
  { name: 'all: one failure fails it', shards: [ABC], acked: ['a', 'b'], failed: ['c'], consistency: 'all', want: 'NO_QUORUM' },
  { name: 'two shards: the second short', shards: [ABC, [['b', 'c', 'd']]], acked: ['a', 'b'], failed: ['c', 'd'], consistency: 'quorum', want: 'NO_QUORUM' },
  { name: 'two shards: both at W', shards: [ABC, [['b', 'c', 'd']]], acked: ['a', 'b', 'c'], consistency: 'quorum', want: 'ok' },
  { name: 'transition: W in the current ring only', shards: [TRANSITION], acked: ['a', 'c'], failed: ['b', 'd'], consistency: 'quorum', want: 'NO_QUORUM' },
  { name: 'transition: W in both rings', shards: [TRANSITION], acked: ['a', 'b'], consistency: 'quorum', want: 'ok' },
  { name: 'transition: target short, still possible', shards: [TRANSITION], acked: ['a', 'c'], consistency: 'quorum', want: 'wait' },
  { name: 'stale refusal that breaks the quorum: route again', shards: [ABC], acked: ['a'], failed: ['b', 'c'], consistency: 'quorum', stale: true, want: 'STALE_PLACEMENT' },
  { name: 'stale refusal but W reached: ok', shards: [ABC], acked: ['a', 'b'], failed: ['c'], consistency: 'quorum', stale: true, want: 'ok' },
  { name: 'clock-skew refusal that breaks the quorum: said so, not NO_QUORUM', shards: [ABC], acked: ['a'], failed: ['b', 'c'], consistency: 'quorum', clockSkew: true, want: 'CLOCK_SKEW' },
  { name: 'clock-skew refusal but W reached: ok', shards: [ABC], acked: ['a', 'b'], failed: ['c'], consistency: 'quorum', clockSkew: true, want: 'ok' },
  { name: 'degraded: waits for every replica written or hinted', shards: [ABC], acked: ['a'], failed: ['b'], consistency: 'quorum', degraded: true, want: 'wait' },
  { name: 'degraded: every replica answered', shards: [ABC], acked: ['a'], failed: ['b', 'c'], consistency: 'quorum', degraded: true, want: 'ok' },
];

for (const row of ROWS) {
  test(`writeVerdict: ${row.name} → ${row.want}`, () => {
    const v = writeVerdict({
      shards: row.shards,
      acked: new Set(row.acked),
      failed: new Set(row.failed ?? []),
      consistency: row.consistency,
      degraded: row.degraded === true,
      stale: row.stale === true,
      clockSkew: row.clockSkew === true ? new SluiceError('CLOCK_SKEW', 'a version from another node is 30000 ms ahead') : undefined,
    });
    assert.equal(v instanceof SluiceError ? v.code : v, row.want);
  });
}

test('availability: refuse before writing when a replica set has fewer live replicas than W; buffer mode goes on degraded', () => {
  const live = (down: readonly string[]) => (n: string) => !down.includes(n);
  const shards = new Map<number, ShardSets>([[3, ABC], [7, [['b', 'c', 'd']]]]);
  assert.equal(availability(shards, live(['a']), 'quorum', 'refuse'), 'ok');
  const refused = availability(shards, live(['c', 'd']), 'quorum', 'refuse');
  assert.ok(refused instanceof SluiceError && refused.code === 'NO_QUORUM' && /shard 7: 1 of its 3 replicas/.test(refused.message));
  assert.equal(availability(shards, live(['c', 'd']), 'quorum', 'buffer'), 'degraded');
  assert.equal(availability(shards, live(['a']), 'all', 'buffer'), 'degraded');
  assert.equal(availability(new Map([[1, TRANSITION]]), live(['b', 'd']), 'quorum', 'refuse') instanceof SluiceError, true, 'the target ring needs W live too');
});

test('shortOfQuorum and nodesForUnroutedRead', () => {
  assert.equal(shortOfQuorum([ABC], new Set(['a', 'b']), 'quorum'), false);
  assert.equal(shortOfQuorum([ABC], new Set(['a']), 'quorum'), true);
  assert.equal(shortOfQuorum([TRANSITION], new Set(['a', 'c']), 'quorum'), true);
  // 5 nodes, RF 3: R=2 of some shard is guaranteed once 5 - 3 + 2 = 4 nodes answered.
  assert.equal(nodesForUnroutedRead(5, 3, 'quorum'), 4);
  assert.equal(nodesForUnroutedRead(5, 3, 'one'), 3);
  assert.equal(nodesForUnroutedRead(5, 3, 'all'), 5);
  assert.equal(nodesForUnroutedRead(2, 3, 'quorum'), 2, 'RF above the node count: every node');
});
