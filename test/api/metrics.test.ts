/**
 * A node's metric instruments in-process: every family passes promtool,
 * counts kept elsewhere are set as counter totals (not added up), the
 * dropped default gauges stay dropped, and the disk gauges read the data
 * directory's file system.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { Registry } from 'prom-client';
import { NodeMetrics, setCounterTotal } from '../../src/api/metrics.ts';
import { registerDiskMetrics } from '../../src/api/disk-metrics.ts';
import { DROPPED_DEFAULT_METRICS, PROCESS_METRICS_PREFIX } from '../../src/api/process-metrics.ts';
import { lintMetrics } from '../support/promtool.ts';
import { tempDir } from '../support/temp-dir.ts';

test('every family of a node, with samples in its labelled ones, passes promtool check metrics', async () => {
  const m = new NodeMetrics();
  registerDiskMetrics(m.registry, process.cwd(), 1024);
  // Samples in the families a single node leaves empty: a cluster's and a Kafka source's.
  m.peerState.set({ peer: 'n2', state: 'suspect' }, 1);
  m.hintsPending.set({ peer: 'n2' }, 3);
  m.kafkaLag.set({ topic: 't', partition: '0' }, 7);
  m.txTotal.inc({ outcome: 'committed' });
  m.txPhaseSeconds.observe({ phase: 'prepare' }, 0.002);
  m.refusals.inc({ route: '/v1/tables/:table/records', table: 't', code: 'SCHEMA_VIOLATION' });
  setCounterTotal(m.sourceRecords, { source: 'kafka:t', kind: 'kafka' }, 12);
  const text = await m.registry.metrics();
  const lint = lintMetrics(text);
  assert.equal(lint.output, '');
  assert.equal(lint.code, 0);
  for (const name of DROPPED_DEFAULT_METRICS) assert.doesNotMatch(text, new RegExp(`^# TYPE ${PROCESS_METRICS_PREFIX}${name} `, 'm'));
  assert.match(text, /^# TYPE sluice_process_cpu_seconds_total counter$/m);
  assert.match(text, /^# TYPE sluice_nodejs_active_handles gauge$/m);
});

test('setCounterTotal sets a total, labelled or not, without adding to the last one', async () => {
  const m = new NodeMetrics();
  const labels = { source: 'http', kind: 'http' };
  setCounterTotal(m.sourceRecords, labels, 5);
  setCounterTotal(m.sourceRecords, labels, 7);
  setCounterTotal(m.sourceRecords, { source: 'grpc', kind: 'grpc' }, 2);
  setCounterTotal(m.hintsDropped, {}, 4);
  setCounterTotal(m.hintsDropped, {}, 9);
  const text = await m.registry.metrics();
  assert.match(text, /^sluice_source_records_total\{source="http",kind="http"\} 7$/m);
  assert.match(text, /^sluice_source_records_total\{source="grpc",kind="grpc"\} 2$/m);
  assert.match(text, /^sluice_hints_dropped_total 9$/m);
});

test('WAL preallocation: spares ready and failed fills read from the store at each scrape; none before it is open', async () => {
  const m = new NodeMetrics();
  const before = await m.registry.metrics();
  assert.match(before, /^sluice_wal_spare_segments 0$/m);
  assert.match(before, /^sluice_wal_preallocation_failures_total 0$/m);
  let status = { ready: 1, failures: 2 };
  m.walPreallocation = () => status;
  assert.match(await m.registry.metrics(), /^sluice_wal_preallocation_failures_total 2$/m);
  status = { ready: 0, failures: 5 };
  const text = await m.registry.metrics();
  assert.match(text, /^sluice_wal_spare_segments 0$/m);
  assert.match(text, /^sluice_wal_preallocation_failures_total 5$/m, 'a total, not added to the last scrape');
  assert.equal(lintMetrics(text).output, '');
});

test('disk gauges: the data directory\'s file system, and NaN (not a 0, a full disk) when it cannot be read', async (t) => {
  const registry = new Registry();
  registerDiskMetrics(registry, tempDir(t), 256 * 1024 * 1024);
  const text = await registry.metrics();
  const free = Number(/^sluice_disk_free_bytes (\S+)$/m.exec(text)?.[1]);
  const size = Number(/^sluice_disk_size_bytes (\S+)$/m.exec(text)?.[1]);
  assert.ok(free > 0 && size >= free, text);
  assert.match(text, /^sluice_disk_free_bytes_min 268435456$/m);

  const missing = new Registry();
  registerDiskMetrics(missing, path.join(tempDir(t), 'not', 'there'), 0);
  const none = await missing.metrics();
  assert.match(none, /^sluice_disk_free_bytes nan$/im);
  assert.match(none, /^sluice_disk_size_bytes nan$/im);
  assert.equal(lintMetrics(none).output, '');
});
