/**
 * A replayed letter and a re-sent source row are one row: a letter keeps
 * the dedupe key its record was sent with, and `sluice dlq replay` writes
 * under that key, so "replay, then import the file again" and "import the
 * file again, then replay" both leave each row of the file stored once.
 * Against one real node, with the real CLI (`sluice ingest`, `sluice dlq
 * replay`), through every way an import dead-letters a row: the node's
 * pipeline, the import route's conversion, and `sluice ingest`'s own
 * conversion (letters a client sends). Also: a dead-letter table made
 * before letters kept their key (today's fields, no `dedupe_key`) takes
 * them, and replays under the key as well.
 */
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { NodeProcess, http, runCli, tempDir } from './harness.ts';

interface Letter {
  dead_letter_id: string;
  status: string;
  dedupe_key?: string | null;
}

/** A table whose `temp` is an int: 2.5 is refused until the schema widens it to float. */
function tableDef(name: string): Record<string, unknown> {
  return {
    name,
    shardKey: 'device',
    fields: [
      { name: 'device', type: 'string', required: true },
      { name: 'temp', type: 'int', required: true },
    ],
  };
}

const NDJSON = ['{"device":"r1","temp":1}', '{"device":"r2","temp":2.5}', '{"device":"r3","temp":3}'].join('\n') + '\n';
const CSV = 'device,temp\nr1,1\nr2,2.5\nr3,3\n';

/** The dead-letter table's fields before letters kept their dedupe key (as such tables are on disk). */
const LETTER_FIELDS_BEFORE = [
  { name: 'dead_letter_id', type: 'string', required: true },
  { name: 'table', type: 'string', required: true },
  { name: 'raw', type: 'bytes', required: true },
  { name: 'raw_format', type: 'string', required: true },
  { name: 'code', type: 'string', required: true },
  { name: 'message', type: 'string', required: true },
  { name: 'path', type: 'string' },
  { name: 'source', type: 'string', required: true },
  { name: 'request_id', type: 'string' },
  { name: 'record_index', type: 'int' },
  { name: 'schema_version', type: 'int' },
  { name: 'failed_at', type: 'timestamp', required: true },
  { name: 'status', type: 'string', required: true },
  { name: 'replayed_at', type: 'timestamp' },
  { name: 'replayed_id', type: 'string' },
];

async function exportOf<T>(url: string, table: string): Promise<T[]> {
  const res = await http(`${url}/v1/tables/${table}/export?format=ndjson`);
  assert.equal(res.status, 200, res.text);
  return res.text.trim() === '' ? [] : res.text.trim().split('\n').map((l) => JSON.parse(l) as T);
}

test('dlq replay and a re-import store each row once, in either order', { timeout: 240_000 }, async (t) => {
  const dir = tempDir(t, 'sluice-dlq-reimport-');
  const node = await NodeProcess.start(t, { dataDir: path.join(dir, 'data') });
  const url = node.url;
  // The importer's checkpoints stay in this test's directory.
  const env = { SLUICE_CACHE_DIR: path.join(dir, 'cache') };
  const ndjsonFile = path.join(dir, 'rows.ndjson');
  const csvFile = path.join(dir, 'rows.csv');
  writeFileSync(ndjsonFile, NDJSON);
  writeFileSync(csvFile, CSV);

  /** `sluice ingest` of `file` from its first row; the exit code (3: rows refused and kept as letters). */
  const ingest = (file: string, table: string): number | null => {
    const run = runCli(['ingest', file, '--table', table, '--url', url, '--on-invalid', 'dead_letter', '--no-progress', '--restart'], undefined, env);
    assert.ok(run.code === 0 || run.code === 3, run.stderr);
    return run.code;
  };
  /** The import route, with a dedupe prefix: rows keyed by their row number. */
  const importRoute = async (table: string): Promise<number | null> => {
    const res = await http(`${url}/v1/tables/${table}/import?on_invalid=dead_letter&dedupe_prefix=${table}-csv-`, { method: 'POST', body: CSV, headers: { 'content-type': 'text/csv' } });
    assert.equal(res.status, 200, res.text);
    return res.body.dead_lettered === undefined ? 0 : 3;
  };
  /** The write route with a client's dedupe keys: batch-7:98, batch-7:99, batch-7:100. */
  const clientWrite = async (table: string): Promise<number | null> => {
    const res = await http(`${url}/v1/tables/${table}/records?on_invalid=dead_letter&dedupe_prefix=batch-7:&dedupe_first=98`, { method: 'POST', body: NDJSON, headers: { 'content-type': 'application/x-ndjson' } });
    assert.equal(res.status, 200, res.text);
    return res.body.dead_lettered === undefined ? 0 : 3;
  };
  const ways: { name: string; run: (table: string) => Promise<number | null> }[] = [
    // NDJSON: the node's pipeline refuses 2.5 and keeps the letter.
    { name: 'sluice ingest, NDJSON (the node refuses the row)', run: async (table) => ingest(ndjsonFile, table) },
    // CSV: sluice ingest's conversion refuses 2.5 for an int column and sends the letter itself.
    { name: 'sluice ingest, CSV (the client refuses the row)', run: async (table) => ingest(csvFile, table) },
    // The import route's conversion refuses it on the node.
    { name: 'the import route, CSV with dedupe_prefix', run: importRoute },
    // A client's own keys (dedupe_prefix + dedupe_first, unpadded): the re-send is the same request.
    { name: 'the write route, a client dedupe_prefix', run: clientWrite },
  ];

  /** Imports, widens temp to float, then replays and imports again in `order`; returns the stored devices. */
  const scenario = async (table: string, run: (table: string) => Promise<number | null>, order: 'replay-first' | 'reimport-first', lettersTableBefore = false): Promise<void> => {
    assert.equal((await http(`${url}/v1/tables`, { method: 'POST', body: JSON.stringify(tableDef(table)) })).status, 201);
    if (lettersTableBefore) {
      const made = await http(`${url}/v1/tables`, {
        method: 'POST',
        body: JSON.stringify({ name: `${table}__dead_letters`, shardKey: 'dead_letter_id', primaryKey: 'dead_letter_id', timeField: 'failed_at', fields: LETTER_FIELDS_BEFORE }),
      });
      assert.equal(made.status, 201, made.text);
    }
    assert.equal(await run(table), 3, 'the 2.5 row was refused and kept as a letter');
    const kept = await exportOf<Letter>(url, `${table}__dead_letters`);
    assert.equal(kept.length, 1);
    assert.equal(typeof kept[0]?.dedupe_key, 'string', 'the letter keeps the key its row was sent with');
    const widened = await http(`${url}/v1/tables/${table}/schema`, { method: 'PATCH', body: JSON.stringify({ fields: [{ name: 'device', type: 'string', required: true }, { name: 'temp', type: 'float', required: true }] }) });
    assert.equal(widened.status, 200, widened.text);
    const replay = (): void => {
      const r = runCli(['dlq', 'replay', '--table', table, '--url', url], undefined, env);
      assert.equal(r.code, 0, r.stderr);
      assert.deepEqual(JSON.parse(r.stdout), { replayed: 1, still_refused: 0, already_replayed: 0 });
    };
    if (order === 'replay-first') {
      replay();
      assert.equal(await run(table), 0);
    } else {
      assert.equal(await run(table), 0);
      replay();
    }
    const stored = await exportOf<{ device: string; temp: number }>(url, table);
    assert.deepEqual(stored.map((r) => `${r.device}:${r.temp}`).sort(), ['r1:1', 'r2:2.5', 'r3:3'], 'each row of the file once');
    const letters = await exportOf<Letter>(url, `${table}__dead_letters`);
    assert.deepEqual(letters.map((l) => l.status), ['replayed']);
  };

  let n = 0;
  for (const way of ways) {
    for (const order of ['replay-first', 'reimport-first'] as const) {
      const table = `rows${++n}`;
      await t.test(`${way.name}: ${order === 'replay-first' ? 'replay, then import again' : 'import again, then replay'}`, () => scenario(table, way.run, order));
    }
  }

  await t.test("a dead-letter table made with yesterday's fields (no dedupe_key) takes the key, and the replay uses it", async () => {
    await scenario('rowsold', ways[0]?.run as (table: string) => Promise<number | null>, 'replay-first', true);
    const desc = await http(`${url}/v1/tables/rowsold__dead_letters`);
    assert.equal(desc.status, 200, desc.text);
    assert.ok(desc.body.fields.some((f: { name: string; type: string; required: boolean }) => f.name === 'dedupe_key' && f.type === 'string' && !f.required), JSON.stringify(desc.body.fields));
  });

  await t.test('records sent without a dedupe key: the letter has none, and the replay keys the record by the letter (dlq-<id>-0)', async () => {
    assert.equal((await http(`${url}/v1/tables`, { method: 'POST', body: JSON.stringify(tableDef('keyless')) })).status, 201);
    const res = await http(`${url}/v1/tables/keyless/records?on_invalid=dead_letter`, { method: 'POST', body: NDJSON, headers: { 'content-type': 'application/x-ndjson' } });
    assert.equal(res.status, 200, res.text);
    const [letter] = await exportOf<Letter>(url, 'keyless__dead_letters');
    assert.equal(letter?.dedupe_key ?? null, null);
    const widened = await http(`${url}/v1/tables/keyless/schema`, { method: 'PATCH', body: JSON.stringify({ fields: [{ name: 'device', type: 'string', required: true }, { name: 'temp', type: 'float', required: true }] }) });
    assert.equal(widened.status, 200, widened.text);
    // A replay that died after storing the record and before marking it: the next one stores nothing new.
    const early = await http(`${url}/v1/tables/keyless/records?dedupe_prefix=dlq-${letter?.dead_letter_id}-&dedupe_first=0`, { method: 'POST', body: '{"device":"r2","temp":2.5}' });
    assert.equal(early.status, 200, early.text);
    const r = runCli(['dlq', 'replay', '--table', 'keyless', '--url', url], undefined, env);
    assert.equal(r.code, 0, r.stderr);
    const stored = await exportOf<{ device: string }>(url, 'keyless');
    assert.deepEqual(stored.map((x) => x.device).sort(), ['r1', 'r2', 'r3']);
  });
});
