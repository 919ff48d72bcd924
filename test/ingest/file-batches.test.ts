/**
 * File readers (src/ingest/formats): CSV coercion per field type, row and
 * line numbering across chunks, errors naming row, line and column, skip
 * mode leaving gaps in the row ranges, NDJSON bodies cut on lines with
 * blank lines kept, resuming from a checkpoint's position (also in gzip),
 * and conversion in a worker thread giving the same bodies.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { gzipSync } from 'node:zlib';
import { isSluiceError } from '../../src/core/errors.ts';
import type { TableDef } from '../../src/core/schema/table-def.ts';
import { ConvertPool } from '../../src/ingest/formats/convert-pool.ts';
import { listInRowOrder, type FileBatch, type FileReadOptions } from '../../src/ingest/formats/file-batch.ts';
import { formatOfFileName, readFileBatches } from '../../src/ingest/formats/read-file-batches.ts';
import { csvField } from '../../src/ingest/formats/csv-parser.ts';
import { decodeBody } from '../../src/ingest/decode-body.ts';
import { tempDir } from '../support/temp-dir.ts';

const DEF: TableDef = {
  name: 'kinds',
  shardKey: 'device',
  replicationFactor: 1,
  extraFields: 'reject',
  version: 1,
  fields: [
    { id: 1, name: 'device', type: 'string', required: true },
    { id: 2, name: 'at', type: 'timestamp', required: true },
    { id: 3, name: 'seq', type: 'int', required: true },
    { id: 4, name: 'value', type: 'float', required: false },
    { id: 5, name: 'ok', type: 'bool', required: false },
    { id: 6, name: 'price', type: 'decimal', required: false },
    { id: 7, name: 'raw', type: 'bytes', required: false },
    { id: 8, name: 'meta', type: 'json', required: false },
    { id: 9, name: 'note', type: 'string', required: false, aliases: [{ name: 'memo', expiresAtMs: Number.MAX_SAFE_INTEGER }] },
  ],
};

const inline = new ConvertPool({ threads: 0 });

function options(format: FileReadOptions['format'], extra: Partial<FileReadOptions> = {}): FileReadOptions {
  return { format, gzip: false, def: DEF, onInvalid: 'reject', limits: { rowsMax: 3, bytesMax: 1 << 20 }, ...extra };
}

async function collect(file: string, o: FileReadOptions, pool = inline): Promise<FileBatch[]> {
  const out: FileBatch[] = [];
  for await (const b of readFileBatches(file, o, pool)) out.push(b);
  return out;
}

async function failure(file: string, o: FileReadOptions): Promise<{ err: unknown; batches: FileBatch[] }> {
  const batches: FileBatch[] = [];
  try {
    for await (const b of readFileBatches(file, o, inline)) batches.push(b);
  } catch (err) {
    return { err, batches };
  }
  assert.fail('the read should fail');
}

function records(batches: readonly FileBatch[]): unknown[] {
  return batches.flatMap((b) => {
    if (b.body === null) return [];
    const text = Buffer.from(b.body).toString('utf8');
    return b.contentType === 'application/json' ? (JSON.parse(text) as unknown[]) : text.split('\n').filter((l) => l.trim() !== '').map((l) => JSON.parse(l) as unknown);
  });
}

/** Batches must cover the rows in order with no gap or overlap. */
function assertContiguous(batches: readonly FileBatch[], from = 0): number {
  let next = from;
  for (const b of batches) {
    assert.equal(b.firstRow, next, 'batches are contiguous row ranges');
    next += b.rows;
  }
  return next;
}

test('file names say the format', () => {
  assert.deepEqual(formatOfFileName('a/b.PARQUET'), { format: 'parquet', gzip: false });
  assert.deepEqual(formatOfFileName('x.csv.gz'), { format: 'csv', gzip: true });
  assert.deepEqual(formatOfFileName('x.jsonl'), { format: 'ndjson', gzip: false });
  assert.equal(formatOfFileName('x.parquet.gz'), undefined);
  assert.equal(formatOfFileName('x.txt'), undefined);
});

test('CSV: every field type is coerced, absent and empty kept apart, rows numbered across chunks', async (t) => {
  const dir = tempDir(t);
  const file = path.join(dir, 'kinds.csv');
  const rows = [
    ['device', 'at', 'seq', 'value', 'ok', 'price', 'raw', 'meta', 'memo'],
    ['d1', '2026-11-24T10:00:00Z', '1', '1.5', 'true', '12.50', 'AAE=', '{"a":[1,"x"]}', 'plain'],
    ['d,2', '1764000000000', ' 9007199254740993 ', '-2e3', 'F', '-0.001', '', '[1,2]', 'say "hi"\nline two'],
    ['d3', '2026-11-24T10:00:00.123+01:00', '-42', '', '', '', null, 'null', ''],
    ['d4', '1', '+7', '.5', 'yes', '3', '/w==', '"s"', null],
  ];
  const text = rows.map((r) => r.map((f) => csvField(f)).join(',')).join('\r\n') + '\r\n';
  writeFileSync(file, text);
  // Chunks of a few bytes: every data row is its own chunk, so numbering must carry over.
  for (const pool of [inline, new ConvertPool({ threads: 1 })]) {
    const batches = await collect(file, options('csv', { chunkBytes: 8, limits: { rowsMax: 2, bytesMax: 1 << 20 } }), pool);
    assert.equal(assertContiguous(batches), 4);
    assert.deepEqual(records(batches), [
      { device: 'd1', at: '2026-11-24T10:00:00Z', seq: 1, value: 1.5, ok: true, price: '12.50', raw: 'AAE=', meta: { a: [1, 'x'] }, memo: 'plain' },
      { device: 'd,2', at: 1764000000000, seq: '9007199254740993', value: -2000, ok: false, price: '-0.001', meta: [1, 2], memo: 'say "hi"\nline two' },
      { device: 'd3', at: '2026-11-24T10:00:00.123+01:00', seq: -42, meta: null, memo: '' },
      { device: 'd4', at: 1, seq: 7, value: 0.5, ok: true, price: '3', raw: '/w==', meta: 's' },
    ]);
    // Lines: the header is line 1; row 2 spans lines 3-4, so row 3 starts on line 5.
    const lines = batches.flatMap((b) => Array.from({ length: b.rows }, (_, i) => b.lineOf(i)));
    assert.deepEqual(lines, [2, 3, 5, 6]);
    if (pool !== inline) await pool.close();
  }
});

test('CSV: a bad cell or a short row stops the import naming row, line and column; rows before it are still handed on', async (t) => {
  const dir = tempDir(t);
  const file = path.join(dir, 'bad.csv');
  writeFileSync(file, 'device,at,seq,value\nd1,1,1,1.0\nd2,2,2,1.0\n"d\n3",3,x3,1.0\nd4,4,4\n');
  const bad = await failure(file, options('csv'));
  assert.ok(isSluiceError(bad.err, 'SCHEMA_VIOLATION'), String(bad.err));
  assert.match(bad.err.message, /^row 3 \(line 4\), column "seq" cannot be imported into table kinds: expected an integer, got "x3"/);
  assert.deepEqual(bad.err.details[0], { index: 2, path: '/seq', code: 'SCHEMA_VIOLATION', message: 'row 3 (line 4), column "seq": expected an integer, got "x3"' });
  assert.deepEqual(records(bad.batches), [
    { device: 'd1', at: 1, seq: 1, value: 1 },
    { device: 'd2', at: 2, seq: 2, value: 1 },
  ]);

  // Skip mode: the two bad rows are refused and numbered, the good ones sent, the ranges leave gaps for them.
  const skipped = await collect(file, options('csv', { onInvalid: 'skip' }));
  assert.equal(assertContiguous(skipped), 4);
  assert.deepEqual(
    skipped.map((b) => [b.firstRow, b.rows, b.body === null]),
    [
      [0, 2, false],
      [2, 2, true],
    ],
  );
  const problems = skipped.flatMap((b) => b.problems);
  assert.deepEqual(
    problems.map((p) => [p.row, p.line, p.column, p.code]),
    [
      [2, 4, 'seq', 'SCHEMA_VIOLATION'],
      [3, 6, 'value', 'INVALID_CSV'],
    ],
  );
  assert.match(problems[1]?.message ?? '', /the row has 3 fields and the header 4: no value for column "value"/);
});

test('CSV, dead_letter mode: every refused row carries its record (converted cells, the bad one as in the file, extra cells kept), past the listing cap', async (t) => {
  const dir = tempDir(t);
  const file = path.join(dir, 'letters.csv');
  const bad = Array.from({ length: 150 }, (_, i) => `b${i},${i},x${i},2.5`);
  writeFileSync(file, ['device,at,seq,value', 'd1,1,1,1.0', 'd2,2,2,1.0,extra,"more"', ...bad, ''].join('\n'));
  const batches = await collect(file, options('csv', { onInvalid: 'dead_letter' }));
  const problems = batches.flatMap((b) => b.problems);
  assert.equal(problems.length, 151, 'none left out: each becomes a letter');
  assert.deepEqual(problems[0]?.record, { device: 'd2', at: 2, seq: 2, value: 1, _csv_extra_cells: ['extra', 'more'] });
  assert.deepEqual(problems[1]?.record, { device: 'b0', at: 0, seq: 'x0', value: 2.5 });
  assert.deepEqual(problems[2]?.record, { device: 'b1', at: 1, seq: 'x1', value: 2.5 }, 'a cell that is no JSON value stays text');
  assert.equal(problems[150]?.row, 151);
  assert.deepEqual(records(batches), [{ device: 'd1', at: 1, seq: 1, value: 1 }]);
  // Skip mode lists at most the cap and keeps no records.
  const skipped = (await collect(file, options('csv', { onInvalid: 'skip' }))).flatMap((b) => b.problems);
  assert.ok(skipped.length <= 101 && skipped.every((p) => p.record === undefined), `${skipped.length} listed`);
});

test('CSV: a broken quote is INVALID_CSV at its line even in skip mode; a header that does not fit is refused before any row', async (t) => {
  const dir = tempDir(t);
  const file = path.join(dir, 'quote.csv');
  writeFileSync(file, 'device,at,seq\nd1,1,1\nd2,2,2 "3"\n');
  const bad = await failure(file, options('csv', { onInvalid: 'skip' }));
  assert.ok(isSluiceError(bad.err, 'INVALID_CSV'), String(bad.err));
  assert.match(bad.err.message, /^row 2 \(line 3\), column "seq" cannot be imported into table kinds: a quote inside an unquoted field/);

  const header = path.join(dir, 'header.csv');
  writeFileSync(header, 'device,seq,colour,seq\nd1,1,red,2\n');
  const h = await failure(header, options('csv'));
  assert.ok(isSluiceError(h.err, 'SCHEMA_VIOLATION'));
  assert.equal(h.batches.length, 0);
  assert.deepEqual(
    h.err.details.map((d) => d.message),
    ['column "colour" is not a field of table kinds', 'column "seq" appears twice in the header', 'required field "at" of table kinds has no column in the CSV header'],
  );

  const latin1 = path.join(dir, 'latin1.csv');
  writeFileSync(latin1, Buffer.concat([Buffer.from('device,at,seq\nd1,1,1\nd'), Buffer.from([0xe9]), Buffer.from(',2,2\n')]));
  const enc = await failure(latin1, options('csv'));
  assert.ok(isSluiceError(enc.err, 'INVALID_ENCODING'));
  assert.match(enc.err.message, /^row 2 \(line 3\)/);
});

test('CSV: resuming from a checkpoint position reads on from there (plain and gzip); rows already written are not sent', async (t) => {
  const dir = tempDir(t);
  const lines = ['device,at,seq', ...Array.from({ length: 50 }, (_, i) => `d${i},${i},${i}`)];
  const text = lines.join('\n') + '\n';
  writeFileSync(path.join(dir, 'r.csv'), text);
  writeFileSync(path.join(dir, 'r.csv.gz'), gzipSync(text));
  const all = await collect(path.join(dir, 'r.csv'), options('csv', { chunkBytes: 64, limits: { rowsMax: 4, bytesMax: 1 << 20 } }));
  // A restart point from the middle, as a checkpoint would hold it.
  const mid = all.find((b) => b.firstRow >= 20 && b.restart !== undefined && b.restart.row < b.firstRow + b.rows);
  const at = mid?.restart ?? all[8]?.restart;
  assert.ok(at !== undefined && at.row > 0 && at.row <= 30, JSON.stringify(at));
  for (const [name, gzip] of [['r.csv', false], ['r.csv.gz', true]] as const) {
    const resumed = await collect(path.join(dir, name), options('csv', { gzip, chunkBytes: 64, limits: { rowsMax: 4, bytesMax: 1 << 20 }, resume: { rowsDone: 30, at } }));
    assert.equal(resumed[0]?.firstRow, at.row);
    assert.equal(assertContiguous(resumed, at.row), 50);
    const sent = records(resumed) as { seq: number }[];
    // Batches wholly before row 30 are not sent; the one across it may be (its dedupe keys make that harmless).
    assert.ok(sent.length >= 20 && sent.length < 50 - at.row + 1, `${name}: ${sent.length}`);
    assert.equal(sent.at(-1)?.seq, 49);
    assert.ok((sent[0]?.seq ?? 99) <= 30);
    assert.equal(resumed[0]?.lineOf(0), at.line);
  }
});

test('CSV: every restart point a batch carries, resumed from, numbers the rows as the file does (inline and in a worker thread)', async (t) => {
  // A worker receives a chunk's bytes by transfer: a restart point computed from them afterwards would name the
  // chunk's start with the row after its end, and a rerun would send every row under another row's dedupe key.
  const dir = tempDir(t);
  const file = path.join(dir, 'r.csv');
  writeFileSync(file, ['device,at,seq', ...Array.from({ length: 60 }, (_, i) => `d${i},${i},${i}`)].join('\n') + '\n');
  const o = (extra: Partial<FileReadOptions> = {}): FileReadOptions => options('csv', { chunkBytes: 64, limits: { rowsMax: 4, bytesMax: 1 << 20 }, ...extra });
  for (const pool of [inline, new ConvertPool({ threads: 1 })]) {
    const all = await collect(file, o(), pool);
    const points = new Map(all.flatMap((b) => (b.restart === undefined ? [] : [[`${b.restart.byte}`, b.restart] as const])));
    // Chunk ends as well as chunk starts (a checkpoint after a chunk's last batch holds its end).
    assert.ok(points.size >= 8, `restart points: ${points.size}`);
    for (const at of points.values()) {
      const resumed = await collect(file, o({ resume: { rowsDone: at.row, at } }), pool);
      assert.equal(assertContiguous(resumed, at.row), 60, `from ${JSON.stringify(at)}`);
      const sent = records(resumed) as { seq: number }[];
      assert.equal(sent.length, 60 - at.row, `from ${JSON.stringify(at)}`);
      sent.forEach((r, i) => assert.equal(r.seq, at.row + i, `row ${at.row + i} resumed from ${JSON.stringify(at)}`));
    }
    if (pool !== inline) await pool.close();
  }
});

test('refused rows reported out of order are listed as the first rows of the file, in file order', () => {
  // Batches are written several at a time: a later batch's refusals may be answered first.
  const rows = Array.from({ length: 40 }, (_, i) => i * 7 + (i % 3));
  for (let round = 0; round < 20; round++) {
    const shuffled = [...rows];
    for (let i = shuffled.length - 1; i > 0; i--) {
      const j = (i * 31 + round * 17) % (i + 1);
      [shuffled[i], shuffled[j]] = [shuffled[j] as number, shuffled[i] as number];
    }
    const listed: { row: number }[] = [];
    for (const row of shuffled) listInRowOrder(listed, { row }, 10, (p) => p.row);
    assert.deepEqual(listed.map((p) => p.row), [...rows].sort((a, b) => a - b).slice(0, 10), `round ${round}`);
  }
  // Two problems of one row keep the order they came in.
  const same: { row: number; what: string }[] = [];
  for (const p of [{ row: 5, what: 'a' }, { row: 2, what: 'x' }, { row: 5, what: 'b' }]) listInRowOrder(same, p, 10, (q) => q.row);
  assert.deepEqual(same.map((p) => p.what), ['x', 'a', 'b']);
});

test('NDJSON: bodies are the file lines (blank ones kept), rows counted as the node counts records, lines mapped', async (t) => {
  const dir = tempDir(t);
  const file = path.join(dir, 'r.ndjson');
  const text = '\n{"device":"a","seq":0}\n\n   \r\n{"device":"b","seq":1}\r\n{"device":"c","seq":2}\n{"device":"d","seq":3}\n\n{"device":"e","seq":4}';
  writeFileSync(file, text);
  const batches = await collect(file, options('ndjson', { chunkBytes: 16, limits: { rowsMax: 2, bytesMax: 1 << 20 } }));
  assert.equal(assertContiguous(batches), 5);
  assert.deepEqual(
    batches.map((b) => Buffer.from(b.body as Uint8Array).toString()),
    ['{"device":"a","seq":0}\n\n   \r\n{"device":"b","seq":1}\r\n', '{"device":"c","seq":2}\n{"device":"d","seq":3}\n', '{"device":"e","seq":4}'],
  );
  assert.deepEqual(
    batches.flatMap((b) => Array.from({ length: b.rows }, (_, i) => b.lineOf(i))),
    [2, 5, 6, 7, 9],
  );
  // Resuming after the first batch: its restart point is exact.
  const at = batches[0]?.restart;
  assert.deepEqual(at, { byte: Buffer.byteLength('\n{"device":"a","seq":0}\n\n   \r\n{"device":"b","seq":1}\r\n'), row: 2, line: 6 });
  writeFileSync(`${file}.gz`, gzipSync(text));
  for (const [name, gzip] of [[file, false], [`${file}.gz`, true]] as const) {
    const rest = await collect(name, options('ndjson', { gzip, limits: { rowsMax: 10, bytesMax: 1 << 20 }, resume: { rowsDone: 2, at } }));
    assert.deepEqual(
      (records(rest) as { seq: number }[]).map((r) => r.seq),
      [2, 3, 4],
    );
    assert.equal(rest[0]?.lineOf(0), 6);
  }
});

test('NDJSON: a line of Unicode whitespace only is blank to the reader as it is to the node: rows and lines stay aligned', async (t) => {
  const file = path.join(tempDir(t), 'u.ndjson');
  writeFileSync(file, '{"device":"a","seq":0}\n\u00a0\n{"device":"b","seq":1}\n \ufeff\u3000\n{"device":"c","seq":2}\n');
  const batches = await collect(file, options('ndjson', { limits: { rowsMax: 10, bytesMax: 1 << 20 } }));
  assert.equal(assertContiguous(batches), 3, 'three records, as decodeBody counts them');
  const body = Buffer.from(batches[0]?.body as Uint8Array);
  assert.equal(decodeBody(body, 'ndjson').length, 3);
  assert.deepEqual([0, 1, 2].map((i) => batches[0]?.lineOf(i)), [1, 3, 5]);
});

test('NDJSON: a body is cut at bytesMax too', async (t) => {
  const dir = tempDir(t);
  const file = path.join(dir, 'wide.ndjson');
  writeFileSync(file, Array.from({ length: 10 }, (_, i) => JSON.stringify({ device: 'x'.repeat(100), seq: i })).join('\n'));
  const batches = await collect(file, options('ndjson', { limits: { rowsMax: 1000, bytesMax: 300 } }));
  assert.equal(assertContiguous(batches), 10);
  assert.ok(batches.length >= 4);
  assert.ok(batches.every((b) => (b.body?.length ?? 0) <= 300 + 120));
});
