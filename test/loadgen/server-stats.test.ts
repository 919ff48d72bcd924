/**
 * The bench reads the node's figures by metric name: every name it reads is
 * one a node exposes, so a rename on the node cannot leave the bench's
 * report quietly empty.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { NodeMetrics } from '../../src/api/metrics.ts';
import { serverSample, sumMetrics } from '../../src/loadgen/server-stats.ts';

test('serverSample finds every figure in a node\'s /metrics', async () => {
  const node = new NodeMetrics();
  node.recordsWritten.inc({ table: 't' }, 3);
  node.overloaded.inc({ reason: 'admission' });
  const sample = serverSample(sumMetrics(await node.registry.metrics()));
  for (const [figure, value] of Object.entries(sample)) assert.equal(typeof value, 'number', `${figure} is read from the node`);
  assert.equal(sample.recordsWritten, 3);
  assert.equal(sample.overloaded, 1);
  assert.ok((sample.rssBytes ?? 0) > 0 && (sample.cpuSeconds ?? 0) > 0);
});
