/**
 * Schema evolution seen from the HTTP API of an in-process node, as an
 * operator uses it: two operators patching one table at once, binary
 * protobuf writes to a table whose schema moved on from its message, alias
 * expiry, and an export that runs while the schema changes.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { pino } from 'pino';
import protobuf from 'protobufjs';
import { resolveConfig } from '../../../src/config.ts';
import { SluiceNode } from '../../../src/sluice-node.ts';
import { tempDir } from '../../support/temp-dir.ts';
import { authHeaders, TEST_TOKEN } from '../../support/auth.ts';

let node: SluiceNode;
let base = '';

after(async () => {
  await node?.stop();
});
const dir = tempDir({ after }, 'sluice-evolution-');

/** Alias grace period of this node: short, so a test can outlive it. */
const ALIAS_TTL_MS = 300;

before(async () => {
  const config = resolveConfig({ dataDir: dir, httpPort: 0, bootstrapToken: TEST_TOKEN, diskFreeBytesMin: 0, auditLog: 'off', aliasTtlMs: ALIAS_TTL_MS });
  node = await SluiceNode.start(config, pino({ level: 'silent' }));
  base = node.url;
});

type Reply = { status: number; text: string; json: Record<string, unknown> };

async function call(method: string, path: string, body?: unknown, contentType = 'application/json'): Promise<Reply> {
  const res = await fetch(`${base}${path}`, {
    method,
    headers: { ...authHeaders(), ...(body === undefined ? {} : { 'content-type': contentType }) },
    ...(body === undefined ? {} : { body: body instanceof Uint8Array ? body : JSON.stringify(body) }),
  });
  const text = await res.text();
  return { status: res.status, text, json: text === '' ? {} : (JSON.parse(text) as Record<string, unknown>) };
}

function errorCode(r: Reply): unknown {
  return (r.json['error'] as { code?: unknown } | undefined)?.code;
}

test('two operators patching one table at once: one wins, the other gets 409, no change is lost', async () => {
  const base = [{ name: 'k', type: 'string', required: true }];
  const created = await call('POST', '/v1/tables', { name: 'race', shardKey: 'k', fields: base });
  assert.equal(created.status, 201, created.text);
  // Each operator described version 1 and sends it back with one new field.
  const [a, b] = await Promise.all([
    call('PATCH', '/v1/tables/race/schema', { fields: [...base, { name: 'from_a', type: 'string' }] }),
    call('PATCH', '/v1/tables/race/schema', { fields: [...base, { name: 'from_b', type: 'string' }] }),
  ]);
  const statuses = [a.status, b.status].sort();
  assert.deepEqual(statuses, [200, 409], `${a.text}\n${b.text}`);
  const loser = a.status === 409 ? a : b;
  assert.equal(errorCode(loser), 'SCHEMA_INCOMPATIBLE', loser.text);
  const now = await call('GET', '/v1/tables/race');
  const names = (now.json['fields'] as { name: string }[]).map((f) => f.name);
  const winner = a.status === 200 ? 'from_a' : 'from_b';
  assert.deepEqual(names, ['k', winner], now.text);
  assert.equal(now.json['version'], 2, 'one change, one new version');
});

test('a patch that repeats the current schema after a concurrent change is no conflict', async () => {
  const fields = [{ name: 'k', type: 'string', required: true }, { name: 'x', type: 'string' }];
  assert.equal((await call('POST', '/v1/tables', { name: 'same', shardKey: 'k', fields: fields.slice(0, 1) })).status, 201);
  const [a, b] = await Promise.all([call('PATCH', '/v1/tables/same/schema', { fields }), call('PATCH', '/v1/tables/same/schema', { fields })]);
  assert.deepEqual([a.status, b.status], [200, 200], `${a.text}\n${b.text}`);
  assert.equal((await call('GET', '/v1/tables/same')).json['version'], 2);
});

const PROTO = 'syntax = "proto3"; package shop; message Sale { string store = 1; int64 cents = 2; string note = 3; }';

function delimited(messages: readonly Uint8Array[]): Uint8Array {
  const w = protobuf.Writer.create();
  for (const m of messages) w.bytes(m);
  return w.finish();
}

test('protobuf writes keep working after the table renames and removes fields of its message, past the alias grace period', async () => {
  const created = await call('POST', '/v1/tables', { name: 'sales', shardKey: 'store', proto: { message: 'shop.Sale', source: PROTO } });
  assert.equal(created.status, 201, created.text);
  const fields = created.json['fields'] as { id: number; name: string; type: string }[];
  // cents → amount_cents (old name as alias), note removed (optional).
  const renamed = fields.filter((f) => f.name !== 'note').map((f) => (f.name === 'cents' ? { ...f, name: 'amount_cents', aliases: ['cents'] } : f));
  const patched = await call('PATCH', '/v1/tables/sales/schema', { fields: renamed });
  assert.equal(patched.status, 200, patched.text);
  const Sale = protobuf.parse(PROTO, { keepCase: true }).root.lookupType('shop.Sale');
  const message = (i: number): Uint8Array => Sale.encode(Sale.fromObject({ store: `s${i}`, cents: 100 + i, note: `n${i}` })).finish();
  const write = (i: number): Promise<Reply> => call('POST', '/v1/tables/sales/records', delimited([message(i)]), 'application/x-protobuf');
  const early = await write(1);
  assert.equal(early.status, 200, early.text);
  // The message cannot change with the schema (a binding is fixed): its names must keep mapping after the alias expires.
  await new Promise((resolve) => setTimeout(resolve, ALIAS_TTL_MS + 50));
  const late = await write(2);
  assert.equal(late.status, 200, late.text);
  const rows = (await call('GET', '/v1/tables/sales/records?key=s2')).json['records'] as Record<string, unknown>[];
  assert.equal(rows[0]?.['amount_cents'], 102, JSON.stringify(rows));
  assert.equal('note' in (rows[0] ?? {}), false);
});

test('a JSON write under a renamed field\'s old name is refused with ALIAS_EXPIRED once the grace period is over', async () => {
  const fields = [{ name: 'k', type: 'string', required: true }, { name: 'n', type: 'int' }];
  assert.equal((await call('POST', '/v1/tables', { name: 'aged', shardKey: 'k', fields })).status, 201);
  const patched = await call('PATCH', '/v1/tables/aged/schema', { fields: [fields[0], { name: 'count', type: 'int', aliases: ['n'] }] });
  assert.equal(patched.status, 200, patched.text);
  const ok = await call('POST', '/v1/tables/aged/records', { k: 'a', n: 1 });
  assert.equal(ok.status, 200, ok.text);
  await new Promise((resolve) => setTimeout(resolve, ALIAS_TTL_MS + 50));
  const refused = await call('POST', '/v1/tables/aged/records', { k: 'b', n: 2 });
  assert.equal(refused.status, 400, refused.text);
  assert.match(refused.text, /ALIAS_EXPIRED/);
  const rows = (await call('GET', '/v1/tables/aged/records?key=a')).json['records'] as Record<string, unknown>[];
  assert.equal(rows[0]?.['count'], 1, JSON.stringify(rows));
});

test('an export running while the schema changes and records are rewritten under the new version reads every record', { timeout: 60_000 }, async () => {
  const fields = [{ name: 'k', type: 'string', required: true }, { name: 'n', type: 'int' }, { name: 'pad', type: 'string' }];
  assert.equal((await call('POST', '/v1/tables', { name: 'moving', shardKey: 'k', primaryKey: 'k', fields })).status, 201);
  const pad = 'x'.repeat(200);
  const rows = (n: number, extra: Record<string, unknown>): string => Array.from({ length: n }, (_, i) => JSON.stringify({ k: `k${i}`, n: i, pad, ...extra })).join('\n');
  const COUNT = 30_000;
  const first = await call('POST', '/v1/tables/moving/records', new TextEncoder().encode(rows(COUNT, {})), 'application/x-ndjson');
  assert.equal(first.status, 200, first.text.slice(0, 300));
  const res = await fetch(`${base}/v1/tables/moving/export?format=ndjson`, { headers: authHeaders() });
  assert.equal(res.status, 200);
  const reader = (res.body as ReadableStream<Uint8Array>).getReader();
  let text = '';
  const chunk = await reader.read();
  text += new TextDecoder().decode(chunk.value);
  // While the export is under way: a new field, and every record written again under the new version.
  const patched = await call('PATCH', '/v1/tables/moving/schema', { fields: [...fields, { name: 'note', type: 'string' }] });
  assert.equal(patched.status, 200, patched.text);
  const again = await call('POST', '/v1/tables/moving/records', new TextEncoder().encode(rows(COUNT, { note: 'v2' })), 'application/x-ndjson');
  assert.equal(again.status, 200, again.text.slice(0, 300));
  for (;;) {
    const next = await reader.read().catch((err: unknown) => ({ done: true, value: undefined, err }));
    if (next.done === true) {
      assert.equal('err' in next ? next.err : undefined, undefined, 'the export stream failed');
      break;
    }
    text += new TextDecoder().decode(next.value);
  }
  const lines = text.split('\n').filter((l) => l !== '');
  assert.equal(lines.length, COUNT, 'every record once');
  // One shape for the whole export: the schema it started with, whatever version a record was rewritten under.
  const shapes = new Set(lines.map((l) => Object.keys(JSON.parse(l) as object).join(',')));
  assert.deepEqual([...shapes], ['_id,k,n,pad,_ingested_at']);
});
