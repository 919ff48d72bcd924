/**
 * File import end to end (issue #4): a real `sluice serve`, files on disk
 * with every field type, imported with `sluice ingest` (a child process)
 * and with `POST /v1/tables/{t}/import`, then read back through the NDJSON
 * export and compared row by row with what was written. Parquet files come
 * from pyarrow (dictionary encoding, snappy and zstd, nulls, several row
 * groups and pages), CSV and NDJSON from this test. Bad input: a malformed
 * CSV row and a CSV cell of the wrong type name row, line and column; a
 * Parquet file whose schema does not fit the table is refused naming the
 * columns, and nothing is written.
 */
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { gzipSync } from 'node:zlib';
import { NodeProcess, authHeaders, http, runCli, tempDir } from './harness.ts';
import { ensurePyarrow } from '../support/pyarrow.ts';
import { writeParquetWithPyarrow, type PyarrowColumn, type PyarrowWriteOptions } from '../support/pyarrow-parquet.ts';
import { csvField } from '../../src/ingest/formats/csv-parser.ts';

const ROWS = 2_000;
const T0 = Date.UTC(2026, 10, 24, 10, 0, 0);

const FIELDS = [
  { name: 'device', type: 'string', required: true },
  { name: 'at', type: 'timestamp', required: true },
  { name: 'seq', type: 'int', required: true },
  { name: 'big', type: 'int' },
  { name: 'value', type: 'float' },
  { name: 'ok', type: 'bool', default: true },
  { name: 'price', type: 'decimal' },
  { name: 'raw', type: 'bytes' },
  { name: 'meta', type: 'json' },
  { name: 'tags', type: 'json' },
  { name: 'note', type: 'string' },
];

/** One row of the test data: every optional field absent in some rows. */
interface Row {
  device: string;
  at: number;
  seq: number;
  big?: bigint;
  value?: number;
  ok?: boolean;
  price?: string;
  raw?: Buffer;
  meta?: unknown;
  tags?: string[];
  note?: string;
}

function row(k: number): Row {
  const r: Row = { device: `dev-${k % 37}`, at: T0 + k * 1_001, seq: k };
  if (k % 3 !== 0) r.big = k % 2 === 0 ? 9007199254740993n + BigInt(k) : BigInt(-k * 1_000_003);
  if (k % 4 !== 0) r.value = k / 7 - 100;
  if (k % 5 === 0) r.ok = false;
  else if (k % 5 === 1) r.ok = true;
  if (k % 6 !== 0) r.price = `${k}.${String(k % 100).padStart(2, '0')}`;
  if (k % 7 !== 0) r.raw = Buffer.from([k & 255, 0, 255, (k >> 8) & 255]);
  if (k % 8 !== 0) r.meta = k % 2 === 0 ? { k, tags: ['a', 'ü'], nested: { ok: k % 3 === 0, none: null } } : [k, 'x', 1.5];
  if (k % 10 !== 0) r.tags = k % 3 === 0 ? [] : [`t${k % 4}`, 'ü, "quoted"'];
  if (k % 9 === 1) r.note = `note ${k}, with "quotes" ✓ 😀${k % 2 === 0 ? '\nand a second line' : ''}`;
  else if (k % 11 === 5) r.note = '';
  return r;
}

const intJson = (v: bigint): number | string => (v >= -9007199254740991n && v <= 9007199254740991n ? Number(v) : v.toString());

/** What the NDJSON export must say for row k (without _id and _ingested_at). */
function expected(k: number): Record<string, unknown> {
  const r = row(k);
  return {
    device: r.device,
    at: r.at,
    seq: k,
    big: r.big === undefined ? null : intJson(r.big),
    value: r.value ?? null,
    ok: r.ok ?? true,
    price: r.price ?? null,
    raw: r.raw?.toString('base64') ?? null,
    meta: r.meta ?? null,
    tags: r.tags ?? null,
    note: r.note ?? null,
  };
}

function ndjsonLine(k: number): string {
  const r = row(k);
  const o: Record<string, unknown> = { device: r.device, at: k % 2 === 0 ? new Date(r.at).toISOString() : r.at, seq: k };
  if (r.big !== undefined) o['big'] = intJson(r.big);
  if (r.value !== undefined) o['value'] = r.value;
  if (r.ok !== undefined) o['ok'] = r.ok;
  if (r.price !== undefined) o['price'] = r.price;
  if (r.raw !== undefined) o['raw'] = r.raw.toString('base64');
  if (r.meta !== undefined) o['meta'] = r.meta;
  if (r.tags !== undefined) o['tags'] = r.tags;
  if (r.note !== undefined) o['note'] = r.note;
  return JSON.stringify(o);
}

const CSV_HEADER = FIELDS.map((f) => f.name).join(',');
const BOOL_TEXT = [
  ['true', 'false'],
  ['1', '0'],
  ['YES', 'no'],
];

function csvLine(k: number): string {
  const r = row(k);
  const bools = BOOL_TEXT[k % 3] as string[];
  const cells: (string | null)[] = [
    r.device,
    k % 2 === 0 ? new Date(r.at).toISOString() : String(r.at),
    String(k),
    r.big === undefined ? null : r.big.toString(),
    r.value === undefined ? null : String(r.value),
    r.ok === undefined ? null : r.ok ? (bools[0] as string) : (bools[1] as string),
    r.price ?? null,
    r.raw?.toString('base64') ?? null,
    r.meta === undefined ? null : JSON.stringify(r.meta),
    r.tags === undefined ? null : JSON.stringify(r.tags),
    r.note ?? null,
  ];
  return cells.map(csvField).join(',');
}

/** The rows as pyarrow columns: µs timestamps, decimal128, binary, JSON extension, list<string>. */
function pyarrowColumns(from: number, to: number, skip: readonly string[] = []): PyarrowColumn[] {
  const rows = Array.from({ length: to - from }, (_, i) => row(from + i));
  const cols: PyarrowColumn[] = [
    { name: 'device', type: 'string', values: rows.map((r) => r.device), nullable: false },
    { name: 'at', type: 'timestamp_us', values: rows.map((r) => r.at), nullable: false },
    { name: 'seq', type: 'int64', values: rows.map((r) => r.seq), nullable: false },
    { name: 'big', type: 'int64', values: rows.map((r) => (r.big === undefined ? null : r.big.toString())) },
    { name: 'value', type: 'float64', values: rows.map((r) => r.value ?? null) },
    { name: 'ok', type: 'bool', values: rows.map((r) => r.ok ?? null) },
    { name: 'price', type: 'decimal(12,2)', values: rows.map((r) => r.price ?? null) },
    { name: 'raw', type: 'binary', values: rows.map((r) => r.raw?.toString('base64') ?? null) },
    { name: 'meta', type: 'json', values: rows.map((r) => (r.meta === undefined ? null : JSON.stringify(r.meta))) },
    { name: 'tags', type: 'list<string>', values: rows.map((r) => r.tags ?? null) },
    { name: 'note', type: 'string', values: rows.map((r) => r.note ?? null) },
  ];
  return cols.filter((c) => !skip.includes(c.name));
}


describe('file import: round trips and errors', () => {
  let node: NodeProcess;
  let dir: string;
  let python: string;
  const cleanups: (() => Promise<void> | void)[] = [];

  async function createTable(name: string, extra: Record<string, unknown> = {}): Promise<void> {
    const res = await http(`${node.url}/v1/tables`, { method: 'POST', body: JSON.stringify({ name, shardKey: 'device', timeField: 'at', fields: FIELDS, ...extra }) });
    assert.equal(res.status, 201, res.text);
  }

  async function exported(table: string): Promise<Record<string, unknown>[]> {
    const res = await fetch(`${node.url}/v1/tables/${table}/export`, { headers: authHeaders() });
    assert.equal(res.status, 200);
    return (await res.text())
      .split('\n')
      .filter((l) => l.length > 0)
      .map((l) => {
        const { _id, _ingested_at, ...fields } = JSON.parse(l) as Record<string, unknown>;
        assert.ok(typeof _id === 'string' && typeof _ingested_at === 'number');
        return fields;
      })
      .sort((a, b) => (a['seq'] as number) - (b['seq'] as number));
  }

  /** Every row 0..ROWS-1 exactly once, with every value as written. */
  async function assertRoundTrip(table: string, rows = ROWS): Promise<void> {
    const got = await exported(table);
    assert.equal(got.length, rows, `${table}: row count`);
    for (let k = 0; k < rows; k++) assert.deepEqual(got[k], expected(k), `${table}: row ${k}`);
  }

  function ingest(file: string, table: string, ...args: string[]): { code: number | null; stdout: string; stderr: string } {
    return runCli(['ingest', file, '--table', table, '--url', node.url, '--checkpoint-dir', path.join(dir, 'checkpoints'), '--no-progress', ...args]);
  }

  function pyarrowFile(name: string, options: PyarrowWriteOptions, skip: readonly string[] = []): string {
    const file = path.join(dir, name);
    const summary = writeParquetWithPyarrow(python, file, pyarrowColumns(0, ROWS, skip), options);
    assert.equal(summary.num_rows, ROWS);
    assert.ok(summary.row_groups >= 3, 'several row groups');
    return file;
  }

  before(async () => {
    const ctx = { after: (fn: () => Promise<void> | void) => cleanups.push(fn) };
    python = ensurePyarrow();
    dir = tempDir(ctx);
    node = await NodeProcess.start(ctx, { dataDir: path.join(dir, 'data'), args: ['--shards', '8'] });
  });
  after(async () => {
    for (const fn of cleanups.reverse()) await fn();
  });

  test('NDJSON (gzip, blank lines) round trip with sluice ingest', async () => {
    await createTable('nd');
    const file = path.join(dir, 'rows.ndjson.gz');
    const lines = Array.from({ length: ROWS }, (_, k) => ndjsonLine(k) + (k % 500 === 0 ? '\n' : ''));
    writeFileSync(file, gzipSync(lines.join('\n') + '\n'));
    const res = ingest(file, 'nd', '--batch-records', '300');
    assert.equal(res.code, 0, res.stderr);
    assert.match(res.stdout, new RegExp(`^${ROWS} records written, 0 rejected, 7 requests`, 'm'));
    await assertRoundTrip('nd');
  });

  test('CSV (RFC 4180 quoting, CRLF, every type coerced) round trip with sluice ingest and with POST /import', async () => {
    await createTable('csv_cli');
    await createTable('csv_http');
    const text = [CSV_HEADER, ...Array.from({ length: ROWS }, (_, k) => csvLine(k))].join('\r\n') + '\r\n';
    const file = path.join(dir, 'rows.csv');
    writeFileSync(file, text);
    const res = ingest(file, 'csv_cli', '--batch-records', '250', '--threads', '2');
    assert.equal(res.code, 0, res.stderr);
    assert.match(res.stdout, new RegExp(`^${ROWS} records written, 0 rejected`, 'm'));
    await assertRoundTrip('csv_cli');

    const up = await http(`${node.url}/v1/tables/csv_http/import`, { method: 'POST', body: gzipSync(text), headers: { 'content-type': 'text/csv', 'content-encoding': 'gzip' } });
    assert.equal(up.status, 200, up.text);
    assert.equal(up.body.written, ROWS);
    assert.equal(up.body.rows, ROWS);
    assert.match(up.body.token, /^l[0-9a-z]+$/);
    await assertRoundTrip('csv_http');
  });

  test('Parquet written by pyarrow (dictionary + snappy, zstd, lz4, gzip, brotli, nulls, row groups, pages) round trips with sluice ingest and POST /import', async () => {
    const snappy = pyarrowFile('snappy.parquet', { compression: 'snappy', dictionary: true, rowGroupRows: 700, pageBytes: 4096 });
    const zstd = pyarrowFile('zstd.parquet', { compression: { device: 'zstd', at: 'zstd', seq: 'snappy', big: 'zstd', value: 'zstd', ok: 'zstd', price: 'zstd', raw: 'zstd', meta: 'zstd', tags: 'zstd', note: 'snappy' }, dictionary: ['device', 'note'], rowGroupRows: 512 });
    const snappySummary = writeParquetWithPyarrow(python, snappy, pyarrowColumns(0, ROWS), { compression: 'snappy', dictionary: true, rowGroupRows: 700, pageBytes: 4096 });
    assert.equal(snappySummary.columns['device']?.compression, 'SNAPPY');
    assert.ok(snappySummary.columns['device']?.encodings.includes('RLE_DICTIONARY'), JSON.stringify(snappySummary.columns['device']));
    const zstdSummary = writeParquetWithPyarrow(python, zstd, pyarrowColumns(0, ROWS), { compression: { device: 'zstd', at: 'zstd', seq: 'snappy', big: 'zstd', value: 'zstd', ok: 'zstd', price: 'zstd', raw: 'zstd', meta: 'zstd', tags: 'zstd', note: 'snappy' }, dictionary: ['device', 'note'], rowGroupRows: 512 });
    assert.equal(zstdSummary.columns['price']?.compression, 'ZSTD');
    assert.ok(!(zstdSummary.columns['price']?.encodings ?? []).includes('RLE_DICTIONARY'));
    // The other codecs pyarrow writes: LZ4 (the LZ4_RAW codec; pyarrow's metadata calls it LZ4), GZIP and BROTLI.
    const codecs = { compression: { device: 'lz4', at: 'gzip', seq: 'brotli', big: 'lz4', value: 'gzip', ok: 'brotli', price: 'lz4', raw: 'gzip', meta: 'brotli', tags: 'lz4', note: 'gzip' }, dictionary: ['device'], rowGroupRows: 512 } as const;
    const mixed = pyarrowFile('codecs.parquet', codecs);
    const mixedSummary = writeParquetWithPyarrow(python, mixed, pyarrowColumns(0, ROWS), codecs);
    const written = new Set(Object.values(mixedSummary.columns).map((c) => c.compression));
    for (const codec of ['LZ4', 'GZIP', 'BROTLI']) assert.ok(written.has(codec), `${codec} in ${JSON.stringify(mixedSummary.columns)}`);

    for (const [file, table] of [
      [snappy, 'pq_snappy'],
      [zstd, 'pq_zstd'],
      [mixed, 'pq_codecs'],
    ] as const) {
      await createTable(table);
      const res = ingest(file, table, '--batch-records', '400');
      assert.equal(res.code, 0, res.stderr);
      assert.match(res.stdout, new RegExp(`^${ROWS} records written, 0 rejected`, 'm'));
      await assertRoundTrip(table);
    }
    await createTable('pq_http');
    const up = await http(`${node.url}/v1/tables/pq_http/import`, { method: 'POST', body: readFileSync(zstd), headers: { 'content-type': 'application/vnd.apache.parquet' } });
    assert.equal(up.status, 200, up.text);
    assert.equal(up.body.written, ROWS);
    await assertRoundTrip('pq_http');
  });

  test('--create-table derives the table from the Parquet schema and imports into it; a sluice export imports back', async () => {
    const file = pyarrowFile('create.parquet', { compression: 'snappy', dictionary: true, rowGroupRows: 600 });
    const res = ingest(file, 'derived', '--create-table', '--time-field', 'at');
    assert.equal(res.code, 0, res.stderr);
    const described = await http(`${node.url}/v1/tables/derived`);
    assert.equal(described.status, 200);
    assert.equal(described.body.shardKey, 'device');
    assert.equal(described.body.timeField, 'at');
    assert.deepEqual(
      (described.body.fields as { name: string; type: string; required: boolean }[]).map((f) => [f.name, f.type, f.required]),
      [
        ['device', 'string', true],
        ['at', 'timestamp', true],
        ['seq', 'int', true],
        ['big', 'int', false],
        ['value', 'float', false],
        ['ok', 'bool', false],
        ['price', 'decimal', false],
        ['raw', 'bytes', false],
        ['meta', 'json', false],
        ['tags', 'json', false],
        ['note', 'string', false],
      ],
    );
    const got = await exported('derived');
    assert.equal(got.length, ROWS);
    // No default in a derived table: an absent `ok` stays null.
    for (let k = 0; k < ROWS; k++) assert.deepEqual(got[k], { ...expected(k), ok: row(k).ok ?? null }, `row ${k}`);

    // A Parquet export of a table (with its _id and _ingested_at) imports back into a table of the same fields.
    const exportFile = path.join(dir, 'export.parquet');
    const e = runCli(['export', '--table', 'derived', '--format', 'parquet', '--output', exportFile, '--url', node.url]);
    assert.equal(e.code, 0, e.stderr);
    const again = ingest(exportFile, 'reimported', '--create-table', '--time-field', 'at');
    assert.equal(again.code, 0, again.stderr);
    const back = await exported('reimported');
    // The export writes decimals as their exact text (STRING), so the derived field is a string; the values are the same.
    assert.deepEqual(back, got);
  });

  test('a malformed CSV row stops the import naming its row and line; rows before it are written, a rerun resumes there', async () => {
    await createTable('csv_bad');
    const lines = [CSV_HEADER, ...Array.from({ length: 100 }, (_, k) => csvLine(k))];
    // Row 61 (0-based 60) gets an unterminated quote; data rows start on line 2, and no row before it spans lines... except notes.
    lines[61] = `dev-x,${T0},60,"unterminated,1,true,1.00,,,,`;
    const file = path.join(dir, 'bad.csv');
    writeFileSync(file, lines.join('\n') + '\n');
    const lineOfRow60 = lines.slice(0, 61).join('\n').split('\n').length + 1;
    const res = ingest(file, 'csv_bad', '--batch-records', '20');
    assert.equal(res.code, 1, res.stdout);
    // The open quote runs on into the next rows until a quote in a later note closes it.
    assert.match(res.stderr, new RegExp(`INVALID_CSV: row 61 \\(line ${lineOfRow60}\\), column "big" cannot be imported into table csv_bad: unexpected "\\[" after a closing quote .* below the row's first line: a quoted field ran across (a line break|line breaks); is a closing quote missing\\?`));
    assert.match(res.stderr, /rows 1–60 are written and a rerun of the same command resumes at row 61/);
    const got = await exported('csv_bad');
    assert.deepEqual(
      got.map((r) => r['seq']),
      Array.from({ length: 60 }, (_, k) => k),
    );

    const up = await http(`${node.url}/v1/tables/csv_bad/import`, { method: 'POST', body: readFileSync(file), headers: { 'content-type': 'text/csv' } });
    assert.equal(up.status, 400, up.text);
    assert.equal(up.body.error.code, 'INVALID_CSV');
    assert.match(up.body.error.message, new RegExp(`^row 61 \\(line ${lineOfRow60}\\), column "big" cannot be imported`));
    assert.deepEqual(up.body.error.details[0]?.index, 60);
    assert.deepEqual(up.body.error.details[0]?.path, '/big');

    // At the end of the file the quote is never closed. The file changed since the import above stopped, so
    // ingest refuses to run again without --restart (rows 1–60 would be stored twice: file-import-changed.test.ts).
    writeFileSync(file, `${lines.slice(0, 61).join('\n')}\n${lines[61]}\n`);
    const eof = ingest(file, 'csv_bad', '--batch-records', '20', '--restart');
    assert.equal(eof.code, 1);
    assert.match(eof.stderr, new RegExp(`INVALID_CSV: row 61 \\(line ${lineOfRow60}\\), column "big" cannot be imported into table csv_bad: unterminated quoted field \\(opened on this line\\)`));
  });

  test('a CSV cell that cannot become its field type names row, line and column; skip mode refuses only those rows', async () => {
    await createTable('csv_types');
    const lines = [CSV_HEADER, ...Array.from({ length: 50 }, (_, k) => csvLine(k))];
    lines[11] = lines[11]?.replace(/^([^,]*,[^,]*,)10,/, '$1ten,') ?? '';
    lines[31] = lines[31]?.replace(/^([^,]*,[^,]*,30,[^,]*,[^,]*,)[^,]*,/, '$1maybe,') ?? '';
    const file = path.join(dir, 'types.csv');
    writeFileSync(file, lines.join('\n') + '\n');
    const line = (k: number): number => lines.slice(0, k + 1).join('\n').split('\n').length + 1;
    const strict = ingest(file, 'csv_types');
    assert.equal(strict.code, 1);
    assert.match(strict.stderr, new RegExp(`SCHEMA_VIOLATION: row 11 \\(line ${line(10)}\\), column "seq" cannot be imported into table csv_types: expected an integer, got "ten"`));

    const skip = ingest(file, 'csv_types', '--on-invalid', 'skip', '--restart');
    assert.equal(skip.code, 3, skip.stderr);
    assert.match(skip.stdout, /^48 records written, 2 rejected/m);
    assert.match(skip.stderr, new RegExp(`rejected: row 11 \\(line ${line(10)}\\), column "seq": expected an integer, got "ten"`));
    assert.match(skip.stderr, new RegExp(`rejected: row 31 \\(line ${line(30)}\\), column "ok": expected a boolean`));
    const got = await exported('csv_types');
    assert.equal(got.length, 48, 'rows 0..9 of the strict run were written again under the same keys: no duplicates');
  });

  test('a node refusal is mapped to the file: row, line and column of the record', async () => {
    await createTable('nd_bad');
    const lines = Array.from({ length: 30 }, (_, k) => ndjsonLine(k));
    lines[17] = JSON.stringify({ device: 'x', at: T0, seq: 17, price: '12.5.0' });
    const file = path.join(dir, 'bad.ndjson');
    writeFileSync(file, `\n${lines.join('\n')}\n`);
    const res = ingest(file, 'nd_bad', '--batch-records', '10');
    assert.equal(res.code, 1);
    assert.match(res.stderr, /row 18 \(line 19\), column "price": SCHEMA_VIOLATION \(HTTP 400\)/);
  });

  test('POST /import of Parquet (rows encoded in the node’s conversion threads) refuses, skips and dead-letters the rows the node refuses as sluice ingest’s JSON bodies do', async () => {
    // Every 50th row from row 7 has no device: only the node's validation refuses it (REQUIRED).
    const file = path.join(dir, 'refusals.parquet');
    const columns = pyarrowColumns(0, 300).map((c) => (c.name === 'device' ? { ...c, nullable: true, values: c.values.map((v, k) => (k % 50 === 7 ? null : v)) } : c));
    writeParquetWithPyarrow(python, file, columns, { compression: 'snappy', dictionary: true, rowGroupRows: 100 });
    const refused = Array.from({ length: 300 }, (_, k) => k).filter((k) => k % 50 === 7);
    const body = readFileSync(file);
    const post = (table: string, query: string) => http(`${node.url}/v1/tables/${table}/import?${query}`, { method: 'POST', body, headers: { 'content-type': 'application/vnd.apache.parquet' } });

    await createTable('pq_rej');
    const rejected = await post('pq_rej', 'on_invalid=reject');
    assert.equal(rejected.status, 400, rejected.text);
    assert.equal(rejected.body.error.code, 'SCHEMA_VIOLATION');
    assert.deepEqual([rejected.body.error.details[0].index, rejected.body.error.details[0].code], [7, 'REQUIRED']);
    assert.match(rejected.body.error.details[0].message, /^row 8, column "device": /);
    assert.match(rejected.body.error.message, /rows were written before the import stopped/);

    for (const mode of ['skip', 'dead_letter'] as const) {
      await createTable(`pq_cli_${mode}`);
      await createTable(`pq_route_${mode}`);
      // Requests of 50 rows: each refused row sits at index 7 of its request, and its letter must still name its file row.
      const cli = ingest(file, `pq_cli_${mode}`, '--on-invalid', mode, '--batch-records', '50');
      assert.notEqual(cli.code, 1, cli.stderr);
      const res = await post(`pq_route_${mode}`, `on_invalid=${mode}&dedupe_prefix=pq-${mode}-`);
      assert.equal(res.status, 200, res.text);
      assert.equal(res.body.written, 300 - refused.length);
      assert.equal(res.body.rows, 300);
      assert.equal(res.body.rejected_count, refused.length);
      assert.deepEqual(res.body.rejected.map((r: { index: number; code: string; path: string }) => [r.index, r.code, r.path]), refused.map((k) => [k, 'REQUIRED', '/device']));
      assert.deepEqual(await exported(`pq_route_${mode}`), await exported(`pq_cli_${mode}`), `${mode}: the same rows stored`);
      if (mode === 'dead_letter') {
        assert.deepEqual(res.body.dead_lettered, { table: `pq_route_${mode}__dead_letters`, count: refused.length });
        const letters = async (table: string) =>
          (await exported(`${table}__dead_letters`).catch(() => []))
            .map((l) => ({ index: l['record_index'] as number, what: [l['code'], l['path'], Buffer.from(l['raw'] as string, 'base64').toString('utf8')] }))
            .sort((a, b) => String(a.what[2]).localeCompare(String(b.what[2])));
        const mine = await letters(`pq_route_${mode}`);
        assert.equal(mine.length, refused.length);
        const theirs = await letters(`pq_cli_${mode}`);
        assert.deepEqual(mine.map((l) => l.what), theirs.map((l) => l.what), 'the same letters: code, path and the row as JSON');
        assert.deepEqual(theirs.map((l) => l.index), theirs.map((l) => (JSON.parse(l.what[2] as string) as { seq: number }).seq), "sluice ingest's letters name their file row too (record_index_base)");
        assert.deepEqual(mine.map((l) => l.index), mine.map((l) => (JSON.parse(l.what[2] as string) as { seq: number }).seq), 'each names its file row');
        // Sent again under the same row keys: nothing stored twice.
        const again = await post(`pq_route_${mode}`, `on_invalid=${mode}&dedupe_prefix=pq-${mode}-`);
        assert.equal(again.status, 200, again.text);
        assert.equal((await exported(`pq_route_${mode}`)).length, 300 - refused.length);
        assert.equal((await letters(`pq_route_${mode}`)).length, refused.length);
      }
    }
  });

  test('a Parquet file whose schema does not fit is refused naming the columns, before anything is written (CLI and POST /import)', async () => {
    await createTable('pq_bad');
    // No `seq` (a required field), and `ok` as text.
    const file = path.join(dir, 'mismatch.parquet');
    const columns = pyarrowColumns(0, 300, ['seq']).map((c) => (c.name === 'ok' ? { name: 'ok', type: 'string' as const, values: c.values.map((v) => (v === null ? null : String(v))) } : c));
    writeParquetWithPyarrow(python, file, columns, { compression: 'snappy', dictionary: true, rowGroupRows: 100 });
    const res = ingest(file, 'pq_bad');
    assert.equal(res.code, 1);
    assert.match(res.stderr, /SCHEMA_VIOLATION: the Parquet file does not match table pq_bad: column "ok" is BYTE_ARRAY \(STRING\), which cannot become field "ok" of type bool \(and 1 more\); nothing was written/);
    assert.match(res.stderr, /required field "seq" of table pq_bad has no column in the file/);

    const up = await http(`${node.url}/v1/tables/pq_bad/import`, { method: 'POST', body: readFileSync(file), headers: { 'content-type': 'application/vnd.apache.parquet' } });
    assert.equal(up.status, 400, up.text);
    assert.equal(up.body.error.code, 'SCHEMA_VIOLATION');
    assert.deepEqual(
      (up.body.error.details as { path: string }[]).map((d) => d.path).slice(0, 2),
      ['/ok', '/seq'],
    );
    const notParquet = await http(`${node.url}/v1/tables/pq_bad/import`, { method: 'POST', body: 'not,parquet\n', headers: { 'content-type': 'application/vnd.apache.parquet' } });
    assert.equal(notParquet.status, 400);
    assert.equal(notParquet.body.error.code, 'INVALID_PARQUET');
    const json = await http(`${node.url}/v1/tables/pq_bad/import`, { method: 'POST', body: '{}', headers: { 'content-type': 'application/json' } });
    assert.equal(json.status, 415);
    assert.equal((await exported('pq_bad')).length, 0, 'nothing was written');
  });
});
