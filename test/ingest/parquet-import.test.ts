/**
 * Parquet import (src/ingest/formats): each Parquet type into each field
 * type it may become (exact decimals, int64 past 2^53, timestamps floored
 * to ms, dates, bytes, JSON, nested groups), nulls, several row groups and
 * pages, snappy/zstd/gzip, a schema that does not fit refused naming every
 * column before any row, bad values naming row and column, row ranges
 * from a resume point, and the table derived for --create-table. Files
 * here come from hyparquet-writer; the process tests read pyarrow's.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { gzipSync, zstdCompressSync } from 'node:zlib';
import path from 'node:path';
import { parquetWriteFile, type ColumnSource, type SchemaElement } from 'hyparquet-writer';
import { isSluiceError } from '../../src/core/errors.ts';
import { parseTableDef } from '../../src/core/schema/parse-table-def.ts';
import type { TableDef } from '../../src/core/schema/table-def.ts';
import { ConvertPool } from '../../src/ingest/formats/convert-pool.ts';
import type { FileBatch, FileReadOptions } from '../../src/ingest/formats/file-batch.ts';
import { decimalText } from '../../src/ingest/formats/parquet-columns.ts';
import { parquetRanges, readParquetFooter } from '../../src/ingest/formats/parquet-batches.ts';
import { tableDefFromParquet } from '../../src/ingest/formats/parquet-table-def.ts';
import { readFileBatches } from '../../src/ingest/formats/read-file-batches.ts';
import { tempDir } from '../support/temp-dir.ts';

const ROWS = 250;

function def(fields: { name: string; type: string; required?: boolean }[], extra: Record<string, unknown> = {}): TableDef {
  return parseTableDef({ name: 'p', shardKey: 'device', fields, ...extra }, 0);
}

const KINDS = def([
  { name: 'device', type: 'string', required: true },
  { name: 'at', type: 'timestamp', required: true },
  { name: 'day', type: 'timestamp' },
  { name: 'seq', type: 'int', required: true },
  { name: 'big', type: 'int' },
  { name: 'small', type: 'float' },
  { name: 'value', type: 'float' },
  { name: 'ok', type: 'bool' },
  { name: 'price', type: 'decimal' },
  { name: 'cents', type: 'decimal' },
  { name: 'wide', type: 'decimal' },
  { name: 'raw', type: 'bytes' },
  { name: 'meta', type: 'json' },
  { name: 'seq_text', type: 'string' },
]);

const T0 = Date.UTC(2026, 10, 24);

function columns(n: number): ColumnSource[] {
  const k = Array.from({ length: n }, (_, i) => i);
  return [
    { name: 'device', data: k.map((i) => `dev-${i % 7}`), type: 'STRING', nullable: false },
    { name: 'at', data: k.map((i) => BigInt(T0 + i * 1001)), type: 'TIMESTAMP', nullable: false },
    { name: 'day', data: k.map((i) => (i % 5 === 0 ? null : 20_000 + i)) },
    { name: 'seq', data: Int32Array.from(k), type: 'INT32', nullable: false },
    { name: 'big', data: k.map((i) => (i % 3 === 0 ? null : 9007199254740993n + BigInt(i) * (i % 2 === 0 ? 1n : -3n))), type: 'INT64' },
    { name: 'small', data: k.map((i) => (i % 4 === 0 ? null : i * 3)), type: 'INT32' },
    { name: 'value', data: k.map((i) => (i % 4 === 1 ? null : i / 8 - 10)), type: 'DOUBLE' },
    { name: 'ok', data: k.map((i) => (i % 6 === 0 ? null : i % 2 === 0)), type: 'BOOLEAN' },
    { name: 'price', data: k.map((i) => (i % 9 === 0 ? null : BigInt(i * 101 - 5000))) },
    { name: 'cents', data: k.map((i) => BigInt(i * 7)) },
    { name: 'wide', data: k.map((i) => 10n ** 30n + BigInt(i) - (i % 2 === 0 ? 2n * 10n ** 30n : 0n)) },
    { name: 'raw', data: k.map((i) => (i % 7 === 0 ? null : Uint8Array.from([i & 255, 0, 255]))), type: 'BYTE_ARRAY' },
    { name: 'meta', data: k.map((i) => (i % 8 === 0 ? null : { k: i, tags: ['a', 'ü'], nested: { none: null } })), type: 'JSON' },
    { name: 'seq_text', data: k.map((i) => `#${i}`), type: 'STRING' },
  ];
}

/** The schema: explicit where the type needs a logical annotation hyparquet-writer cannot guess. */
function schema(): SchemaElement[] {
  const o = (name: string, e: Record<string, unknown>, required = false) => ({ name, repetition_type: required ? 'REQUIRED' : 'OPTIONAL', ...e });
  return [
    { name: 'root', num_children: 14 },
    o('device', { type: 'BYTE_ARRAY', converted_type: 'UTF8' }, true),
    o('at', { type: 'INT64', converted_type: 'TIMESTAMP_MILLIS' }, true),
    o('day', { type: 'INT32', converted_type: 'DATE' }),
    o('seq', { type: 'INT32' }, true),
    o('big', { type: 'INT64' }),
    o('small', { type: 'INT32' }),
    o('value', { type: 'DOUBLE' }),
    o('ok', { type: 'BOOLEAN' }),
    o('price', { type: 'INT64', converted_type: 'DECIMAL', scale: 2, precision: 18 }),
    o('cents', { type: 'INT32', converted_type: 'DECIMAL', scale: 3, precision: 9 }),
    o('wide', { type: 'FIXED_LEN_BYTE_ARRAY', type_length: 16, converted_type: 'DECIMAL', scale: 4, precision: 38 }),
    o('raw', { type: 'BYTE_ARRAY' }),
    o('meta', { type: 'BYTE_ARRAY', converted_type: 'JSON' }),
    o('seq_text', { type: 'BYTE_ARRAY', converted_type: 'UTF8' }),
  ] as never;
}

function expected(i: number): Record<string, unknown> {
  const r: Record<string, unknown> = { device: `dev-${i % 7}`, at: T0 + i * 1001, seq: i, seq_text: `#${i}` };
  if (i % 5 !== 0) r['day'] = (20_000 + i) * 86_400_000;
  if (i % 3 !== 0) {
    // Exact either way: a number while it is a safe integer, past 2^53 its decimal string.
    const big = 9007199254740993n + BigInt(i) * (i % 2 === 0 ? 1n : -3n);
    r['big'] = big <= 9007199254740991n ? Number(big) : String(big);
  }
  if (i % 4 !== 0) r['small'] = i * 3;
  if (i % 4 !== 1) r['value'] = i / 8 - 10;
  if (i % 6 !== 0) r['ok'] = i % 2 === 0;
  if (i % 9 !== 0) r['price'] = decimalText(BigInt(i * 101 - 5000), 2);
  r['cents'] = decimalText(BigInt(i * 7), 3);
  r['wide'] = decimalText(10n ** 30n + BigInt(i) - (i % 2 === 0 ? 2n * 10n ** 30n : 0n), 4);
  if (i % 7 !== 0) r['raw'] = Buffer.from([i & 255, 0, 255]).toString('base64');
  if (i % 8 !== 0) r['meta'] = { k: i, tags: ['a', 'ü'], nested: { none: null } };
  return r;
}

function write(file: string, codec: 'SNAPPY' | 'ZSTD' | 'GZIP' | 'UNCOMPRESSED', cols = columns(ROWS), s = schema()): void {
  parquetWriteFile({
    filename: file,
    // With an explicit schema, hyparquet-writer takes no per-column type.
    columnData: cols.map(({ name, data }) => ({ name, data })),
    schema: s,
    codec,
    compressors: { ZSTD: (b: Uint8Array) => zstdCompressSync(b), GZIP: (b: Uint8Array) => gzipSync(b) },
    rowGroupSize: 64,
    pageSize: 256,
  });
}

const inline = new ConvertPool({ threads: 0 });

function options(d: TableDef, extra: Partial<FileReadOptions> = {}): FileReadOptions {
  return { format: 'parquet', gzip: false, def: d, onInvalid: 'reject', limits: { rowsMax: 40, bytesMax: 1 << 20 }, taskRows: 50, ...extra };
}

async function collect(file: string, o: FileReadOptions, pool = inline): Promise<FileBatch[]> {
  const out: FileBatch[] = [];
  for await (const b of readFileBatches(file, o, pool)) out.push(b);
  return out;
}

function records(batches: readonly FileBatch[]): Record<string, unknown>[] {
  return batches.flatMap((b) => (b.body === null ? [] : (JSON.parse(Buffer.from(b.body).toString()) as Record<string, unknown>[])));
}

test('decimal text is exact for every scale and sign', () => {
  assert.equal(decimalText(-5n, 2), '-0.05');
  assert.equal(decimalText(12345n, 2), '123.45');
  assert.equal(decimalText(0n, 3), '0.000');
  assert.equal(decimalText(7, 0), '7');
  assert.equal(decimalText(Uint8Array.from([0xff, 0xfe]), 1), '-0.2');
  assert.equal(decimalText(10n ** 37n + 1n, 10), '1000000000000000000000000000.0000000001');
});

test('every column type becomes its field, exactly, through snappy, zstd, gzip and no compression, inline and in a worker', async (t) => {
  const dir = tempDir(t);
  const want = Array.from({ length: ROWS }, (_, i) => expected(i));
  const worker = new ConvertPool({ threads: 1 });
  t.after(() => worker.close());
  for (const codec of ['SNAPPY', 'ZSTD', 'GZIP', 'UNCOMPRESSED'] as const) {
    const file = path.join(dir, `${codec}.parquet`);
    write(file, codec);
    const footer = await readParquetFooter(file);
    assert.ok(footer.row_groups.length >= 4, 'several row groups');
    assert.equal(footer.row_groups[0]?.columns[0]?.meta_data?.codec, codec);
    for (const pool of [inline, worker]) {
      const batches = await collect(file, options(KINDS), pool);
      let next = 0;
      for (const b of batches) {
        assert.equal(b.firstRow, next);
        next += b.rows;
      }
      assert.equal(next, ROWS);
      assert.deepEqual(records(batches), want, codec);
    }
  }
});

test('a file that does not fit the table is refused before any row, naming every column', async (t) => {
  const dir = tempDir(t);
  const file = path.join(dir, 'k.parquet');
  write(file, 'SNAPPY');
  const narrow = def([
    { name: 'device', type: 'string', required: true },
    { name: 'ok', type: 'int' },
    { name: 'raw', type: 'string' },
    { name: 'price', type: 'int' },
    { name: 'missing', type: 'string', required: true },
  ]);
  let batches = 0;
  try {
    for await (const _ of readFileBatches(file, options(narrow), inline)) batches++;
    assert.fail('should refuse');
  } catch (err) {
    assert.ok(isSluiceError(err, 'SCHEMA_VIOLATION'), String(err));
    assert.match(err.message, /^the Parquet file does not match table p: column "at" \(INT64 \(TIMESTAMP_MILLIS\)\) is not a field of table p \(and \d+ more\); nothing was written$/);
    const messages = err.details.map((d) => `${d.path}: ${d.message}`);
    assert.ok(messages.includes('/ok: column "ok" is BOOLEAN, which cannot become field "ok" of type int'), messages.join('\n'));
    assert.ok(messages.includes('/price: column "price" is INT64 (DECIMAL(18,2)), which cannot become field "price" of type int'));
    assert.ok(messages.includes('/missing: required field "missing" of table p has no column in the file'));
    assert.ok(!messages.some((m) => m.startsWith('/raw')), 'unannotated bytes may become a string');
  }
  assert.equal(batches, 0);
});

test('a bad value stops at its row and column (reject) or refuses that row alone (skip)', async (t) => {
  const dir = tempDir(t);
  const file = path.join(dir, 'nan.parquet');
  const value = Array.from({ length: 100 }, (_, i) => (i === 57 ? Number.NaN : i));
  parquetWriteFile({
    filename: file,
    columnData: [
      { name: 'device', data: Array.from({ length: 100 }, (_, i) => `d${i}`), type: 'STRING' },
      { name: 'value', data: value, type: 'DOUBLE' },
    ],
    rowGroupSize: 30,
  });
  const d = def([
    { name: 'device', type: 'string', required: true },
    { name: 'value', type: 'float' },
  ]);
  const sent: FileBatch[] = [];
  try {
    for await (const b of readFileBatches(file, options(d), inline)) sent.push(b);
    assert.fail('should stop');
  } catch (err) {
    assert.ok(isSluiceError(err, 'SCHEMA_VIOLATION'));
    assert.equal(err.message, 'row 58, column "value" cannot be imported into table p: NaN is not a finite number');
    assert.deepEqual(err.details[0], { index: 57, path: '/value', code: 'SCHEMA_VIOLATION', message: 'row 58, column "value": NaN is not a finite number' });
  }
  assert.equal(records(sent).length, 57, 'the rows before it are handed on');
  const skipped = await collect(file, options(d, { onInvalid: 'skip' }));
  assert.equal(records(skipped).length, 99);
  assert.deepEqual(
    skipped.flatMap((b) => b.problems).map((p) => [p.row, p.column]),
    [[57, 'value']],
  );
  assert.ok(skipped.some((b) => b.body === null && b.firstRow === 57 && b.rows === 1), 'the refused row is a gap in the ranges');
  assert.equal(skipped.flatMap((b) => b.problems)[0]?.record, undefined, 'skip mode keeps no record');
  // dead_letter: the refused row comes with its record, the bad value as the file has it (NaN as text: JSON has no NaN).
  const lettered = (await collect(file, options(d, { onInvalid: 'dead_letter' }))).flatMap((b) => b.problems);
  assert.deepEqual(
    lettered.map((p) => [p.row, p.column, p.record]),
    [[57, 'value', { device: 'd57', value: 'NaN' }]],
  );
});

test('row ranges stay inside row groups and start at a resume point', async (t) => {
  const dir = tempDir(t);
  const file = path.join(dir, 'r.parquet');
  write(file, 'SNAPPY');
  const footer = await readParquetFooter(file);
  const groups = footer.row_groups.map((g) => Number(g.num_rows));
  assert.deepEqual(groups, [64, 64, 64, 58]);
  assert.deepEqual([...parquetRanges(footer, 50, 0)].slice(0, 4), [
    { rowStart: 0, rowEnd: 50 },
    { rowStart: 50, rowEnd: 64 },
    { rowStart: 64, rowEnd: 114 },
    { rowStart: 114, rowEnd: 128 },
  ]);
  assert.deepEqual([...parquetRanges(footer, 50, 100)][0], { rowStart: 100, rowEnd: 128 });
  const resumed = await collect(file, options(KINDS, { resume: { rowsDone: 100 } }));
  assert.equal(resumed[0]?.firstRow, 100);
  assert.deepEqual(
    records(resumed).map((r) => r['seq']),
    Array.from({ length: ROWS - 100 }, (_, i) => 100 + i),
  );
});

test('--create-table derives fields from the Parquet schema; key fields become required', async (t) => {
  const dir = tempDir(t);
  const file = path.join(dir, 'k.parquet');
  write(file, 'SNAPPY');
  const footer = await readParquetFooter(file);
  const derived = tableDefFromParquet(footer, { name: 'derived', timeField: 'at', primaryKey: 'seq_text' });
  assert.equal(derived['shardKey'], 'device', 'the first REQUIRED column of a key type');
  assert.deepEqual(derived['fields'], [
    { name: 'device', type: 'string', required: true },
    { name: 'at', type: 'timestamp', required: true },
    { name: 'day', type: 'timestamp', required: false },
    { name: 'seq', type: 'int', required: true },
    { name: 'big', type: 'int', required: false },
    { name: 'small', type: 'int', required: false },
    { name: 'value', type: 'float', required: false },
    { name: 'ok', type: 'bool', required: false },
    { name: 'price', type: 'decimal', required: false },
    { name: 'cents', type: 'decimal', required: false },
    { name: 'wide', type: 'decimal', required: false },
    { name: 'raw', type: 'bytes', required: false },
    { name: 'meta', type: 'json', required: false },
    { name: 'seq_text', type: 'string', required: true },
  ]);
  // The node accepts it, and the file imports into it.
  const created = parseTableDef(derived, 0);
  assert.equal(records(await collect(file, options(created))).length, ROWS);
});

test('a DECIMAL inside a struct, imported into a json field, keeps its value (not its unscaled integer)', async (t) => {
  const file = path.join(tempDir(t), 'nested-decimal.parquet');
  parquetWriteFile({
    filename: file,
    columnData: [
      { name: 'device', data: ['a', 'b'] },
      { name: 'meta', data: [{ price: 12345 }, { price: -5 }] },
    ],
    schema: [
      { name: 'root', num_children: 2 },
      { name: 'device', type: 'BYTE_ARRAY', converted_type: 'UTF8', repetition_type: 'REQUIRED' },
      { name: 'meta', repetition_type: 'OPTIONAL', num_children: 1 },
      { name: 'price', type: 'INT32', converted_type: 'DECIMAL', scale: 2, precision: 9, repetition_type: 'OPTIONAL' },
    ] as SchemaElement[],
  });
  const d = def([{ name: 'device', type: 'string', required: true }, { name: 'meta', type: 'json' }], { shardKey: 'device' });
  const rows = records(await collect(file, options(d)));
  assert.deepEqual(rows.map((r) => r['meta']), [{ price: 12345 }, { price: -5 }]);
});
