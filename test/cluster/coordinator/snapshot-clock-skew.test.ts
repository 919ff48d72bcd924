/**
 * A snapshot read whose version the replicas refuse as too far ahead of
 * their clocks (decision 52: a coordinator's clock past the offset bound,
 * or an `as_of` no snapshot answered) says so under its own code,
 * CLOCK_SKEW, as a write the replicas refuse does. It was NO_QUORUM (found
 * in a review, 2026-12-07), which tells an operator that replicas are
 * down when every one of them answered.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { InProcessCluster } from '../../support/in-process-cluster.ts';
import { hlcFromParts } from '../../../src/core/hlc.ts';
import { isSluiceError } from '../../../src/core/errors.ts';

test('a snapshot the replicas refuse as ahead of their clocks is CLOCK_SKEW, by id, by range and in an export, at one and at quorum', async (t) => {
  const cluster = await InProcessCluster.start(t);
  await cluster.waitAllAlive();
  const n1 = cluster.node('n1');
  const ack = await cluster.write('n1', ['dev-1'], { consistency: 'all' });
  const id = ack.ids[0] as bigint;
  const asOf = hlcFromParts(Date.now() + 60_000, 0);
  const skew = (err: unknown): boolean => isSluiceError(err, 'CLOCK_SKEW');
  for (const consistency of ['one', 'quorum'] as const) {
    await assert.rejects(n1.coordinator.getById(cluster.entry, id, { asOf, consistency }), skew, `get at ${consistency}`);
    await assert.rejects(n1.coordinator.queryRange(cluster.entry, { key: 'dev-1', limit: 10, asOf, consistency }), skew, `range at ${consistency}`);
    await assert.rejects(
      (async () => {
        for await (const _ of n1.coordinator.scanTable(cluster.entry, { asOf, consistency })) void _;
      })(),
      skew,
      `export at ${consistency}`,
    );
  }
});
