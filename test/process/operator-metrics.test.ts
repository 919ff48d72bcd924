/**
 * What an operator scrapes, after real traffic on a real node: `/metrics`
 * passes Prometheus's own linter (`promtool check metrics`), and every
 * metric the Grafana dashboard (ops/grafana/sluice.json) queries is on it.
 *
 * One node is enough for the dashboard: every metric, the cluster's (peer
 * state, hints, atomic batches) and the Kafka source's (lag, dead letters)
 * included, is registered when the node starts, so its `# TYPE` line is on
 * /metrics before any sample; a family counts as present from that line.
 * The traffic gives the single-node panels samples too: a real Prometheus
 * (Debian's, beside promtool) scrapes the node during the traffic, and every
 * dashboard query runs through its query API, without an error, and with
 * data for the panels a single node fills.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { NodeProcess, ROOT, TEST_TOKEN, http, tempDir } from './harness.ts';
import { lintMetrics } from '../support/promtool.ts';
import { dashboardQueries, exposedFamilies, missingMetrics, type DashboardQuery } from '../ops/promql-names.ts';
import { PrometheusProcess } from './prometheus.ts';
import { freePort } from './etcd.ts';

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

/** The panels one node fills after the traffic: each of their queries returns series in Prometheus. */
const SINGLE_NODE_PANELS = [
  'Nodes scraped up',
  'Scrape up per node',
  'Records written/s',
  'Records written/s by table',
  'Records refused by validation/s by table',
  'Refused requests/s by table and code',
  'Records/s by source',
  'Request latency p99 by route',
  'Request latency p50 by route',
  'Requests/s by route and status',
  'In-flight write bytes',
  'Open HTTP connections',
  'Auth failures/s by reason',
  'WAL fsync latency',
  'Apply lag (frames)',
  'Group commit size',
  'Applied LSN',
  'CPU',
  'Memory',
  'Disk free',
  'Disk used',
  'Event loop delay',
  'Open file descriptors',
];
const JOB = 'sluice';

let metrics = '';
let prometheus: PrometheusProcess;
let nodeAddress = '';
const dashboard = JSON.parse(readFileSync(path.join(ROOT, 'ops', 'grafana', 'sluice.json'), 'utf8')) as Parameters<typeof dashboardQueries>[0];

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

// One node and one Prometheus for the file, killed (and their directories removed) when it ends.
const cleanups: (() => Promise<void> | void)[] = [];
after(async () => {
  for (const fn of cleanups.reverse()) await fn();
});

/** Three more payments, after Prometheus saw the first five. */
async function writeMore(node: NodeProcess): Promise<void> {
  const records = Array.from({ length: 3 }, (_, k) => ({ account_id: 'acc-2', amount: `1${k}.00`, ts: T0 + 100 + k }));
  const res = await http(`${node.url}/v1/tables/payments/records`, { method: 'POST', body: JSON.stringify(records), headers: { 'content-type': 'application/json' } });
  assert.equal(res.status, 200, res.text);
}

before(async () => {
  const owner = { after: (fn: () => Promise<void> | void) => void cleanups.push(fn) };
  // Side by side: Prometheus's target discovery takes about 5 s before the first scrape anyway.
  const port = await freePort();
  nodeAddress = `127.0.0.1:${port}`;
  const [node, server] = await Promise.all([
    NodeProcess.start(owner, { dataDir: tempDir(owner), port }),
    PrometheusProcess.start(owner, { job: JOB, targets: [nodeAddress], token: TEST_TOKEN }),
  ]);
  prometheus = server;
  await traffic(node);
  // A counter's series starts at its first scrape: write more after one, so the rate is not 0.
  await prometheus.waitScrapeAfter(JOB, Date.now());
  await writeMore(node);
  metrics = await scrape(node);
  await prometheus.waitScrapeAfter(JOB, Date.now());
});

/** A dashboard query as Grafana sends it: this job, every instance, a 1 min rate window. */
function asGrafanaSends(q: DashboardQuery): string {
  return q.expr.replaceAll('$job', JOB).replaceAll('$instance', '.+').replace(/\$\{?__rate_interval\}?/g, '1m');
}

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
  assert.equal(families.get('sluice_event_loop_delay_seconds'), 'histogram');
  assert.match(metrics, /^sluice_event_loop_delay_seconds_count [1-9]\d*$/m, 'the node samples its event loop from the start');
  assert.equal(families.get('sluice_wal_spare_segments'), 'gauge');
  assert.match(metrics, /^sluice_wal_preallocation_failures_total 0$/m, 'a default node preallocates without failing');
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
  assert.deepEqual(missingMetrics(dashboardQueries(dashboard), exposedFamilies(metrics), SYNTHETIC), []);
});

test('the single-node panels have samples after the traffic', () => {
  assert.match(metrics, /^sluice_records_written_total\{table="payments"\} 8$/m);
  assert.match(metrics, /^sluice_records_written_total\{table="events"\} 1$/m);
  assert.match(metrics, /^sluice_records_rejected_total\{table="payments"\} 1$/m);
  assert.match(metrics, /^sluice_http_request_duration_seconds_count\{method="POST",route="\/v1\/tables\/:table\/records",status="200"\} 2$/m);
  assert.match(metrics, /^sluice_http_request_duration_seconds_count\{method="GET",route="\/v1\/tables\/:table\/export",status="200"\} 2$/m);
  assert.match(metrics, /^sluice_wal_fsync_duration_seconds_count [1-9]/m);
  assert.match(metrics, /^sluice_apply_lag_frames \d+$/m);
  assert.match(metrics, /^sluice_process_resident_memory_bytes [1-9]/m);
  assert.match(metrics, /^sluice_auth_failures_total\{reason="[a-z_]+"\} 1$/m);
});

test('every dashboard query runs in Prometheus scraping the node, and the single-node panels have data', async () => {
  const failed: string[] = [];
  const empty = new Set<string>();
  for (const q of dashboardQueries(dashboard).filter((x) => !x.where.startsWith('variable'))) {
    const answer = await prometheus.query(asGrafanaSends(q));
    if (answer.status !== 'success' || (answer.warnings ?? []).length > 0) failed.push(`${q.where}: ${answer.error ?? answer.warnings?.join('; ')}`);
    else if ((answer.data?.result ?? []).length === 0) empty.add(q.where);
  }
  assert.deepEqual(failed, []);
  const titles = new Set(dashboardQueries(dashboard).map((q) => q.where));
  assert.deepEqual(SINGLE_NODE_PANELS.filter((title) => !titles.has(title)), [], 'every panel listed here is on the dashboard (a renamed one would pass unchecked)');
  assert.deepEqual(SINGLE_NODE_PANELS.filter((title) => empty.has(title)), []);
  // The rate shows the traffic: 3 records into payments between two scrapes.
  const written = await prometheus.query(`sum by (table) (rate(sluice_records_written_total{job="${JOB}"}[1m]))`);
  const payments = written.data?.result.find((r) => r.metric['table'] === 'payments');
  assert.ok(payments !== undefined && Number(payments.value[1]) > 0, JSON.stringify(written));
});

test('the Job and Node variables find the scraped node', async () => {
  const answer = await prometheus.query('sluice_process_start_time_seconds');
  assert.deepEqual(answer.data?.result.map((r) => [r.metric['job'], r.metric['instance']]), [[JOB, nodeAddress]]);
});
