/**
 * `PATCH /v1/tables/{t}` (settings) against an in-process node: a request
 * that is refused changes nothing, whatever part of it was valid.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { pino } from 'pino';
import { resolveConfig } from '../../../src/config.ts';
import { SluiceNode } from '../../../src/sluice-node.ts';
import { tempDir } from '../../support/temp-dir.ts';
import { authHeaders, TEST_TOKEN } from '../../support/auth.ts';

const LEDGER = { name: 'ledger', shardKey: 'account', fields: [{ name: 'account', type: 'string', required: true }, { name: 'amount', type: 'int' }] };

let node: SluiceNode;
let base = '';

after(async () => {
  await node?.stop();
});
const dir = tempDir({ after }, 'sluice-settings-');

before(async () => {
  const config = resolveConfig({ dataDir: dir, httpPort: 0, bootstrapToken: TEST_TOKEN, diskFreeBytesMin: 0, auditLog: 'off' });
  node = await SluiceNode.start(config, pino({ level: 'silent' }));
  base = node.url;
  const res = await call('POST', '/v1/tables', LEDGER);
  assert.equal(res.status, 201, res.text);
});

async function call(method: string, path: string, body?: unknown): Promise<{ status: number; text: string; json: Record<string, unknown> }> {
  const res = await fetch(`${base}${path}`, {
    method,
    headers: { ...authHeaders(), ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const text = await res.text();
  return { status: res.status, text, json: text === '' ? {} : (JSON.parse(text) as Record<string, unknown>) };
}

test('a settings patch refused for its limits leaves onInvalid (and the schema version) unchanged', async () => {
  const before = await call('GET', '/v1/tables/ledger');
  assert.equal(before.json['version'], 1);
  assert.equal(before.json['onInvalid'], undefined);
  const res = await call('PATCH', '/v1/tables/ledger', { onInvalid: 'skip', limits: { recordsPerSecond: -5 } });
  assert.equal(res.status, 400, res.text);
  assert.equal((res.json as { error?: { code?: string } }).error?.code ?? res.json['code'], 'INVALID_TABLE_DEFINITION', res.text);
  const afterRefusal = await call('GET', '/v1/tables/ledger');
  // The refused request must not have switched the table's writes to skipping invalid records.
  assert.equal(afterRefusal.json['onInvalid'], undefined, afterRefusal.text);
  assert.equal(afterRefusal.json['version'], 1, afterRefusal.text);
});

test('a settings patch refused for its onInvalid leaves the limits unchanged', async () => {
  const res = await call('PATCH', '/v1/tables/ledger', { onInvalid: 'sometimes', limits: { recordsPerSecond: 7 } });
  assert.equal(res.status, 400, res.text);
  const now = await call('GET', '/v1/tables/ledger');
  assert.equal((now.json['limits'] as Record<string, unknown>)['recordsPerSecond'], undefined, now.text);
});

test('a schema change that would make a dead-letter table refuse its letters is refused (SCHEMA_INCOMPATIBLE)', async () => {
  const post = (body: string): Promise<Response> =>
    fetch(`${base}/v1/tables/ledger/records?on_invalid=dead_letter`, { method: 'POST', headers: { ...authHeaders(), 'content-type': 'application/x-ndjson' }, body });
  const first = await post('{"account":"a","amount":"not a number"}\n{"account":"b","amount":2}');
  assert.equal(first.status, 200, await first.text());
  const described = await call('GET', '/v1/tables/ledger__dead_letters');
  assert.equal(described.status, 200, described.text);
  const fields = described.json['fields'] as { name: string }[];
  // `path` is optional, so the general rules let it go; every letter carries it.
  const res = await call('PATCH', '/v1/tables/ledger__dead_letters/schema', { fields: fields.filter((f) => f.name !== 'path') });
  assert.equal(res.status, 409, res.text);
  assert.match(res.text, /SCHEMA_INCOMPATIBLE/);
  // Adding a field stays possible, and letters are still stored.
  const added = await call('PATCH', '/v1/tables/ledger__dead_letters/schema', { fields: [...fields, { name: 'triage_note', type: 'string' }] });
  assert.equal(added.status, 200, added.text);
  const second = await post('{"account":"c","amount":"nope"}\n{"account":"d","amount":4}');
  assert.equal(second.status, 200, await second.text());
});

test('a dead-letter table created ahead of its first letter must take letters: one that would refuse them is refused (INVALID_TABLE_DEFINITION)', async () => {
  const other = { name: 'orders', shardKey: 'id', fields: [{ name: 'id', type: 'string', required: true }, { name: 'qty', type: 'int' }] };
  assert.equal((await call('POST', '/v1/tables', other)).status, 201);
  // A user's own table under the reserved name, without the letter fields: every dead_letter write to orders would fail.
  const wrong = await call('POST', '/v1/tables', { name: 'orders__dead_letters', shardKey: 'note', fields: [{ name: 'note', type: 'string', required: true }] });
  assert.equal(wrong.status, 400, wrong.text);
  assert.match(wrong.text, /INVALID_TABLE_DEFINITION/);
  // The letter fields, but a required field of the user's that no letter carries.
  const ledgerLetters = await call('GET', '/v1/tables/ledger__dead_letters');
  const letterFields = (ledgerLetters.json['fields'] as { name: string; type: string; required?: boolean }[]).filter((f) => f.name !== 'triage_note')
    .map((f) => ({ name: f.name, type: f.type, ...(f.required === true ? { required: true } : {}) }));
  const extraRequired = await call('POST', '/v1/tables', { name: 'orders__dead_letters', shardKey: 'dead_letter_id', primaryKey: 'dead_letter_id', fields: [...letterFields, { name: 'owner', type: 'string', required: true }] });
  assert.equal(extraRequired.status, 400, extraRequired.text);
  // The definition a dead-letter table is described with is accepted, and letters are stored in it.
  const right = await call('POST', '/v1/tables', { name: 'orders__dead_letters', shardKey: 'dead_letter_id', primaryKey: 'dead_letter_id', timeField: 'failed_at', fields: [...letterFields, { name: 'owner', type: 'string' }] });
  assert.equal(right.status, 201, right.text);
  const res = await fetch(`${base}/v1/tables/orders/records?on_invalid=dead_letter`, { method: 'POST', headers: { ...authHeaders(), 'content-type': 'application/x-ndjson' }, body: '{"id":"o1","qty":"many"}\n{"id":"o2","qty":2}' });
  assert.equal(res.status, 200, await res.text());
});
