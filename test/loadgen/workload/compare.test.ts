import { test } from 'node:test';
import assert from 'node:assert/strict';
import { compileSchema, type CompiledSchema } from '../../../src/core/schema/compile-schema.ts';
import { parseTableDef } from '../../../src/core/schema/parse-table-def.ts';
import { compileRenderer, type RecordRenderer } from '../../../src/core/schema/render-record.ts';
import { decodeFields, encodeFields } from '../../../src/core/codec/fields-codec.ts';
import type { JsonValue } from '../../../src/core/schema/table-def.ts';
import { compareRecord, sameJson } from '../../../src/loadgen/workload/compare.ts';
import { batchBody } from '../../../src/loadgen/workload/generate.ts';
import { BENCH_TABLES, benchTableNamed, type BenchTable } from '../../../src/loadgen/workload/tables.ts';
import { PARAMS } from './params.ts';

const NOW = PARAMS.t0Ms;

/** What sluice sends back for record j: the body line parsed, normalized, stored, rendered, with its system fields. */
function readBackOf(t: BenchTable, j: number, schema: CompiledSchema, render: RecordRenderer): Record<string, unknown> {
  const r = schema.normalize(JSON.parse(batchBody(PARAMS, t, j, 1)), NOW);
  assert.ok(r.ok);
  const rendered = render(decodeFields(encodeFields(r.values)));
  // The export's wire form: JSON text, parsed by the verifier.
  return JSON.parse(JSON.stringify({ _id: String(7_000_000_000_000_000_000n + BigInt(j)), ...rendered, _ingested_at: NOW + 5 }));
}

function pipelineOf(t: BenchTable): { schema: CompiledSchema; render: RecordRenderer } {
  const def = parseTableDef(t.definition, NOW);
  return { schema: compileSchema(def), render: compileRenderer(def, def) };
}

/** A different value of the same JSON type (a changed json value keeps its shape but not its leaves). */
function changed(v: unknown): JsonValue {
  if (v === null) return 'x';
  if (typeof v === 'number') return v + 1;
  if (typeof v === 'string') return `${v}x`;
  if (typeof v === 'boolean') return !v;
  if (Array.isArray(v)) return [...(v as JsonValue[]), 'extra'];
  return { ...(v as Record<string, JsonValue>), extra: 1 };
}

test('round trip through the normalizer, the stored codec and the renderer: no problem, the right j', () => {
  for (const t of BENCH_TABLES) {
    const { schema, render } = pipelineOf(t);
    for (let j = 0; j < 2000; j++) {
      const jj = j * 104_729;
      assert.deepEqual(compareRecord(PARAMS, t, readBackOf(t, jj, schema, render)), { j: jj }, `${t.name} j=${jj}`);
    }
  }
});

test('a changed field: the problem names it, for every field of every table', () => {
  for (const t of BENCH_TABLES) {
    const { schema, render } = pipelineOf(t);
    const good = readBackOf(t, 77, schema, render);
    for (const name of t.fieldTypes.keys()) {
      if (name === 'bench_id') continue;
      const c = compareRecord(PARAMS, t, { ...good, [name]: changed(good[name]) });
      assert.equal(c.j, 77);
      assert.match(c.problem ?? '', new RegExp(`^field ${name}: expected `), `${t.name}.${name}`);
    }
  }
});

test('a nested json leaf, a missing field, an extra field, a foreign run, a bad bench_id', () => {
  const t = benchTableNamed('iot.event')!;
  const { schema, render } = pipelineOf(t);
  const good = readBackOf(t, 5, schema, render);
  const detail = structuredClone(good.detail) as { gps: { lat: number } };
  detail.gps.lat += 0.00001;
  assert.match(compareRecord(PARAMS, t, { ...good, detail }).problem ?? '', /^field detail: expected \{"fw"/);
  const { severity: _dropped, ...missing } = good;
  assert.equal(compareRecord(PARAMS, t, missing).problem, `field severity: expected ${JSON.stringify(good.severity)}, got nothing`);
  assert.match(compareRecord(PARAMS, t, { ...good, colour: 'red' }).problem ?? '', /^field colour: not in table bench_iot_event/);
  assert.match(compareRecord(PARAMS, t, { ...good, bench_run: 'someone-else' }).problem ?? '', /^field bench_run: expected "run-2026/);
  assert.deepEqual(compareRecord(PARAMS, t, { ...good, bench_id: '5' }), { j: -1, problem: 'field bench_id: expected a record number, got "5"' });
  assert.equal(compareRecord(PARAMS, t, { ...good, bench_id: 6 }).problem?.startsWith('field '), true, 'record 6 is not record 5');
  // A record of another table's shape under this table's name: caught on the first field that differs.
  assert.match(compareRecord(PARAMS, benchTableNamed('iot.reading')!, good).problem ?? '', /^field /);
});

test('sameJson: deep, key order free, type strict', () => {
  assert.ok(sameJson({ a: [1, { b: null }], c: 'x' }, { c: 'x', a: [1, { b: null }] }));
  assert.ok(!sameJson({ a: 1 }, { a: 1, b: undefined }));
  assert.ok(!sameJson([1, 2], { 0: 1, 1: 2 }));
  assert.ok(!sameJson(1, '1'));
  assert.ok(!sameJson(null, undefined));
  assert.ok(!sameJson([1, 2], [2, 1]));
});
