/**
 * The Parquet export encoder on its own: records go through the real
 * normalize → render path (what RecordView hands the export), come out as
 * a Parquet file, and are read back with hyparquet (the end-to-end test
 * with pyarrow is test/process/parquet-export.test.ts).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { parquetMetadata, parquetReadObjects } from 'hyparquet';
import { parquetExport, parquetExportPlan, type ParquetExportLimits } from '../../src/api/parquet-export.ts';
import type { RecordParts } from '../../src/api/record-view.ts';
import { compileSchema } from '../../src/core/schema/compile-schema.ts';
import { parseTableDef } from '../../src/core/schema/parse-table-def.ts';
import { compileRenderer } from '../../src/core/schema/render-record.ts';
import type { TableDef } from '../../src/core/schema/table-def.ts';

const NOW = Date.UTC(2026, 10, 24);
const ID0 = 7_000_000_000_000_000_000n;
const LIMITS: ParquetExportLimits = { rowGroupRowsMax: 65_536, rowGroupBytesMax: 16 * 1024 * 1024 };

const EVERY_TYPE = parseTableDef(
  {
    name: 'every',
    shardKey: 's',
    fields: [
      { name: 's', type: 'string', required: true },
      { name: 'i', type: 'int' },
      { name: 'f', type: 'float' },
      { name: 'b', type: 'bool' },
      { name: 'ts', type: 'timestamp' },
      { name: 'd', type: 'decimal' },
      { name: 'raw', type: 'bytes' },
      { name: 'j', type: 'json' },
    ],
  },
  NOW,
);

/** Records as the export receives them: normalized on write, rendered on read. */
function partsOf(def: TableDef, inputs: readonly Record<string, unknown>[]): RecordParts[] {
  const schema = compileSchema(def);
  const render = compileRenderer(def, def);
  return inputs.map((input, k) => {
    const r = schema.normalize(input, NOW);
    if (!r.ok) assert.fail(JSON.stringify(r.errors));
    return { id: ID0 + BigInt(k), fields: render(r.values), ingestedAtMs: NOW + k };
  });
}

async function* from<T>(items: Iterable<T>): AsyncGenerator<T> {
  yield* items;
}

async function exportToBuffer(def: TableDef, rows: AsyncIterable<RecordParts>, limits = LIMITS, keepsExtras = false): Promise<ArrayBuffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of parquetExport(parquetExportPlan(def, keepsExtras), rows, limits)) chunks.push(chunk);
  const all = Buffer.concat(chunks);
  return all.buffer.slice(all.byteOffset, all.byteOffset + all.length);
}

test('every field type: Parquet types, nulls and exact values', async () => {
  const inputs = [
    { s: 'a', i: '9223372036854775807', f: 1.5, b: true, ts: '2026-11-24T10:00:00.123Z', d: '012.50', raw: 'AAH/', j: { x: [1, 'y', null] } },
    { s: 'b', i: '-9007199254740993', f: -0.25, b: false, ts: 0, d: '-3', raw: '', j: 'text' },
    { s: 'ü€😀' },
  ];
  const file = await exportToBuffer(EVERY_TYPE, from(partsOf(EVERY_TYPE, inputs)));
  const meta = parquetMetadata(file);
  assert.equal(meta.num_rows, 3n);
  const columns = meta.schema.slice(1).map((e) => [e.name, e.type, e.logical_type?.type, e.repetition_type]);
  assert.deepEqual(columns, [
    ['_id', 'INT64', undefined, 'REQUIRED'],
    ['s', 'BYTE_ARRAY', 'STRING', 'OPTIONAL'],
    ['i', 'INT64', undefined, 'OPTIONAL'],
    ['f', 'DOUBLE', undefined, 'OPTIONAL'],
    ['b', 'BOOLEAN', undefined, 'OPTIONAL'],
    ['ts', 'INT64', 'TIMESTAMP', 'OPTIONAL'],
    ['d', 'BYTE_ARRAY', 'STRING', 'OPTIONAL'],
    ['raw', 'BYTE_ARRAY', undefined, 'OPTIONAL'],
    ['j', 'BYTE_ARRAY', 'JSON', 'OPTIONAL'],
    ['_ingested_at', 'INT64', 'TIMESTAMP', 'REQUIRED'],
  ]);
  assert.deepEqual(meta.schema.find((e) => e.name === 'ts')?.logical_type, { type: 'TIMESTAMP', isAdjustedToUTC: true, unit: 'MILLIS' });
  assert.deepEqual(
    meta.key_value_metadata?.map((kv) => [kv.key, kv.value]),
    [
      ['sluice.table', 'every'],
      ['sluice.schema_version', '1'],
    ],
  );

  // hyparquet reads unannotated BYTE_ARRAY as text unless utf8 is off, which also leaves JSON as bytes: two reads.
  const raw = (await parquetReadObjects({ file, columns: ['raw'], utf8: false })).map((r) => r['raw']);
  assert.deepEqual(raw, [new Uint8Array([0, 1, 255]), new Uint8Array([]), null]);
  const rows = await parquetReadObjects({ file, columns: meta.schema.slice(1).map((e) => e.name).filter((n) => n !== 'raw') });
  assert.deepEqual(rows[0], {
    _id: ID0,
    s: 'a',
    i: 9223372036854775807n,
    f: 1.5,
    b: true,
    ts: new Date('2026-11-24T10:00:00.123Z'),
    d: '12.50',
    j: '{"x":[1,"y",null]}',
    _ingested_at: new Date(NOW),
  });
  assert.deepEqual(rows[1], {
    _id: ID0 + 1n,
    s: 'b',
    i: -9007199254740993n,
    f: -0.25,
    b: false,
    ts: new Date(0),
    d: '-3',
    j: '"text"',
    _ingested_at: new Date(NOW + 1),
  });
  assert.deepEqual(rows[2], { _id: ID0 + 2n, s: 'ü€😀', i: null, f: null, b: null, ts: null, d: null, j: null, _ingested_at: new Date(NOW + 2) });
});

test('an empty table is a valid file with the schema and no rows', async () => {
  const file = await exportToBuffer(EVERY_TYPE, from([]));
  const meta = parquetMetadata(file);
  assert.equal(meta.num_rows, 0n);
  assert.equal(meta.row_groups.length, 0);
  assert.deepEqual(
    meta.schema.slice(1).map((e) => e.name),
    ['_id', ...EVERY_TYPE.fields.map((f) => f.name), '_ingested_at'],
  );
  assert.deepEqual(await parquetReadObjects({ file }), []);
});

test('row groups are cut at the row bound and at the byte bound', async () => {
  const inputs = Array.from({ length: 25 }, (_, k) => ({ s: `k${k}`, i: k }));
  const byRows = parquetMetadata(await exportToBuffer(EVERY_TYPE, from(partsOf(EVERY_TYPE, inputs)), { rowGroupRowsMax: 10, rowGroupBytesMax: 1 << 20 }));
  assert.deepEqual(
    byRows.row_groups.map((g) => g.num_rows),
    [10n, 10n, 5n],
  );
  // 100 KiB strings against a 250 KiB bound: three rows reach it.
  const wide = Array.from({ length: 7 }, (_, k) => ({ s: String(k).repeat(100 * 1024) }));
  const file = await exportToBuffer(EVERY_TYPE, from(partsOf(EVERY_TYPE, wide)), { rowGroupRowsMax: 1000, rowGroupBytesMax: 250 * 1024 });
  assert.deepEqual(
    parquetMetadata(file).row_groups.map((g) => g.num_rows),
    [3n, 3n, 1n],
  );
  const back = await parquetReadObjects({ file, columns: ['s'] });
  assert.deepEqual(
    back.map((r) => (r['s'] as string).length),
    Array(7).fill(100 * 1024),
  );
});

test('streams: one row group of records is pulled ahead at most, and the bytes come out per row group', async () => {
  let pulled = 0;
  async function* counted(): AsyncGenerator<RecordParts> {
    for (const p of partsOf(EVERY_TYPE, Array.from({ length: 50 }, (_, k) => ({ s: `k${k}` })))) {
      pulled++;
      yield p;
    }
  }
  const out = parquetExport(parquetExportPlan(EVERY_TYPE, false), counted(), { rowGroupRowsMax: 10, rowGroupBytesMax: 1 << 20 });
  const magic = await out.next();
  assert.equal(Buffer.from(magic.value as Buffer).toString('latin1'), 'PAR1');
  assert.equal(pulled, 0, 'the magic bytes come before any record is read');
  const firstGroup = await out.next();
  assert.ok((firstGroup.value as Buffer).length > 0);
  assert.equal(pulled, 10);
  let chunks = 2;
  for await (const _ of out) chunks++;
  assert.equal(pulled, 50);
  assert.equal(chunks, 2 + 4 + 1, 'magic, 5 row groups, footer');
});

test('tables that keep extra fields get them as one JSON column', async () => {
  const def = parseTableDef({ name: 'events', shardKey: 'trace_id', extraFields: 'keep', fields: [{ name: 'trace_id', type: 'string', required: true }] }, NOW);
  const parts = partsOf(def, [{ trace_id: 't1', level: 'info', n: 2, nested: { a: [1] } }, { trace_id: 't2' }]);
  const file = await exportToBuffer(def, from(parts), LIMITS, true);
  const rows = await parquetReadObjects({ file, columns: ['trace_id', '_extra'] });
  assert.deepEqual(rows, [
    { trace_id: 't1', _extra: '{"level":"info","n":2,"nested":{"a":[1]}}' },
    { trace_id: 't2', _extra: null },
  ]);
});

test('an id that does not fit a signed INT64 fails the export loudly', async () => {
  const [part] = partsOf(EVERY_TYPE, [{ s: 'a' }]);
  const bad = { ...(part as RecordParts), id: 1n << 63n };
  await assert.rejects(exportToBuffer(EVERY_TYPE, from([bad])), RangeError);
});

test('memory stays bounded over many row groups: the footer keeps no whole string values of past row groups', async () => {
  setFlagsFromString('--expose-gc');
  const gc = runInNewContext('gc') as () => void;
  const def = parseTableDef({ name: 'logs', shardKey: 's', fields: [{ name: 's', type: 'string', required: true }, { name: 'msg', type: 'string' }] }, NOW);
  const render = compileRenderer(def, def);
  const GROUPS = 300;
  const VALUE_BYTES = 64 * 1024;
  let before = 0;
  let during = 0;
  // Buffers' memory is given back a little after the collection that frees them.
  const settled = async (): Promise<number> => {
    for (let i = 0; i < 3; i++) {
      gc();
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    return process.memoryUsage().arrayBuffers;
  };
  async function* rows(): AsyncGenerator<RecordParts> {
    before = await settled();
    for (let k = 0; k < GROUPS * 2; k++) {
      // The last row: every row group but one is written and handed on.
      if (k === GROUPS * 2 - 1) during = await settled();
      // Log lines of 64 KiB, each its own (random: Snappy does not shrink them): the min and the max of each row group differ.
      yield { id: ID0 + BigInt(k), fields: render([`s${k % 7}`, randomBytes((VALUE_BYTES * 3) / 4).toString('base64')]), ingestedAtMs: NOW };
    }
  }
  let bytes = 0;
  for await (const chunk of parquetExport(parquetExportPlan(def, false), rows(), { rowGroupRowsMax: 2, rowGroupBytesMax: 16 * 1024 * 1024 })) bytes += chunk.length;
  assert.ok(bytes > GROUPS * VALUE_BYTES, 'the values were written');
  const grown = during - before;
  // Two values of 64 KiB per past row group would be ~38 MiB; the footer needs a few hundred bytes per row group.
  assert.ok(grown < 8 * 1024 * 1024, `${(grown / 1024 / 1024).toFixed(1)} MiB held after ${GROUPS} row groups of 2 rows`);
});
