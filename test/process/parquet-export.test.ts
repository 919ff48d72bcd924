/**
 * Parquet export end to end (issue #4): a real `sluice serve` with small
 * row groups, a table with every field type, a few thousand records with
 * nulls, exported over HTTP and with `sluice export`, and read back with
 * pyarrow — the Apache Arrow C++ reader, not the library sluice writes
 * with. Every row must equal the NDJSON export of the same table, and
 * chosen rows must equal what was written.
 */
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { closeSync, existsSync, openSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { once } from 'node:events';
import path from 'node:path';
import { NodeProcess, ROOT, authHeaders, cliProcessEnv, http, tempDir } from './harness.ts';
import { ensurePyarrow } from '../support/pyarrow.ts';

const BIN = path.join(ROOT, 'bin', 'sluice.js');
const RECORDS = 3_500;
const ROW_GROUP_ROWS = 1_000;
const T0 = Date.UTC(2026, 10, 24, 10, 0, 0);

const KINDS = {
  name: 'kinds',
  shardKey: 'device',
  timeField: 'at',
  fields: [
    { name: 'device', type: 'string', required: true },
    { name: 'at', type: 'timestamp', required: true },
    { name: 'seq', type: 'int', required: true },
    { name: 'big', type: 'int' },
    { name: 'value', type: 'float' },
    { name: 'ok', type: 'bool', default: true },
    { name: 'price', type: 'decimal' },
    { name: 'raw', type: 'bytes' },
    { name: 'meta', type: 'json' },
    { name: 'note', type: 'string' },
  ],
};

/** Record k: every optional field is missing in some records, present in others. */
function record(k: number): Record<string, unknown> {
  const r: Record<string, unknown> = { device: `dev-${k % 37}`, at: k % 2 === 0 ? T0 + k * 1_001 : new Date(T0 + k * 1_001).toISOString(), seq: k };
  if (k % 3 !== 0) r['big'] = k % 2 === 0 ? String(9007199254740993n + BigInt(k)) : -k * 1_000_003;
  if (k % 4 !== 0) r['value'] = k / 7 - 100;
  if (k % 5 === 0) r['ok'] = false;
  if (k % 6 !== 0) r['price'] = `${k}.${String(k % 100).padStart(2, '0')}`;
  if (k % 7 !== 0) r['raw'] = Buffer.from([k & 255, 0, 255, (k >> 8) & 255]).toString('base64');
  if (k % 8 !== 0) r['meta'] = k % 2 === 0 ? { k, tags: ['a', 'ü'], nested: { ok: k % 3 === 0, none: null } } : [k, 'x', 1.5];
  if (k % 9 === 1) r['note'] = `note ${k} ✓ 😀`;
  return r;
}

/**
 * Reads Parquet files with pyarrow and prints, per file, the row count, row
 * groups, schema, footer metadata and every row in the JSON form of sluice's
 * NDJSON export (ints past 2^53 and ids as decimal strings, timestamps as
 * epoch ms, bytes as base64, JSON columns parsed), sorted by _id.
 */
const READ_SCRIPT = String.raw`
import base64, json, sys
import pyarrow as pa, pyarrow.parquet as pq
SAFE = 2**53 - 1
def out(v, t, name):
    if v is None: return None
    if name == '_id': return str(v)
    if pa.types.is_timestamp(t) or pa.types.is_integer(t): return v if abs(v) <= SAFE else str(v)
    if pa.types.is_binary(t): return base64.b64encode(v).decode()
    return v
result = []
for file in sys.argv[1:]:
    f = pq.ParquetFile(file)
    table = f.read()
    json_cols = {n for n, c in zip(f.schema.names, f.schema) if str(c.logical_type) == 'JSON'}
    cols = []
    for name, t in zip(table.schema.names, table.schema.types):
        col = table.column(name)
        if pa.types.is_timestamp(t): col = col.cast(pa.int64())
        vals = [out(v, t, name) for v in col.to_pylist()]
        if name in json_cols: vals = [None if v is None else json.loads(v) for v in vals]
        cols.append((name, vals))
    rows = [dict((n, vals[i]) for n, vals in cols) for i in range(table.num_rows)]
    rows.sort(key=lambda r: int(r['_id']))
    result.append({
        'num_rows': f.metadata.num_rows,
        'row_groups': [f.metadata.row_group(i).num_rows for i in range(f.metadata.num_row_groups)],
        'schema': [[fl.name, str(fl.type), fl.nullable] for fl in table.schema],
        'logical': [[c.name, str(c.logical_type)] for c in f.schema],
        'metadata': {k.decode(): v.decode() for k, v in (f.metadata.metadata or {}).items()},
        'rows': rows,
    })
print(json.dumps(result))
`;

interface PyarrowView {
  num_rows: number;
  row_groups: number[];
  schema: [string, string, boolean][];
  logical: [string, string][];
  metadata: Record<string, string>;
  rows: Record<string, unknown>[];
}

function sluiceCli(args: readonly string[], stdout: 'pipe' | number = 'pipe'): { code: number | null; stderr: string } {
  const res = spawnSync(process.execPath, [BIN, ...args], { cwd: ROOT, encoding: 'utf8', stdio: ['ignore', stdout, 'pipe'], timeout: 60_000, env: cliProcessEnv() });
  return { code: res.status, stderr: res.stderr };
}

describe('Parquet export, read back with pyarrow', () => {
  let node: NodeProcess;
  let dir: string;
  let python: string;
  let ndjson: Record<string, unknown>[];
  const written = new Map<string, Record<string, unknown>>();
  const cleanups: (() => Promise<void> | void)[] = [];

  function readWithPyarrow(...files: string[]): PyarrowView[] {
    const res = spawnSync(python, ['-c', READ_SCRIPT, ...files], { encoding: 'utf8', maxBuffer: 256 * 1024 * 1024, timeout: 120_000 });
    assert.equal(res.status, 0, `pyarrow could not read ${files.join(', ')}: ${res.stderr}`);
    return JSON.parse(res.stdout) as PyarrowView[];
  }

  before(async () => {
    const ctx = { after: (fn: () => Promise<void> | void) => cleanups.push(fn) };
    python = ensurePyarrow();
    dir = tempDir(ctx);
    node = await NodeProcess.start(ctx, { dataDir: path.join(dir, 'data'), args: ['--shards', '8', '--export-row-group-rows-max', String(ROW_GROUP_ROWS)] });
    const created = await http(`${node.url}/v1/tables`, { method: 'POST', body: JSON.stringify(KINDS), headers: { 'content-type': 'application/json' } });
    assert.equal(created.status, 201, created.text);
    for (let start = 0; start < RECORDS; start += 500) {
      const batch = Array.from({ length: Math.min(500, RECORDS - start) }, (_, i) => record(start + i));
      const res = await http(`${node.url}/v1/tables/kinds/records`, { method: 'POST', body: batch.map((r) => JSON.stringify(r)).join('\n'), headers: { 'content-type': 'application/x-ndjson' } });
      assert.equal(res.status, 200, res.text);
      (res.body.ids as string[]).forEach((id, i) => written.set(id, batch[i] as Record<string, unknown>));
    }
    const exported = await http(`${node.url}/v1/tables/kinds/export?format=ndjson`);
    ndjson = exported.text
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as Record<string, unknown>)
      .sort((a, b) => (BigInt(a['_id'] as string) < BigInt(b['_id'] as string) ? -1 : 1));
    assert.equal(ndjson.length, RECORDS);
  });
  after(async () => {
    for (const fn of cleanups.reverse()) await fn();
  });

  test('HTTP: every row, column type and value as pyarrow reads them', async () => {
    const res = await fetch(`${node.url}/v1/tables/kinds/export?format=parquet`, { headers: authHeaders() });
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('content-type'), 'application/vnd.apache.parquet');
    const file = path.join(dir, 'http.parquet');
    writeFileSync(file, Buffer.from(await res.arrayBuffer()));
    const [view] = readWithPyarrow(file);
    assert.ok(view !== undefined);

    assert.equal(view.num_rows, RECORDS);
    assert.deepEqual(view.row_groups, [1000, 1000, 1000, 500], 'row groups of --export-row-group-rows-max rows');
    // pyarrow 26 reads the JSON logical type as its arrow.json extension type; older releases as string.
    const metaType = view.schema.find(([name]) => name === 'meta')?.[1];
    assert.ok(metaType === 'extension<arrow.json>' || metaType === 'string', String(metaType));
    assert.deepEqual(view.schema, [
      ['_id', 'int64', false],
      ['device', 'string', true],
      ['at', 'timestamp[ms, tz=UTC]', true],
      ['seq', 'int64', true],
      ['big', 'int64', true],
      ['value', 'double', true],
      ['ok', 'bool', true],
      ['price', 'string', true],
      ['raw', 'binary', true],
      ['meta', metaType, true],
      ['note', 'string', true],
      ['_ingested_at', 'timestamp[ms, tz=UTC]', false],
    ]);
    assert.deepEqual(
      view.logical.filter(([, l]) => l !== 'None').map(([name, l]) => [name, l.replace(/, is_from_converted_type.*\)$/, ')')]),
      [
        ['device', 'String'],
        ['at', 'Timestamp(isAdjustedToUTC=true, timeUnit=milliseconds)'],
        ['price', 'String'],
        ['meta', 'JSON'],
        ['note', 'String'],
        ['_ingested_at', 'Timestamp(isAdjustedToUTC=true, timeUnit=milliseconds)'],
      ],
    );
    assert.equal(view.metadata['sluice.table'], 'kinds');
    assert.equal(view.metadata['sluice.schema_version'], '1');

    // The whole table: what pyarrow reads is what the NDJSON export says.
    assert.deepEqual(view.rows, ndjson);

    // And chosen rows are what was written (nulls, big ints, bytes, times given as ISO and as epoch ms).
    const byId = new Map(view.rows.map((r) => [r['_id'] as string, r]));
    const ids = [...written.keys()];
    for (const k of [0, 1, 2, 7, 8, 1_001, 3_499]) {
      const id = ids[k] as string;
      const input = written.get(id) as Record<string, unknown>;
      const row = byId.get(id);
      assert.ok(row !== undefined, `record ${k} (${id}) is in the file`);
      const expected = {
        _id: id,
        device: input['device'],
        at: typeof input['at'] === 'string' ? Date.parse(input['at']) : input['at'],
        seq: k,
        big: typeof input['big'] === 'string' ? input['big'] : (input['big'] ?? null),
        value: input['value'] ?? null,
        ok: input['ok'] ?? true,
        price: input['price'] ?? null,
        raw: input['raw'] ?? null,
        meta: input['meta'] ?? null,
        note: input['note'] ?? null,
        _ingested_at: row['_ingested_at'],
      };
      assert.deepEqual(row, expected, `record ${k}`);
      assert.ok(Math.abs((row['_ingested_at'] as number) - Date.now()) < 600_000);
    }
    const nulls = view.rows.filter((r) => r['big'] === null && r['value'] === null && r['price'] === null && r['meta'] === null);
    assert.ok(nulls.length > 0, 'some rows hold nulls in every optional column');
  });

  test('CLI: --output FILE and a redirected stdout give the same rows; a terminal is refused', () => {
    const file = path.join(dir, 'cli.parquet');
    const toFile = sluiceCli(['export', '--table', 'kinds', '--format', 'parquet', '--output', file, '--url', node.url]);
    assert.equal(toFile.code, 0, toFile.stderr);

    const redirected = path.join(dir, 'stdout.parquet');
    const fd = openSync(redirected, 'w');
    try {
      const toStdout = sluiceCli(['export', '--table', 'kinds', '--format', 'parquet', '--url', node.url], fd);
      assert.equal(toStdout.code, 0, toStdout.stderr);
    } finally {
      closeSync(fd);
    }
    assert.equal(readFileSync(redirected, 'latin1').slice(0, 4), 'PAR1');
    const [a, b] = readWithPyarrow(file, redirected);
    assert.deepEqual(a?.rows, ndjson);
    assert.deepEqual(b?.rows, ndjson);

    // stdout on a pseudo-terminal (python's pty): refused before any request.
    const pty = spawnSync(python, ['-c', 'import os, pty, sys; sys.exit(os.waitstatus_to_exitcode(pty.spawn(sys.argv[1:])))', process.execPath, BIN, 'export', '--table', 'kinds', '--format', 'parquet', '--url', node.url], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'pipe'],
      timeout: 60_000,
      env: cliProcessEnv(),
    });
    assert.equal(pty.status, 2, pty.stdout + pty.stderr);
    assert.match(pty.stdout, /Parquet is binary and stdout is a terminal: pass --output FILE or redirect stdout/);
  });

  test('an empty table is a valid file with the schema and 0 rows; bad formats are 400', async () => {
    const created = await http(`${node.url}/v1/tables`, { method: 'POST', body: JSON.stringify({ ...KINDS, name: 'empty' }), headers: { 'content-type': 'application/json' } });
    assert.equal(created.status, 201, created.text);
    const file = path.join(dir, 'empty.parquet');
    const cli = sluiceCli(['export', '--table', 'empty', '--format', 'parquet', '--output', file, '--url', node.url]);
    assert.equal(cli.code, 0, cli.stderr);
    const [view] = readWithPyarrow(file);
    assert.equal(view?.num_rows, 0);
    assert.deepEqual(view?.rows, []);
    assert.deepEqual(
      view?.schema.map(([name]) => name),
      ['_id', ...KINDS.fields.map((f) => f.name), '_ingested_at'],
    );

    const bad = await http(`${node.url}/v1/tables/kinds/export?format=csv`);
    assert.equal(bad.status, 400);
    assert.equal(bad.body.error.code, 'INVALID_ARGUMENT');
    const missing = sluiceCli(['export', '--table', 'nope', '--format', 'parquet', '--output', path.join(dir, 'nope.parquet'), '--url', node.url]);
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /TABLE_NOT_FOUND/);
  });

  test('CLI: an export cut short exits 1 and leaves no partial file', async () => {
    // A stand-in node that starts a Parquet answer and drops the connection.
    const server = createServer((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/vnd.apache.parquet' });
      res.write('PAR1 and then nothing');
      setTimeout(() => res.socket?.destroy(), 50);
    });
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    try {
      const { port } = server.address() as { port: number };
      const file = path.join(dir, 'cut.parquet');
      const child = spawn(process.execPath, [BIN, 'export', '--table', 'kinds', '--format', 'parquet', '--output', file, '--url', `http://127.0.0.1:${port}`], { stdio: ['ignore', 'ignore', 'pipe'], env: cliProcessEnv() });
      let stderr = '';
      child.stderr.setEncoding('utf8').on('data', (c: string) => (stderr += c));
      const [code] = (await once(child, 'exit')) as [number | null];
      assert.equal(code, 1, stderr);
      assert.match(stderr, /export of kinds failed: .*removed the incomplete .*cut\.parquet/);
      assert.equal(existsSync(file), false);
    } finally {
      server.close();
    }
  });
});
