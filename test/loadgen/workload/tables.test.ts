import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseTableDef, TABLE_NAME_RE } from '../../../src/core/schema/parse-table-def.ts';
import { compileSchema } from '../../../src/core/schema/compile-schema.ts';
import { BENCH_GROUPS, BENCH_TABLES, benchTableNamed } from '../../../src/loadgen/workload/tables.ts';
import { batchBody, benchRecord } from '../../../src/loadgen/workload/generate.ts';
import { centsToDecimal } from '../../../src/loadgen/workload/tables/payments.ts';
import { PARAMS } from './params.ts';

const NOW = PARAMS.t0Ms;

/** Levels of objects in a JSON value (arrays add none): a scalar is 0, `{"a":{}}` is 2. */
function depthOf(v: unknown): number {
  if (typeof v !== 'object' || v === null) return 0;
  const below = Math.max(0, ...Object.values(v).map(depthOf));
  return Array.isArray(v) ? below : 1 + below;
}

test('eight or more tables with valid, unique names, in the four groups', () => {
  assert.ok(BENCH_TABLES.length >= 8);
  assert.equal(new Set(BENCH_TABLES.map((t) => t.name)).size, BENCH_TABLES.length);
  assert.equal(new Set(BENCH_TABLES.map((t) => t.shortName)).size, BENCH_TABLES.length);
  for (const t of BENCH_TABLES) {
    assert.match(t.name, TABLE_NAME_RE);
    assert.equal(benchTableNamed(t.name), t);
    assert.equal(benchTableNamed(t.shortName), t);
  }
  assert.deepEqual(
    Object.fromEntries([...BENCH_GROUPS].map(([g, ts]) => [g, ts.map((t) => t.shortName)])),
    {
      iot: ['iot.reading', 'iot.event', 'iot.status'],
      logs: ['logs.app', 'logs.access', 'logs.audit'],
      metrics: ['metrics.sample'],
      payments: ['payments'],
    },
  );
  assert.equal(benchTableNamed('iot'), undefined, 'a group is not a table');
});

test("every definition is accepted by sluice's own parser, with shard key, time field and the bench fields", () => {
  for (const t of BENCH_TABLES) {
    const def = parseTableDef(JSON.parse(JSON.stringify(t.definition)), NOW);
    assert.equal(def.name, t.name);
    assert.equal(def.shardKey, t.shardKey);
    assert.equal(def.timeField, 'ts');
    assert.equal(def.primaryKey, t.primaryKey);
    const types = Object.fromEntries(def.fields.map((f) => [f.name, f.type]));
    assert.equal(types.bench_run, 'string');
    assert.equal(types.bench_id, 'int');
    assert.deepEqual(def.fields.map((f) => f.name), [...t.fieldTypes.keys()]);
  }
  const payments = benchTableNamed('payments');
  assert.equal(payments?.primaryKey, 'txn_id');
  assert.equal(payments?.fieldTypes.get('amount'), 'decimal');
});

test('every generated record passes the compiled schema of its table', () => {
  for (const t of BENCH_TABLES) {
    const schema = compileSchema(parseTableDef(t.definition, NOW));
    for (let j = 0; j < 3000; j++) {
      // As the server sees it: the NDJSON line, parsed.
      const r = schema.normalize(JSON.parse(batchBody(PARAMS, t, j * 7919, 1)), NOW);
      assert.ok(r.ok, `${t.name} j=${j * 7919}: ${JSON.stringify(r.ok ? null : r.errors)}`);
    }
  }
});

test('the json fields nest: iot.event objects in an object and an array, logs.app 2–3 levels, audit diff has arrays, labels a flat map', () => {
  const depths = (name: string, field: string): Set<number> => {
    const t = benchTableNamed(name);
    assert.ok(t);
    return new Set(Array.from({ length: 500 }, (_, j) => depthOf(benchRecord(PARAMS, t, j)[field])));
  };
  const eventDetail = benchRecord(PARAMS, benchTableNamed('iot.event')!, 1).detail as Record<string, Record<string, unknown>>;
  assert.deepEqual(Object.keys(eventDetail), ['fw', 'gps', 'tags']);
  assert.deepEqual(Object.keys(eventDetail.fw!), ['ver', 'build']);
  assert.deepEqual(Object.keys(eventDetail.gps!), ['lat', 'lon', 'alt']);
  assert.ok(Array.isArray(eventDetail.tags));
  assert.deepEqual([...depths('logs.app', 'attrs')].sort(), [2, 3]);
  assert.deepEqual([...depths('logs.audit', 'diff')], [2]);
  const diff = benchRecord(PARAMS, benchTableNamed('logs.audit')!, 1).diff as Record<string, Record<string, unknown>>;
  assert.ok(Array.isArray(diff.before?.roles) && Array.isArray(diff.after?.roles) && Array.isArray(diff.changed));
  assert.deepEqual([...depths('metrics.sample', 'labels')], [1]);
});

test('payments: amounts are canonical decimals with exact cents; txn_id is unique per (run, j)', () => {
  assert.equal(centsToDecimal(5), '0.05');
  assert.equal(centsToDecimal(-1205), '-12.05');
  assert.equal(centsToDecimal(10_000_000), '100000.00');
  const t = benchTableNamed('payments')!;
  const ids = new Set<unknown>();
  let refunds = 0;
  for (let j = 0; j < 5000; j++) {
    const r = benchRecord(PARAMS, t, j);
    assert.match(r.amount as string, /^-?(0|[1-9][0-9]*)\.[0-9]{2}$/);
    if ((r.amount as string).startsWith('-')) refunds++;
    ids.add(r.txn_id);
    assert.equal(benchRecord({ ...PARAMS, seed: 7 }, t, j).txn_id, r.txn_id, 'txn_id depends on run and j only');
  }
  assert.equal(ids.size, 5000);
  assert.notEqual(benchRecord({ ...PARAMS, runId: 'other' }, t, 0).txn_id, benchRecord(PARAMS, t, 0).txn_id);
  assert.ok(refunds > 0 && refunds < 500, `refunds ${refunds}`);
});
