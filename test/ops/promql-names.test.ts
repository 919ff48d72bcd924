/**
 * The PromQL identifier scan the dashboard test relies on: it finds metric
 * names and nothing else, so a misspelled metric in a panel is reported and
 * a function, keyword, label name or label value never is.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { ROOT } from '../process/harness.ts';
import { dashboardQueries, exposedFamilies, isExposed, missingMetrics, promqlMetricNames } from './promql-names.ts';

test('a rate by table names its counter only', () => {
  assert.deepEqual(promqlMetricNames('sum by (table) (rate(sluice_records_written_total{job=~"$job", instance=~"$instance"}[$__rate_interval]))'), ['sluice_records_written_total']);
  assert.deepEqual(promqlMetricNames('sum(rate(sluice_records_written_total[5m])) by (table)'), ['sluice_records_written_total']);
});

test('histogram_quantile names the bucket series, not le or the route label', () => {
  const expr = 'histogram_quantile(0.99, sum by (le, route) (rate(sluice_http_request_duration_seconds_bucket{route="/v1/tables/:table/records"}[$__rate_interval])))';
  assert.deepEqual(promqlMetricNames(expr), ['sluice_http_request_duration_seconds_bucket']);
});

test('functions, aggregations, keywords, numbers and durations are skipped', () => {
  const expr = 'count by (state) (max by (peer, state) (sluice_peer_state{peer!="n1"}) == bool 1) and on (instance) group_left (version) up offset 5m unless vector(0) * 1e3 + time() - sluice_x @ start()';
  assert.deepEqual(promqlMetricNames(expr), ['sluice_peer_state', 'up', 'sluice_x']);
  assert.deepEqual(promqlMetricNames('min(sluice_tls_cert_expiry_timestamp_seconds) - time()'), ['sluice_tls_cert_expiry_timestamp_seconds']);
  assert.deepEqual(promqlMetricNames('a / ignoring (x) b or c without_x'), ['a', 'b', 'c', 'without_x']);
});

test('label values that look like metric names are not names', () => {
  assert.deepEqual(promqlMetricNames('sum(sluice_a{code=~"sluice_fake|other", q=\'sluice_b\'})'), ['sluice_a']);
  assert.deepEqual(promqlMetricNames('label_replace(sluice_a, "dst", "$1", "src", "(sluice_c).*")'), ['sluice_a']);
});

test('names with digits and colons (recording rules) are kept whole', () => {
  assert.deepEqual(promqlMetricNames('max(sluice_nodejs_eventloop_lag_p99_seconds) + job:sluice_rate5m:sum'), ['sluice_nodejs_eventloop_lag_p99_seconds', 'job:sluice_rate5m:sum']);
});

test('a histogram family covers its _bucket, _sum and _count; a counter does not', () => {
  const families = exposedFamilies('# HELP h x\n# TYPE h histogram\n# HELP c_total y\n# TYPE c_total counter\nc_total 1\n');
  assert.ok(isExposed('h_bucket', families) && isExposed('h_sum', families) && isExposed('h_count', families) && isExposed('h', families));
  assert.ok(isExposed('c_total', families));
  assert.ok(!isExposed('c_total_count', families) && !isExposed('c', families));
});

test('a misspelled metric in a dashboard panel is reported with its panel', () => {
  const dashboard = JSON.parse(readFileSync(path.join(ROOT, 'ops', 'grafana', 'sluice.json'), 'utf8')) as Parameters<typeof dashboardQueries>[0];
  const queries = dashboardQueries(dashboard);
  assert.ok(queries.length > 40, `${queries.length} queries`);
  const names = new Set(queries.flatMap((q) => promqlMetricNames(q.expr)));
  // Exposition listing exactly the names the dashboard uses: nothing is missing.
  const text = [...names].map((n) => `# TYPE ${n} gauge\n`).join('');
  assert.deepEqual(missingMetrics(queries, exposedFamilies(text)), []);
  // One panel misspelled.
  const typo = queries.map((q) => (q.where === 'Records written/s by table' ? { ...q, expr: q.expr.replace('sluice_records_written_total', 'sluice_records_writen_total') } : q));
  assert.deepEqual(missingMetrics(typo, exposedFamilies(text)), ['sluice_records_writen_total (Records written/s by table)']);
  // The variables' label_values selectors count; their label argument does not.
  assert.ok(queries.some((q) => q.where === 'variable instance' && promqlMetricNames(q.expr).join() === 'sluice_process_start_time_seconds'));
});
