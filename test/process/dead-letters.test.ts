/**
 * Dead letters end to end, against one real node: records refused over
 * HTTP, gRPC and a file import (`sluice ingest`) are stored in
 * `<table>__dead_letters` with their raw bytes, code, path and source,
 * while the valid ones are stored as with skip; after a schema fix,
 * `sluice dlq replay` puts them in the table, and running it again (or
 * after a replay interrupted between storing and marking) stores nothing
 * twice.
 */
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { freePort } from './etcd.ts';
import protobuf from 'protobufjs';
import { NodeProcess, ROOT, http, runCli, tempDir } from './harness.ts';
import { ingestClient, ingestWrite } from './ingest-client.ts';

const READINGS = {
  name: 'readings',
  shardKey: 'device',
  timeField: 'ts',
  fields: [
    { name: 'device', type: 'string', required: true },
    { name: 'temp', type: 'int', required: true },
    { name: 'ts', type: 'timestamp', required: true },
  ],
};

interface Letter {
  dead_letter_id: string;
  table: string;
  raw: string;
  raw_format: string;
  code: string;
  message: string;
  path: string;
  source: string;
  request_id: string | null;
  record_index: number;
  status: string;
  replayed_id: string | null;
}

async function exportOf<T>(url: string, table: string): Promise<T[]> {
  const res = await http(`${url}/v1/tables/${table}/export?format=ndjson`);
  assert.equal(res.status, 200, res.text);
  return res.text.trim() === '' ? [] : res.text.trim().split('\n').map((l) => JSON.parse(l) as T);
}

const rawText = (l: Letter): string => Buffer.from(l.raw, 'base64').toString('utf8');

const PROTO = path.join(ROOT, 'test/core/fixtures/payment.proto');

function paymentType(): protobuf.Type {
  const parsed = protobuf.parse(readFileSync(PROTO, 'utf8'), { keepCase: true });
  parsed.root.addJSON(protobuf.common.get('google/protobuf/timestamp.proto')?.nested ?? {});
  return parsed.root.resolveAll().lookupType('shop.v1.Payment');
}

/** One length-delimited message, as the write route reads application/x-protobuf. */
function delimited(message: Uint8Array): Buffer {
  return Buffer.concat([Buffer.from(protobuf.Writer.create().uint32(message.length).finish()), message]);
}

test('dead letters: HTTP, gRPC and file imports store refusals; replay after a schema fix stores each once', { timeout: 90_000 }, async (t) => {
  const grpcPort = await freePort();
  const dir = tempDir(t, 'sluice-dlq-');
  const node = await NodeProcess.start(t, { dataDir: path.join(dir, 'data'), args: ['--grpc', `127.0.0.1:${grpcPort}`] });
  const url = node.url;
  assert.equal((await http(`${url}/v1/tables`, { method: 'POST', body: JSON.stringify(READINGS) })).status, 201);

  // Lines as sent, spaces and key order kept: the letter must hold these exact bytes.
  const good = '{"device":"d1","temp":20,"ts":1700000000000}';
  const float = '{ "device": "d2", "temp": 21.5, "ts": 1700000000001 }';
  const extra = '{"device":"d3","temp":19,"ts":1700000000002,"humidity":40}';
  const noDevice = '{"temp":18,"ts":1700000000003}';

  await t.test('HTTP: valid records stored, refused ones dead-lettered with raw bytes, code, path and source', async () => {
    const res = await http(`${url}/v1/tables/readings/records?on_invalid=dead_letter`, {
      method: 'POST',
      body: [good, float, '', extra, noDevice].join('\n'),
      headers: { 'content-type': 'application/x-ndjson' },
    });
    assert.equal(res.status, 200, res.text);
    assert.equal(res.body.written, 1);
    assert.equal(res.body.rejected_count, 3);
    assert.equal(res.body.dead_lettered.table, 'readings__dead_letters');
    assert.equal(res.body.dead_lettered.count, 3);
    assert.deepEqual(res.body.dead_lettered.letters.map((l: { index: number }) => l.index), [1, 2, 3]);

    const letters = await exportOf<Letter>(url, 'readings__dead_letters');
    assert.equal(letters.length, 3);
    const byRaw = new Map(letters.map((l) => [rawText(l), l]));
    assert.deepEqual([...byRaw.keys()].sort(), [float, extra, noDevice].sort());
    assert.deepEqual({ code: byRaw.get(float)?.code, path: byRaw.get(float)?.path }, { code: 'TYPE', path: '/temp' });
    assert.deepEqual({ code: byRaw.get(extra)?.code, path: byRaw.get(extra)?.path }, { code: 'UNKNOWN_FIELD', path: '/humidity' });
    assert.deepEqual({ code: byRaw.get(noDevice)?.code, path: byRaw.get(noDevice)?.path }, { code: 'REQUIRED', path: '/device' });
    for (const l of letters) {
      assert.equal(l.source, 'http');
      assert.equal(l.table, 'readings');
      assert.equal(l.status, 'pending');
      assert.equal(l.raw_format, 'json');
      assert.ok((l.request_id ?? '').length > 0);
    }
    const ids = new Set(letters.map((l) => l.dead_letter_id));
    assert.deepEqual(new Set(res.body.dead_lettered.letters.map((l: { id: string }) => l.id)), ids);
    const stored = await exportOf<{ device: string }>(url, 'readings');
    assert.deepEqual(stored.map((r) => r.device), ['d1']);
  });

  await t.test('a JSON array body: each refused element kept as its own text', async () => {
    const res = await http(`${url}/v1/tables/readings/records?on_invalid=dead_letter`, {
      method: 'POST',
      body: `[{"device":"a1","temp":1,"ts":1}, {"device":"a2","temp":"x,]","ts":2}]`,
    });
    assert.equal(res.status, 200, res.text);
    assert.equal(res.body.written, 1);
    const letter = (await exportOf<Letter>(url, 'readings__dead_letters')).find((l) => rawText(l).includes('"a2"'));
    assert.equal(letter === undefined ? undefined : rawText(letter), '{"device":"a2","temp":"x,]","ts":2}');
  });

  await t.test('gRPC Write: refusals dead-lettered with source grpc, listed in the reply', async (tt) => {
    const c = ingestClient(grpcPort);
    tt.after(() => c.close());
    const body = Buffer.from(['{"device":"g1","temp":5,"ts":1}', '{"device":"g2","temp":5.5,"ts":2}'].join('\n'));
    const reply = (await ingestWrite(c, { table: 'readings', records: body, onInvalid: 'dead_letter' })) as unknown as { written: number; deadLetteredCount: number; deadLetterTable: string; deadLettered: { index: number; id: string }[] };
    assert.equal(reply.written, 1);
    assert.equal(reply.deadLetteredCount, 1);
    assert.equal(reply.deadLetterTable, 'readings__dead_letters');
    assert.equal(reply.deadLettered[0]?.index, 1);
    const letter = (await exportOf<Letter>(url, 'readings__dead_letters')).find((l) => l.dead_letter_id === reply.deadLettered[0]?.id);
    assert.equal(letter?.source, 'grpc');
    assert.equal(letter === undefined ? undefined : rawText(letter), '{"device":"g2","temp":5.5,"ts":2}');
  });

  await t.test('auth: write on the table is enough to dead-letter; reading the letters needs read on the dead-letter table', async () => {
    const made = await http(`${url}/v1/auth/tokens`, { method: 'POST', body: JSON.stringify({ name: 'writer', scopes: ['write:readings'] }) });
    assert.equal(made.status, 201, made.text);
    const token = made.body.token as string;
    const res = await http(`${url}/v1/tables/readings/records?on_invalid=dead_letter`, { method: 'POST', body: '{"device":"w1","temp":"warm","ts":1}', token });
    assert.equal(res.status, 200, res.text);
    assert.equal(res.body.dead_lettered.count, 1);
    const read = await http(`${url}/v1/tables/readings__dead_letters/export?format=ndjson`, { token });
    assert.equal(read.status, 403, read.text);
    const forged = await http(`${url}/v1/tables/readings__dead_letters/records`, { method: 'POST', body: '{}', token });
    assert.equal(forged.status, 403, 'write on readings does not reach its dead-letter table');
  });

  await t.test('record_index_base: stored letters count from it, the answer keeps positions in the body; a bad one is refused whole', async () => {
    // A table of its own: the replay below counts the letters of readings.
    assert.equal((await http(`${url}/v1/tables`, { method: 'POST', body: JSON.stringify({ ...READINGS, name: 'based' }) })).status, 201);
    const body = ['{"device":"b1","temp":1,"ts":1}', '{"device":"b2","temp":"warm","ts":2}'].join('\n');
    const res = await http(`${url}/v1/tables/based/records?on_invalid=dead_letter&record_index_base=1000`, { method: 'POST', body, headers: { 'content-type': 'application/x-ndjson' } });
    assert.equal(res.status, 200, res.text);
    assert.deepEqual(res.body.rejected.map((r: { index: number }) => r.index), [1]);
    assert.deepEqual(res.body.dead_lettered.letters.map((l: { index: number }) => l.index), [1]);
    const letter = (await exportOf<Letter>(url, 'based__dead_letters')).find((l) => rawText(l).includes('"b2"'));
    assert.equal(letter?.record_index, 1001);
    for (const bad of ['-1', '1.5', 'x', '99999999999999999']) {
      const refused = await http(`${url}/v1/tables/based/records?on_invalid=dead_letter&record_index_base=${bad}`, { method: 'POST', body, headers: { 'content-type': 'application/x-ndjson' } });
      assert.equal(refused.status, 400, refused.text);
      assert.equal(refused.body.error.code, 'INVALID_ARGUMENT');
    }
    assert.equal((await exportOf<Letter>(url, 'based__dead_letters')).length, 1, 'the refused requests left no letters');
  });

  await t.test('sluice ingest --on-invalid dead_letter: source import:<file>; a rerun stores no letter twice', async () => {
    const file = path.join(dir, 'batch.ndjson');
    writeFileSync(file, ['{"device":"f1","temp":1,"ts":1}', '{"device":"f2","temp":1.25,"ts":2}', '{"device":"f3","temp":3,"ts":3}'].join('\n') + '\n');
    const before = (await exportOf<Letter>(url, 'readings__dead_letters')).length;
    for (const args of [[], ['--restart']]) {
      // One row per request: the refused row is first in its request and second in the file.
      const run = runCli(['ingest', file, '--table', 'readings', '--url', url, '--on-invalid', 'dead_letter', '--no-progress', '--batch-records', '1', ...args]);
      assert.equal(run.code, 3, run.stderr); // records were refused (and kept)
      assert.match(run.stderr, /1 rejected records kept as dead letters/);
    }
    const letters = (await exportOf<Letter>(url, 'readings__dead_letters')).filter((l) => l.source === 'import:batch.ndjson');
    assert.equal(letters.length, 1, 'the rerun re-sent the row under the same dedupe key: same letter id');
    assert.equal(rawText(letters[0] as Letter), '{"device":"f2","temp":1.25,"ts":2}');
    assert.equal(letters[0]?.record_index, 1, 'its row in the file, not in its request');
    assert.equal((await exportOf<Letter>(url, 'readings__dead_letters')).length, before + 1);
  });

  await t.test('the import route (CSV): rows the table refuses are dead-lettered as their converted JSON, source import:csv', async () => {
    const csv = 'device,temp,ts\nc1,7,2026-01-01T00:00:00Z\n,8,2026-01-01T00:00:01Z\n';
    const res = await http(`${url}/v1/tables/readings/import?on_invalid=dead_letter`, { method: 'POST', body: csv, headers: { 'content-type': 'text/csv' } });
    assert.equal(res.status, 200, res.text);
    assert.equal(res.body.written, 1);
    assert.deepEqual(res.body.dead_lettered, { table: 'readings__dead_letters', count: 1 });
    const letter = (await exportOf<Letter>(url, 'readings__dead_letters')).find((l) => l.source === 'import:csv');
    assert.equal(letter?.code, 'REQUIRED');
    assert.equal(letter?.path, '/device');
    assert.equal((JSON.parse(rawText(letter as Letter)) as { temp: number }).temp, 8);
  });

  await t.test("the table's onInvalid default applies to writes that do not name one; dead-letter tables cannot dead-letter", async () => {
    // Where table settings are set (beside limits); a described table sent to the schema route keeps it.
    const patched = await http(`${url}/v1/tables/readings`, { method: 'PATCH', body: JSON.stringify({ onInvalid: 'dead_letter' }) });
    assert.equal(patched.status, 200, patched.text);
    assert.equal(patched.body.onInvalid, 'dead_letter');
    const res = await http(`${url}/v1/tables/readings/records`, { method: 'POST', body: '{"device":"p1","temp":"hot","ts":1}' });
    assert.equal(res.status, 200, res.text);
    assert.equal(res.body.dead_lettered.count, 1);
    // An explicit on_invalid still wins.
    const rejected = await http(`${url}/v1/tables/readings/records?on_invalid=reject`, { method: 'POST', body: '{"device":"p2","temp":"hot","ts":1}' });
    assert.equal(rejected.status, 400);
    const recursive = await http(`${url}/v1/tables/readings__dead_letters/records?on_invalid=dead_letter`, { method: 'POST', body: '{"nope":1}' });
    assert.equal(recursive.status, 400, recursive.text);
    assert.equal(recursive.body.error.code, 'INVALID_ARGUMENT');
  });

  await t.test('replay after a schema fix: fixed letters stored once, the rest stay pending; a second run and an interrupted one store nothing twice', async () => {
    const letters = await exportOf<Letter>(url, 'readings__dead_letters');
    const pending = letters.filter((l) => l.status === 'pending');
    assert.equal(pending.length, 9);
    const dry = runCli(['dlq', 'replay', '--table', 'readings', '--url', url, '--dry-run']);
    assert.equal(dry.code, 0, dry.stderr);
    assert.deepEqual(JSON.parse(dry.stdout), { pending: 9, already_replayed: 0, dry_run: true });

    // temp int → float widens; humidity becomes a field. Text temperatures and the missing device stay invalid.
    const desc = await http(`${url}/v1/tables/readings`);
    const fields = [...desc.body.fields.map((f: { name: string }) => (f.name === 'temp' ? { ...f, type: 'float' } : f)), { name: 'humidity', type: 'int' }];
    const fixed = await http(`${url}/v1/tables/readings/schema`, { method: 'PATCH', body: JSON.stringify({ fields }) });
    assert.equal(fixed.status, 200, fixed.text);

    // A replay that died after storing this letter's record and before marking it.
    const interrupted = pending.find((l) => rawText(l) === float) as Letter;
    const early = await http(`${url}/v1/tables/readings/records?dedupe_prefix=dlq-${interrupted.dead_letter_id}-&dedupe_first=0`, { method: 'POST', body: rawText(interrupted) });
    assert.equal(early.status, 200, early.text);

    const first = runCli(['dlq', 'replay', '--table', 'readings', '--url', url]);
    assert.equal(first.code, 3, first.stderr); // some letters are still refused
    assert.deepEqual(JSON.parse(first.stdout), { replayed: 4, still_refused: 5, already_replayed: 0 });
    assert.match(first.stderr, /still refused: .*REQUIRED|still refused: .*device/);
    const second = runCli(['dlq', 'replay', '--table', 'readings', '--url', url]);
    assert.equal(second.code, 3, second.stderr);
    assert.deepEqual(JSON.parse(second.stdout), { replayed: 0, still_refused: 5, already_replayed: 4 });

    const stored = await exportOf<{ _id: string; device: string; temp: number; humidity: number | null }>(url, 'readings');
    const devices = stored.map((r) => r.device).sort();
    // Each once: the import's rerun and both replays doubled nothing.
    assert.deepEqual(devices, ['a1', 'c1', 'd1', 'd2', 'd3', 'f1', 'f2', 'f3', 'g1', 'g2']);
    assert.equal(stored.find((r) => r.device === 'd2')?._id, early.body.ids[0], 'the interrupted replay kept the record it stored');
    assert.equal(stored.find((r) => r.device === 'd3')?.humidity, 40);

    const after = await exportOf<Letter>(url, 'readings__dead_letters');
    assert.equal(after.length, letters.length, 'marking a letter replaces it (same id), never adds one');
    const replayed = after.filter((l) => l.status === 'replayed');
    assert.equal(replayed.length, 4);
    for (const l of replayed) assert.ok(stored.some((r) => r._id === l.replayed_id), `letter ${l.dead_letter_id} names the stored record`);
    const list = runCli(['dlq', 'list', '--table', 'readings', '--url', url]);
    assert.equal(list.code, 0, list.stderr);
    const listed = list.stdout.trim().split('\n').map((l) => JSON.parse(l) as { raw: string; code: string });
    assert.equal(listed.length, 5);
    assert.deepEqual(listed.filter((l) => l.code !== 'REQUIRED' || !l.raw.includes('"temp":8')).map((l) => l.raw).sort(), [noDevice, '{"device":"a2","temp":"x,]","ts":2}', '{"device":"p1","temp":"hot","ts":1}', '{"device":"w1","temp":"warm","ts":1}'].sort());
  });

  await t.test('protobuf: an undecodable message is kept as its bytes; a protobuf letter replays as a length-delimited message', async () => {
    const created = runCli(['table', 'create', '--url', url, '--proto', PROTO, '--message', 'shop.v1.Payment', '--name', 'payments', '--shard-key', 'account_id']);
    assert.equal(created.code, 0, created.stderr);
    const T = paymentType();
    const pay = (account: string): Uint8Array => T.encode(T.fromObject({ account_id: account, amount_cents: '125' })).finish();
    const garbage = Buffer.from([0x0a, 0xff, 0xff, 0xff]);
    const res = await http(`${url}/v1/tables/payments/records?on_invalid=dead_letter`, {
      method: 'POST',
      body: Buffer.concat([delimited(pay('acct-1')), delimited(garbage)]),
      headers: { 'content-type': 'application/x-protobuf' },
    });
    assert.equal(res.status, 200, res.text);
    assert.equal(res.body.dead_lettered.count, 1);
    const [letter] = await exportOf<Letter>(url, 'payments__dead_letters');
    assert.deepEqual({ format: letter?.raw_format, code: letter?.code }, { format: 'protobuf', code: 'INVALID_PROTOBUF' });
    assert.deepEqual(Buffer.from(letter?.raw ?? '', 'base64'), garbage);

    // A letter of a valid message (as if refused by an older schema), written by an admin: the replay frames it.
    const forged = { dead_letter_id: 'forged-1', table: 'payments', raw: Buffer.from(pay('acct-2')).toString('base64'), raw_format: 'protobuf', code: 'REQUIRED', message: 'old schema', source: 'test', failed_at: 1, status: 'pending' };
    assert.equal((await http(`${url}/v1/tables/payments__dead_letters/records`, { method: 'POST', body: JSON.stringify(forged) })).status, 200);
    const replay = runCli(['dlq', 'replay', '--table', 'payments', '--url', url]);
    assert.equal(replay.code, 3, replay.stderr);
    assert.deepEqual(JSON.parse(replay.stdout), { replayed: 1, still_refused: 1, already_replayed: 0 });
    assert.match(replay.stderr, /not a valid protobuf/);
    const stored = await exportOf<{ account_id: string }>(url, 'payments');
    assert.deepEqual(stored.map((r) => r.account_id).sort(), ['acct-1', 'acct-2']);
  });

  await t.test('a large body (decoded in a worker thread): each refused line kept exactly', async () => {
    const table = { name: 'bulk', shardKey: 'k', fields: [{ name: 'k', type: 'string', required: true }, { name: 'n', type: 'int', required: true }] };
    assert.equal((await http(`${url}/v1/tables`, { method: 'POST', body: JSON.stringify(table) })).status, 201);
    const lines = Array.from({ length: 5_000 }, (_, i) => (i % 1_000 === 999 ? `{"k":"bad-${i}","n":"${'x'.repeat(i % 7)}"}` : `{"k":"k${i % 97}","n":${i}}`));
    const body = lines.join('\n');
    assert.ok(body.length > 64 * 1024, 'past workerBodyBytesMin');
    const res = await http(`${url}/v1/tables/bulk/records?on_invalid=dead_letter`, { method: 'POST', body, headers: { 'content-type': 'application/x-ndjson' } });
    assert.equal(res.status, 200, res.text);
    assert.equal(res.body.written, 4_995);
    assert.equal(res.body.dead_lettered.count, 5);
    const letters = await exportOf<Letter>(url, 'bulk__dead_letters');
    assert.deepEqual(letters.map(rawText).sort(), lines.filter((l) => l.includes('bad-')).sort());
  });

  await t.test('the import route: rows the conversion refuses (a cell not of its type, a cell too many) are letters too, named by file row, once per row key; replayed after the fix', async () => {
    const table = { name: 'meters', shardKey: 'm', fields: [{ name: 'm', type: 'string', required: true }, { name: 'kwh', type: 'int', required: true }] };
    assert.equal((await http(`${url}/v1/tables`, { method: 'POST', body: JSON.stringify(table) })).status, 201);
    // Row 2: a cell the conversion cannot make an int; row 3: a cell too many; row 4: converts, but the node refuses it.
    const csv = 'm,kwh\nm1,5\nm2,5.5\nm3,6,oops\n,7\nm5,8\n';
    const importIt = () => http(`${url}/v1/tables/meters/import?on_invalid=dead_letter&dedupe_prefix=meters-csv-`, { method: 'POST', body: csv, headers: { 'content-type': 'text/csv' } });
    const res = await importIt();
    assert.equal(res.status, 200, res.text);
    assert.equal(res.body.written, 2);
    assert.deepEqual(res.body.dead_lettered, { table: 'meters__dead_letters', count: 3 });
    assert.deepEqual(res.body.rejected.map((r: { index: number }) => r.index), [1, 2, 3]);
    const letters = (await exportOf<Letter>(url, 'meters__dead_letters')).sort((a, b) => a.record_index - b.record_index);
    assert.deepEqual(
      letters.map((l) => [l.record_index, l.code, l.path, l.source, JSON.parse(rawText(l))]),
      [
        [1, 'SCHEMA_VIOLATION', '/kwh', 'import:csv', { m: 'm2', kwh: 5.5 }],
        [2, 'INVALID_CSV', '', 'import:csv', { m: 'm3', kwh: 6, _csv_extra_cells: ['oops'] }],
        [3, 'REQUIRED', '/m', 'import:csv', { kwh: 7 }],
      ],
    );
    assert.match(letters[0]?.message ?? '', /^row 2 \(line 3\): expected an integer, got "5.5"/);

    // The same file again under the same row keys: no second letter for any row, conversion's or node's.
    const again = await importIt();
    assert.equal(again.status, 200, again.text);
    assert.equal((await exportOf<Letter>(url, 'meters__dead_letters')).length, 3);

    // kwh becomes a float: the 5.5 row replays; the others stay refused.
    const fixed = await http(`${url}/v1/tables/meters/schema`, { method: 'PATCH', body: JSON.stringify({ fields: [table.fields[0], { name: 'kwh', type: 'float', required: true }] }) });
    assert.equal(fixed.status, 200, fixed.text);
    const replay = runCli(['dlq', 'replay', '--table', 'meters', '--url', url]);
    assert.equal(replay.code, 3, replay.stderr);
    assert.equal(JSON.parse(replay.stdout).replayed, 1, replay.stdout);
    const stored = await exportOf<{ m: string; kwh: number }>(url, 'meters');
    assert.deepEqual(stored.map((r) => `${r.m}:${r.kwh}`).sort(), ['m1:5', 'm2:5.5', 'm5:8']);

    // sluice ingest converts on the client: the rows its reader refuses reach the node as letters all the same.
    const file = path.join(dir, 'meters.csv');
    writeFileSync(file, 'm,kwh\nc1,1.5\nc2,lots\nc3\n');
    const before = (await exportOf<Letter>(url, 'meters__dead_letters')).length;
    for (const args of [[], ['--restart']]) {
      const run = runCli(['ingest', file, '--table', 'meters', '--url', url, '--on-invalid', 'dead_letter', '--no-progress', ...args]);
      assert.equal(run.code, 3, run.stderr);
      assert.match(run.stderr, /2 rejected records kept as dead letters/);
    }
    const fromCli = (await exportOf<Letter>(url, 'meters__dead_letters')).filter((l) => l.source === 'import:meters.csv').sort((a, b) => a.record_index - b.record_index);
    assert.deepEqual(
      fromCli.map((l) => [l.record_index, l.code, l.path, JSON.parse(rawText(l))]),
      [
        [1, 'SCHEMA_VIOLATION', '/kwh', { m: 'c2', kwh: 'lots' }],
        [2, 'INVALID_CSV', '/kwh', { m: 'c3' }],
      ],
    );
    assert.match(fromCli[0]?.message ?? '', /^row 2 \(line 3\): /);
    assert.equal((await exportOf<Letter>(url, 'meters__dead_letters')).length, before + 2, 'the rerun rewrote the same two letters');
    assert.ok((await exportOf<{ m: string }>(url, 'meters')).some((r) => r.m === 'c1'));
  });

  await t.test('POST /v1/tables/{t}/dead_letters: malformed letters refuse the request whole; a dead-letter table cannot get letters', async () => {
    const bad = await http(`${url}/v1/tables/meters/dead_letters`, { method: 'POST', body: '{"record":{"m":"x"},"code":"SCHEMA_VIOLATION","message":"ok"}\n{"record":1,"code":"lower case","message":"m"}\n{"code":"X","message":"m"}', headers: { 'content-type': 'application/x-ndjson' } });
    assert.equal(bad.status, 400, bad.text);
    assert.equal(bad.body.error.code, 'INVALID_ARGUMENT');
    assert.deepEqual(bad.body.error.details.map((d: { index: number; path: string }) => [d.index, d.path]), [[1, '/code'], [2, '/record']]);
    const none = await http(`${url}/v1/tables/nosuch/dead_letters`, { method: 'POST', body: '[]' });
    assert.equal(none.status, 404, none.text);
    const recursive = await http(`${url}/v1/tables/meters__dead_letters/dead_letters`, { method: 'POST', body: '{"record":1,"code":"X","message":"m"}' });
    assert.equal(recursive.status, 400, recursive.text);
  });
});
