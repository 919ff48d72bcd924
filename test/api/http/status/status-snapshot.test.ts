/**
 * The snapshot builder against a node's real metrics registry: per-table
 * totals and rates from the counters, the overload count, the fsync p99,
 * and a node still starting (no services yet) answering with what it has.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { resolveConfig } from '../../../../src/config.ts';
import { NodeMetrics } from '../../../../src/api/metrics.ts';
import type { ApiContext, NodePhase } from '../../../../src/api/http/api-context.ts';
import { SampleWindow } from '../../../../src/api/http/status/sample-window.ts';
import { buildStatusSnapshot, type StatusSources } from '../../../../src/api/http/status/status-snapshot.ts';
import { tempDir } from '../../../support/temp-dir.ts';

function context(phase: NodePhase, metrics: NodeMetrics, dataDir: string): ApiContext {
  const config = resolveConfig({ dataDir, nodeId: 'solo', shards: 8 });
  const notReady = (): never => {
    throw new Error('services() must not be called before the node is ready');
  };
  return { config, metrics, phase: () => phase, services: notReady, sources: () => [{ name: 'kafka:t', kind: 'kafka', state: 'paused', progress: { records: 5, rejected: 1, batches: 1 }, detail: { topic: 't', lag: { 0: 7, 2: 3 } } }] } as unknown as ApiContext;
}

function sources(startedAtMs: number): StatusSources {
  return { startedAtMs, version: '9.9.9', storage: () => ({ engine: 'lmdb', appliedLsn: '41', lastAckedLsn: '42', applyLagFrames: 1 }), samples: new SampleWindow(10_000, 1_000) };
}

test('totals, rates, overloads, fsync p99, Kafka lag and paused sources come from the registry and the sources', async (t) => {
  const metrics = new NodeMetrics();
  const ctx = context('starting', metrics, tempDir(t, 'sluice-snapshot-'));
  const src = sources(1_000);
  metrics.recordsWritten.inc({ table: 'payments' }, 100);
  const first = await buildStatusSnapshot(ctx, src, 2_000);
  assert.equal(first.ingest.rateWindowMs, undefined, 'no rate from one reading');
  assert.deepEqual(first.ingest.tables.map((r) => [r.table, r.written, r.writtenPerSec]), [['payments', 100, 0]]);
  metrics.recordsWritten.inc({ table: 'payments' }, 500);
  metrics.recordsRejected.inc({ table: 'payments' }, 20);
  metrics.overloaded.inc({ reason: 'admission' }, 3);
  metrics.walFsyncSeconds.observe(0.0004);
  const second = await buildStatusSnapshot(ctx, src, 12_000);
  assert.equal(second.ingest.rateWindowMs, 10_000);
  assert.deepEqual(second.ingest.tables.map((r) => [r.writtenPerSec, r.rejectedPerSec, r.rejected]), [[50, 2, 20]]);
  assert.equal(second.tiles.overloaded, 3);
  assert.equal(second.storage.fsyncP99Ms, 0.5, 'the 0.5 ms bucket');
  assert.deepEqual(second.ingest.kafkaLag.map((k) => [k.topic, k.partition, k.lag]), [['t', 0, 7], ['t', 2, 3]]);
  assert.deepEqual(second.ingest.paused, ['kafka:t']);
  assert.equal(second.header.uptimeMs, 11_000);
  assert.equal(second.header.version, '9.9.9');
  assert.equal(second.storage.appliedLsn, '41');
  assert.ok((second.storage.diskFreeBytes ?? 0) > 0, 'the data dir file system');
});

test('a node still starting answers with itself, its phase and no services', async (t) => {
  const s = await buildStatusSnapshot(context('starting', new NodeMetrics(), tempDir(t, 'sluice-snapshot-')), sources(0), 5);
  assert.equal(s.header.phase, 'starting');
  assert.equal(s.header.mode, 'single');
  assert.equal(s.header.live, false);
  assert.deepEqual(s.nodes.map((n) => [n.id, n.self, n.shards, n.ownershipPct]), [['solo', true, 8, 100]]);
  assert.equal(s.placement.shards.length, 0);
});
