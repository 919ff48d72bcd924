/**
 * ops/grafana/sluice.json is a dashboard Grafana 10+ imports: a Prometheus
 * `${datasource}` variable every panel and query uses, rows, unique ids,
 * panels inside the 24-column grid, every query valid PromQL (promtool
 * parses them as recording rules, Grafana's variables replaced), and the
 * panels an engineer on call needs. That each metric exists on a live node
 * is test/process/operator-metrics.test.ts.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { ROOT, tempDir } from '../process/harness.ts';
import { promtool } from '../support/promtool.ts';
import { dashboardQueries, promqlMetricNames } from './promql-names.ts';

interface Target {
  readonly expr?: string;
  readonly datasource?: { readonly type?: string; readonly uid?: string };
}
interface Panel {
  readonly id: number;
  readonly type: string;
  readonly title: string;
  readonly gridPos: { readonly x: number; readonly y: number; readonly w: number; readonly h: number };
  readonly datasource?: { readonly type?: string; readonly uid?: string };
  readonly targets?: readonly Target[];
  readonly panels?: readonly Panel[];
}
interface Dashboard {
  readonly schemaVersion: number;
  readonly uid: string;
  readonly title: string;
  readonly panels: readonly Panel[];
  readonly templating: { readonly list: readonly Record<string, unknown>[] };
}

const dashboard = JSON.parse(readFileSync(path.join(ROOT, 'ops', 'grafana', 'sluice.json'), 'utf8')) as Dashboard;
const allPanels = dashboard.panels.flatMap((p) => [p, ...(p.panels ?? [])]);
const graphs = allPanels.filter((p) => p.type !== 'row');

/** Grafana's built-in interval variables become a duration promtool accepts; `$job` stays inside its string. */
function asPromql(expr: string): string {
  return expr.replace(/\$\{?__(rate_interval|interval|range)\}?/g, '5m');
}

test('Grafana 10+ can import it: schema, uid, a Prometheus datasource variable', () => {
  assert.ok(dashboard.schemaVersion >= 36 && dashboard.schemaVersion <= 39, `schemaVersion ${dashboard.schemaVersion}`);
  assert.match(dashboard.uid, /^[a-zA-Z0-9_-]{1,40}$/);
  const ds = dashboard.templating.list.find((v) => v['name'] === 'datasource');
  assert.equal(ds?.['type'], 'datasource');
  assert.equal(ds?.['query'], 'prometheus');
  for (const v of dashboard.templating.list.filter((x) => x['type'] === 'query')) {
    assert.deepEqual(v['datasource'], { type: 'prometheus', uid: '${datasource}' }, `variable ${String(v['name'])}`);
  }
});

test('every panel and query reads the ${datasource} variable, ids are unique, the grid holds', () => {
  const ids = allPanels.map((p) => p.id);
  assert.equal(new Set(ids).size, ids.length, 'panel ids are unique');
  for (const p of graphs) {
    assert.deepEqual(p.datasource, { type: 'prometheus', uid: '${datasource}' }, p.title);
    assert.ok((p.targets ?? []).length > 0, `${p.title} has queries`);
    for (const t of p.targets ?? []) assert.deepEqual(t.datasource, { type: 'prometheus', uid: '${datasource}' }, p.title);
    assert.ok(p.gridPos.x >= 0 && p.gridPos.w > 0 && p.gridPos.x + p.gridPos.w <= 24, `${p.title} fits the 24 columns`);
  }
});

test('panels sit in rows, none overlapping', () => {
  const rows = dashboard.panels.filter((p) => p.type === 'row');
  assert.ok(rows.length >= 8, `${rows.length} rows`);
  assert.equal(dashboard.panels[0]?.type, 'row', 'the first panel is a row');
  const cells = new Set<string>();
  for (const p of allPanels) {
    for (let y = p.gridPos.y; y < p.gridPos.y + p.gridPos.h; y++) {
      for (let x = p.gridPos.x; x < p.gridPos.x + p.gridPos.w; x++) {
        const cell = `${x},${y}`;
        assert.ok(!cells.has(cell), `${p.title} overlaps another panel at ${cell}`);
        cells.add(cell);
      }
    }
  }
});

test('every selector is scoped to the $job and $instance variables', () => {
  for (const q of dashboardQueries(dashboard).filter((x) => !x.where.startsWith('variable'))) {
    const selectors = q.expr.match(/\{[^{}]*\}/g) ?? [];
    assert.ok(selectors.length > 0, `${q.where}: ${q.expr}`);
    for (const s of selectors) assert.ok(s.includes('job=~"$job"') && s.includes('instance=~"$instance"'), `${q.where}: ${s}`);
  }
});

test('every query is valid PromQL (promtool check rules)', (t) => {
  const queries = dashboardQueries(dashboard);
  const rules = queries.map((q, i) => ({ record: `sluice_dashboard:query_${i}`, expr: asPromql(q.expr) }));
  const file = path.join(tempDir(t), 'dashboard-rules.yml');
  // JSON is YAML: promtool reads it as a rule file.
  writeFileSync(file, JSON.stringify({ groups: [{ name: 'sluice-dashboard', rules }] }));
  const res = promtool(['check', 'rules', file]);
  assert.equal(res.code, 0, res.output);
  assert.match(res.output, new RegExp(`SUCCESS: ${rules.length} rules found`));
  // And promtool does refuse a broken one, so the check above means something.
  writeFileSync(file, JSON.stringify({ groups: [{ name: 'x', rules: [{ record: 'x:y', expr: 'sum by (table (rate(a[5m]))' }] }] }));
  assert.notEqual(promtool(['check', 'rules', file]).code, 0);
});

test('the panels an engineer on call needs are there', () => {
  const names = new Set(dashboardQueries(dashboard).flatMap((q) => promqlMetricNames(q.expr)));
  const needed = [
    'sluice_records_written_total', // ingest records/s by table
    'sluice_records_rejected_total', // refusals by table
    'sluice_http_refusals_total', // refusals by table and code
    'sluice_http_request_duration_seconds_bucket', // latency p50/p99 by route
    'sluice_wal_fsync_duration_seconds_bucket', // WAL fsync latency
    'sluice_apply_lag_frames', // apply lag
    'sluice_inflight_bytes',
    'sluice_inflight_requests',
    'sluice_overloaded_total', // 429s
    'sluice_http_connections_open',
    'sluice_hints_pending', // per peer
    'sluice_peer_state', // alive / suspect / dead
    'sluice_tx_total', // atomic batches by outcome
    'sluice_tx_pending',
    'sluice_kafka_consumer_lag', // per partition
    'sluice_disk_free_bytes',
    'sluice_process_resident_memory_bytes',
    'sluice_process_cpu_seconds_total',
  ];
  assert.deepEqual(needed.filter((n) => !names.has(n)), []);
  const titles = graphs.map((p) => p.title);
  for (const title of ['Request latency p99 by route', 'Request latency p50 by route', 'Peers by state', 'Kafka consumer lag per partition', 'Hints pending per peer']) {
    assert.ok(titles.includes(title), title);
  }
});
