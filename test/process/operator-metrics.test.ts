/**
 * What an operator scrapes, after real traffic on a real node: `/metrics`
 * passes Prometheus's own linter (`promtool check metrics`), and every
 * metric the Grafana dashboard (ops/grafana/sluice.json) queries is on it.
 *
 * One node is enough for the dashboard: every metric, the cluster's (peer
 * state, hints, atomic batches) and the Kafka source's (lag, dead letters)
 * included, is registered when the node starts, so its `# TYPE` line is on
 * /metrics before any sample; a family counts as present from that line.
 * The traffic gives the single-node panels samples too, and the test checks
 * a few of them, so the dashboard would show data, not just parse.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { NodeProcess, ROOT, http, tempDir } from './harness.ts';
import { lintMetrics } from '../support/promtool.ts';
import { dashboardQueries, exposedFamilies, missingMetrics } from '../ops/promql-names.ts';

const PAYMENTS = {
  name: 'payments',
  shardKey: 'account_id',
  timeField: 'ts',
  fields: [
    { name: 'account_id', type: 'string', required: true },
    { name: 'amount', type: 'decimal', required: true },
    { name: 'ts', type: 'timestamp', required: true },
  ],
};
const T0 = Date.UTC(2026, 11, 1);
/** Names Prometheus makes per scrape target, never on a node's /metrics. */
const SYNTHETIC = new Set(['up']);

let metrics = '';

/** One scrape of the node's /metrics (the route needs an ops token; the test token is admin). */
async function scrape(node: NodeProcess): Promise<string> {
  const res = await http(`${node.url}/metrics`);
  assert.equal(res.status, 200, res.text);
  assert.match(res.headers.get('content-type') ?? '', /^text\/plain; version=0\.0\.4/);
  return res.text;
}

/** Writes, reads, a refused write, a write to no table, exports, /ingest: what the node's panels show. */
async function traffic(node: NodeProcess): Promise<void> {
  const u = node.url;
  assert.equal((await http(`${u}/v1/tables`, { method: 'POST', body: JSON.stringify(PAYMENTS), headers: { 'content-type': 'application/json' } })).status, 201);
  const records = Array.from({ length: 5 }, (_, k) => ({ account_id: `acc-${k % 2}`, amount: `${k}.50`, ts: T0 + k }));
  const written = await http(`${u}/v1/tables/payments/records`, { method: 'POST', body: JSON.stringify(records), headers: { 'content-type': 'application/json' } });
  assert.equal(written.status, 200, written.text);
  const one = await http(`${u}/v1/tables/payments/records/${String(written.body.ids[0])}`);
  assert.equal(one.body.amount, '0.50');
  const byKey = await http(`${u}/v1/tables/payments/records?key=acc-1`);
  assert.deepEqual(byKey.body.records.map((r: { amount: string }) => r.amount), ['1.50', '3.50']);
  const refused = await http(`${u}/v1/tables/payments/records`, { method: 'POST', body: '{"account_id":"a","amount":"lots"}', headers: { 'content-type': 'application/json' } });
  assert.equal(refused.status, 400);
  assert.equal(refused.body.error.code, 'SCHEMA_VIOLATION');
  assert.equal((await http(`${u}/v1/tables/nope/records`, { method: 'POST', body: '{}', headers: { 'content-type': 'application/json' } })).status, 404);
  assert.equal((await http(`${u}/ingest`, { method: 'POST', body: '{"trace_id":"t-1","msg":"hi"}' })).status, 200);
  const ndjson = await http(`${u}/v1/tables/payments/export?format=ndjson`);
  assert.equal(ndjson.text.trim().split('\n').length, 5, 'the export holds what was written, nothing of the refused write');
  assert.equal((await http(`${u}/v1/tables/payments/export?format=parquet`)).status, 200);
  assert.equal((await http(`${u}/metrics`, { token: null })).status, 401, '/metrics needs a token on the main listener');
}

before(async () => {
  // One node for the file; killed and its directory removed when the file ends.
  const owner = { after: (fn: () => Promise<void> | void) => after(fn) };
  const node = await NodeProcess.start(owner, { dataDir: tempDir(owner) });
  await traffic(node);
  metrics = await scrape(node);
});

test('promtool check metrics finds no problem in /metrics after traffic', () => {
  const lint = lintMetrics(metrics);
  assert.equal(lint.output, '', lint.output);
  assert.equal(lint.code, 0);
});

test('promtool does report a gauge named like a counter (the check can fail)', () => {
  const lint = lintMetrics('# HELP x_active_total Active things.\n# TYPE x_active_total gauge\nx_active_total 1\n');
  assert.notEqual(lint.code, 0);
  assert.match(lint.output, /x_active_total non-counter metrics should not have "_total" suffix/);
});

test('the renamed and new metrics are there: process, runtime, disk, refusals, counters of sources', () => {
  const families = exposedFamilies(metrics);
  assert.equal(families.get('sluice_process_cpu_seconds_total'), 'counter');
  assert.equal(families.get('sluice_nodejs_eventloop_lag_p99_seconds'), 'gauge');
  assert.equal(families.get('sluice_source_records_total'), 'counter');
  assert.equal(families.get('sluice_hints_dropped_total'), 'counter');
  for (const gone of ['sluice_process_process_cpu_seconds_total', 'sluice_nodejs_active_handles_total', 'sluice_source_records', 'sluice_hints_dropped']) {
    assert.ok(!families.has(gone), gone);
  }
  assert.ok(families.has('sluice_nodejs_active_handles'), 'the per-type gauge stays; sum() gives the total');
  assert.match(metrics, /^sluice_http_refusals_total\{route="\/v1\/tables\/:table\/records",table="payments",code="SCHEMA_VIOLATION"\} 1$/m);
  assert.match(metrics, /^sluice_http_refusals_total\{route="\/v1\/tables\/:table\/records",table="",code="TABLE_NOT_FOUND"\} 1$/m, 'an unknown table is not a label');
  assert.match(metrics, /^sluice_disk_free_bytes [1-9]/m);
  assert.match(metrics, /^sluice_disk_size_bytes [1-9]/m);
});

test('every metric the Grafana dashboard queries is on the node\'s /metrics', () => {
  const dashboard = JSON.parse(readFileSync(path.join(ROOT, 'ops', 'grafana', 'sluice.json'), 'utf8')) as Parameters<typeof dashboardQueries>[0];
  assert.deepEqual(missingMetrics(dashboardQueries(dashboard), exposedFamilies(metrics), SYNTHETIC), []);
});

test('the single-node panels have samples after the traffic', () => {
  assert.match(metrics, /^sluice_records_written_total\{table="payments"\} 5$/m);
  assert.match(metrics, /^sluice_records_written_total\{table="events"\} 1$/m);
  assert.match(metrics, /^sluice_records_rejected_total\{table="payments"\} 1$/m);
  assert.match(metrics, /^sluice_http_request_duration_seconds_count\{method="POST",route="\/v1\/tables\/:table\/records",status="200"\} 1$/m);
  assert.match(metrics, /^sluice_http_request_duration_seconds_count\{method="GET",route="\/v1\/tables\/:table\/export",status="200"\} 2$/m);
  assert.match(metrics, /^sluice_wal_fsync_duration_seconds_count [1-9]/m);
  assert.match(metrics, /^sluice_apply_lag_frames \d+$/m);
  assert.match(metrics, /^sluice_process_resident_memory_bytes [1-9]/m);
  assert.match(metrics, /^sluice_auth_failures_total\{reason="[a-z_]+"\} 1$/m);
});
