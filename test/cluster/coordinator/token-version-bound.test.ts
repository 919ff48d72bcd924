/**
 * The version a cluster read token carries (`@v`) is range-checked (found
 * in a review, 2026-12-07): a snapshot read passing a token takes its
 * version at or above it, so a doctored `@v` an hour ahead made the
 * snapshot an hour ahead, and the replicas refused it as CLOCK_SKEW (503,
 * blaming the cluster). It is refused as the token error,
 * INVALID_ARGUMENT "not a token returned by a write", as any other
 * doctored token is.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { InProcessCluster } from '../../support/in-process-cluster.ts';
import { hlcFromParts } from '../../../src/core/hlc.ts';
import { isSluiceError } from '../../../src/core/errors.ts';

const invalidToken = (err: unknown): boolean => isSluiceError(err, 'INVALID_ARGUMENT') && /not a token returned by a write/.test(err.message);

/** `token` with its `@v` replaced. */
function withVersion(token: string, version: string): string {
  const map = JSON.parse(Buffer.from(token.slice(1), 'base64url').toString('utf8')) as Record<string, string>;
  assert.ok(map['@v'] !== undefined, 'a cluster write token carries its version');
  return `c${Buffer.from(JSON.stringify({ ...map, '@v': version })).toString('base64url')}`;
}

test('a read token whose @v is doctored far ahead (or past 64 bits) is the token error, while the token the write gave still reads', async (t) => {
  const cluster = await InProcessCluster.start(t);
  await cluster.waitAllAlive();
  const n1 = cluster.node('n1');
  const ack = await cluster.write('n1', ['dev-1'], { consistency: 'all' });
  const asOf = n1.coordinator.snapshot(ack.token);
  const page = await n1.coordinator.queryRange(cluster.entry, { key: 'dev-1', limit: 10, asOf, token: ack.token });
  assert.deepEqual(page.records.map((r) => r.id), [...ack.ids]);
  for (const v of [String(hlcFromParts(Date.now() + 3_600_000, 0)), '99999999999999999999']) {
    const doctored = withVersion(ack.token, v);
    assert.throws(() => n1.coordinator.snapshot(doctored), invalidToken, `@v ${v}`);
  }
});

test("a cluster node's as_of ceiling admits the snapshots the other nodes answer, and not an hour ahead", async (t) => {
  const cluster = await InProcessCluster.start(t);
  await cluster.waitAllAlive();
  const [n1, n2] = [cluster.node('n1'), cluster.node('n2')];
  const asOf = n1.coordinator.snapshot();
  assert.ok(n2.coordinator.asOfMax() >= asOf, "n1's snapshot, taken --max-clock-offset-ms ahead of its clock, is within n2's ceiling");
  assert.ok(n2.coordinator.asOfMax() < hlcFromParts(Date.now() + 3_600_000, 0));
});
