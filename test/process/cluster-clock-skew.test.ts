/**
 * A peer whose clock runs 30 s fast, in a real 3-node cluster (decision
 * 0052): the other nodes refuse its versions with CLOCK_SKEW instead of
 * letting them drag their HLCs 30 s ahead (which would make their versions
 * beat later writes of correct clocks for 30 s), the write through it
 * answers CLOCK_SKEW, and the refusal is counted in the clock metric.
 * The fast clock is a preload that shifts `Date.now` in that process only.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { TestCluster } from './cluster.ts';
import { http } from './harness.ts';
import { decodeClusterToken, tokenVersion } from '../../src/cluster/coordinator/read-token.ts';
import { hlcParts } from '../../src/core/hlc.ts';

const SKEW_MS = 30_000;
const FAST_CLOCK = `const now = Date.now; Date.now = () => now() + ${SKEW_MS};`;

const ACCOUNTS = {
  name: 'accounts',
  shardKey: 'account',
  primaryKey: 'account',
  replicationFactor: 3,
  fields: [
    { name: 'account', type: 'string', required: true },
    { name: 'balance', type: 'int', required: true },
  ],
};

/** Writes one account through node `i`. */
function write(cluster: TestCluster, i: number, account: string, balance: number) {
  return http(`${cluster.url(i)}/v1/tables/accounts/records`, { method: 'POST', body: JSON.stringify({ account, balance }), headers: { 'content-type': 'application/x-ndjson' } });
}

test('cluster: versions from a peer whose clock runs 30 s fast are refused with CLOCK_SKEW and do not drag the other nodes\' clocks', { timeout: 120_000 }, async (t) => {
  const cluster = await TestCluster.start(t);
  await cluster.createTable(ACCOUNTS);
  await cluster.kill(2);
  await cluster.startNode(2, undefined, { NODE_OPTIONS: `--import=data:text/javascript,${encodeURIComponent(FAST_CLOCK)}` });
  await cluster.waitConverged();

  const skewed = await write(cluster, 2, 'a1', 1);
  assert.equal(skewed.status, 503, skewed.text);
  assert.equal(skewed.body?.error?.code, 'CLOCK_SKEW', skewed.text);

  // A write through a correct clock stamps a version near its own clock, not 30 s ahead.
  const before = Date.now();
  const ok = await write(cluster, 0, 'a2', 2);
  assert.equal(ok.status, 200, ok.text);
  const stamped = hlcParts(tokenVersion(decodeClusterToken(ok.body.token as string))).physicalMs;
  assert.ok(stamped - before < SKEW_MS / 2, `node 0 stamped ${stamped - before} ms ahead of the test's clock`);

  const metrics = await http(`${cluster.url(0)}/metrics`);
  assert.match(metrics.text, /sluice_clock_events_total\{kind="remote_ahead"\} [1-9]/, 'node 0 counted the refusal');
});
