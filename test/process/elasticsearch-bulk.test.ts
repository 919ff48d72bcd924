/**
 * The Elasticsearch `_bulk` route against a live node, with the official
 * `@elastic/elasticsearch` client (its product check, its bulk helper,
 * gzip bodies, the vendor media types it sends): documents land in their
 * index's table, read back through the export; a retried bulk stores
 * nothing twice; a duplicate `create` is a 409 item; items validation
 * refuses are 400 items while the rest is stored; the token works as
 * bearer, API key and basic-auth password, never from a browser. One node
 * for the whole file.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { Client, errors } from '@elastic/elasticsearch';
import net from 'node:net';
import { NodeProcess, TEST_TOKEN, http, sleep, tempDir } from './harness.ts';

const DOCS = 300;
let node: NodeProcess;
/** Run when the file ends, last registered first: the clients, then the node and its data dir. */
const cleanups: (() => Promise<void> | void)[] = [];
const fileScope = { after: (fn: () => Promise<void> | void) => void cleanups.push(fn) };

before(async () => {
  node = await NodeProcess.start(fileScope, { dataDir: tempDir(fileScope) });
});
after(async () => {
  for (const fn of cleanups.reverse()) await fn();
});

/** A client with the test token as bearer (`auth` overrides), closed when the file ends. */
function client(auth: ConstructorParameters<typeof Client>[0]['auth'] = { bearer: TEST_TOKEN }, extra: Partial<ConstructorParameters<typeof Client>[0]> = {}): Client {
  const c = new Client({ node: node.url, auth, maxRetries: 0, ...extra });
  fileScope.after(() => c.close());
  return c;
}

/** Every record of `table`, through sluice's own NDJSON export. */
async function exported(table: string): Promise<Record<string, any>[]> {
  const res = await http(`${node.url}/v1/tables/${table}/export?format=ndjson`);
  assert.equal(res.status, 200, res.text);
  return res.text.split('\n').filter((l) => l !== '').map((l) => JSON.parse(l) as Record<string, any>);
}

function doc(i: number): { id: string; '@timestamp': string; host: string; message: string; n: number } {
  return { id: `doc-${i}`, '@timestamp': new Date(Date.UTC(2026, 0, 1) + i * 1000).toISOString(), host: `h${i % 5}`, message: `line ${i}`, n: i };
}

test('info(): an Elasticsearch 8 version, accepted by the client\'s product check', async () => {
  const info = await client().info();
  assert.equal(info.version.number, '8.17.0');
  assert.equal(info.tagline, 'You Know, for Search');
  const head = await fetch(node.url, { method: 'HEAD', headers: { authorization: `Bearer ${TEST_TOKEN}` } });
  assert.equal(head.status, 200);
  assert.equal(head.headers.get('x-elastic-product'), 'Elasticsearch');
  const health = await client().cluster.health();
  assert.equal(health.status, 'green');
  assert.equal((await fetch(`${node.url}/_cat/health`, { method: 'HEAD', headers: { authorization: `Bearer ${TEST_TOKEN}` } })).status, 200);
  const browser = await fetch(node.url, { redirect: 'manual', headers: { accept: 'text/html,*/*;q=0.8', authorization: `Bearer ${TEST_TOKEN}` } });
  assert.equal(browser.status, 200, 'a browser gets the status page, not the probe');
  assert.match(browser.headers.get('content-type') ?? '', /^text\/html/);
});

test('the bulk helper, gzip, several requests at once: every document lands once, with its fields and time', async () => {
  const es = client({ bearer: TEST_TOKEN }, { compression: true });
  const docs = Array.from({ length: DOCS }, (_, i) => doc(i));
  const dropped: unknown[] = [];
  const bulk = () =>
    es.helpers.bulk({
      datasource: docs,
      // Small flushes: several requests in flight at once.
      flushBytes: 8 * 1024,
      concurrency: 3,
      onDocument: (d) => ({ index: { _index: 'app-logs', _id: d.id } }),
      onDrop: (d) => dropped.push(d),
      // POST /_all/_refresh at the end (a 404 would fail the helper): a no-op, what sluice answered is readable.
      refreshOnCompletion: true,
    });
  const stats = await bulk();
  assert.deepEqual(dropped, []);
  assert.equal(stats.successful, DOCS);
  assert.equal(stats.failed, 0);
  const stored = await exported('es_app_logs');
  assert.equal(stored.length, DOCS);
  const byId = new Map(stored.map((r) => [r['doc_id'] as string, r]));
  for (const d of docs) {
    const r = byId.get(d.id);
    assert.ok(r !== undefined, d.id);
    assert.equal(r['es_index'], 'app-logs');
    assert.equal(r['ts'], Date.parse(d['@timestamp']), 'the event time is @timestamp');
    assert.deepEqual(r['doc'], d);
  }
  // A retry of the whole bulk (a shipper that lost the answer): _id is the primary key, nothing twice.
  const again = await bulk();
  assert.equal(again.successful, DOCS);
  const after2 = await exported('es_app_logs');
  assert.equal(after2.length, DOCS);
  assert.deepEqual(new Set(after2.map((r) => r['_id'])), new Set(stored.map((r) => r['_id'])), 'each document kept its sluice id');
});

test('per item: a duplicate create is 409, a refused document 400, update/delete 400; the rest is stored', async () => {
  const es = client();
  const res = await es.bulk({
    operations: [
      { create: { _index: 'dups', _id: 'k1' } },
      { message: 'first' },
      { create: { _index: 'dups', _id: 'k2' } },
      { message: 'second', '@timestamp': { not: 'a time' } },
      { index: { _index: 'dups' } },
      { message: 'no id' },
      { delete: { _index: 'dups', _id: 'k1' } },
    ],
  });
  assert.equal(res.errors, true);
  const items = res.items.map((i) => Object.entries(i)[0] as [string, { status: number; error?: { type: string; reason?: string | null } }]);
  assert.deepEqual(items.map(([a, b]) => [a, b.status]), [['create', 201], ['create', 400], ['index', 201], ['delete', 400]]);
  assert.match(items[1]?.[1].error?.reason ?? '', /@timestamp/);
  const dup = await es.bulk({ operations: [{ create: { _index: 'dups', _id: 'k1' } }, { message: 'again' }] });
  const [action, body] = Object.entries(dup.items[0] ?? {})[0] as [string, { status: number; error?: { type: string } }];
  assert.equal(action, 'create');
  assert.equal(body.status, 409);
  assert.equal(body.error?.type, 'version_conflict_engine_exception');
  // An _id past --key-bytes-max and a document nested too deep are refused alone.
  const limits = await es.bulk({
    operations: [{ create: { _index: 'dups', _id: 'x'.repeat(2000) } }, { m: 1 }, { index: { _index: 'dups' } }, JSON.parse(`${'{"a":'.repeat(40)}1${'}'.repeat(40)}`), { create: { _index: 'dups', _id: 'k3' } }, { m: 3 }],
  });
  assert.deepEqual(
    limits.items.map((i) => [Object.values(i)[0]?.status, Object.values(i)[0]?.error?.type]),
    [[400, 'document_parsing_exception'], [400, 'document_parsing_exception'], [201, undefined]],
  );
  const stored = await exported('es_dups');
  assert.equal(stored.length, 3, 'k1, the document without an id, k3');
  // A table made by hand under an index's name is not written into: its items are refused, the others stored.
  const manual = await http(`${node.url}/v1/tables`, { method: 'POST', body: JSON.stringify({ name: 'es_manual', shardKey: 'host', fields: [{ name: 'host', type: 'string', required: true }] }), headers: { 'content-type': 'application/json' } });
  assert.equal(manual.status, 201, manual.text);
  const mixed = await es.bulk({ operations: [{ index: { _index: 'manual' } }, { host: 'h' }, { index: { _index: 'dups', _id: 'k4' } }, { m: 4 }] });
  assert.deepEqual(mixed.items.map((i) => Object.values(i)[0]?.status), [409, 201]);
  assert.match(mixed.items[0]?.index?.error?.reason ?? '', /es_manual exists but cannot take Elasticsearch documents/);
  assert.equal((await exported('es_manual')).length, 0);
  assert.deepEqual(stored.find((r) => r['doc_id'] === 'k1')?.['doc'], { message: 'first' }, 'a create never overwrites');
});

test('made-up ids (written without primary-key lookups) are new; a given _id equal to one still replaces it, create of it 409s; a resend without _id stores twice', async () => {
  type Item = { status: number; _id: string; result?: string; error?: { type: string } };
  const post = async (ops: unknown[]): Promise<Item[]> => {
    const body = `${ops.map((o) => JSON.stringify(o)).join('\n')}\n`;
    const res = await http(`${node.url}/_bulk`, { method: 'POST', body, headers: { 'content-type': 'application/x-ndjson' } });
    assert.equal(res.status, 200, res.text);
    return (JSON.parse(res.text) as { items: Record<string, Item>[] }).items.map((i) => Object.values(i)[0] as Item);
  };
  const docs = Array.from({ length: 50 }, (_, i) => [{ index: { _index: 'minted' } }, { n: i }]).flat();
  const first = await post(docs);
  assert.deepEqual(new Set(first.map((i) => `${i.status} ${i.result}`)), new Set(['201 created']));
  const ids = first.map((i) => i._id);
  assert.equal(new Set(ids).size, 50);
  assert.ok(ids.every((id) => /^[A-Za-z0-9_-]{20}$/.test(id)), 'as Elasticsearch\'s own: 20 URL-safe characters');
  assert.deepEqual([...ids].sort(), ids, 'time-ordered: they sort as text in the order they were made (doc-ids.ts)');
  // The sender learnt the made-up ids from the answer: a given _id is looked up, alone or beside made-up ones.
  const again = await post([{ index: { _index: 'minted', _id: ids[0] } }, { n: 'replaced' }, { create: { _index: 'minted', _id: ids[1] } }, { n: 'no' }, { index: { _index: 'minted' } }, { n: 'new' }]);
  assert.deepEqual(again.map((i) => [i.status, i._id === ids[0] || i._id === ids[1]]), [[200, true], [409, true], [201, false]]);
  let stored = await exported('es_minted');
  assert.equal(stored.length, 51);
  assert.deepEqual(stored.find((r) => r['doc_id'] === ids[0])?.['doc'], { n: 'replaced' }, 'index of a made-up id replaces its document');
  assert.deepEqual(stored.find((r) => r['doc_id'] === ids[1])?.['doc'], { n: 1 }, 'create never overwrites');
  // Without _id a resend is a new set of documents, as in Elasticsearch (docs/protocols.md).
  const resent = await post(docs);
  assert.ok(resent.every((i) => i.status === 201 && !ids.includes(i._id)));
  assert.ok(resent.every((i) => i._id > (ids.at(-1) as string)), 'a later request\'s made-up ids sort after an earlier one\'s');
  stored = await exported('es_minted');
  assert.equal(stored.length, 101);
  assert.equal(new Set(stored.map((r) => r['doc_id'])).size, 101, 'no made-up id met an existing one');
});

test('a shipper\'s uniform body (one action line, no _id) is answered exactly as the general plan answers the same documents', async () => {
  type Item = Record<string, { _index: string; _id?: string; status: number; result?: string; error?: { type: string; reason: string } }>;
  const post = async (path: string, lines: unknown[]): Promise<{ errors: boolean; items: Item[] }> => {
    // Blank lines between ops, as rsyslog writes them.
    const body = `${lines.map((o) => (typeof o === 'string' ? o : JSON.stringify(o))).join('\n\n')}\n`;
    const res = await http(`${node.url}${path}`, { method: 'POST', body, headers: { 'content-type': 'application/json' } });
    assert.equal(res.status, 200, res.text);
    assert.equal(res.headers.get('x-elastic-product'), 'Elasticsearch');
    return JSON.parse(res.text) as { errors: boolean; items: Item[] };
  };
  const docs = [{ m: 1 }, '[1]', { m: 2, '@timestamp': { not: 'a time' } }, '{"m":', { m: 3, '@timestamp': '2026-12-05T10:00:00Z' }, JSON.parse(`${'{"a":'.repeat(40)}1${'}'.repeat(40)}`)];
  const masked = (items: Item[]) => items.map((i) => Object.fromEntries(Object.entries(i).map(([a, b]) => [a, { ...b, _id: typeof b._id === 'string' && b._id.length === 20 ? 'made-up' : b._id }])));
  for (const [path, action] of [['/uniform/_bulk', { create: {} }], ['/_bulk', { index: { _index: 'uniform' } }]] as const) {
    const uniform = await post(path, docs.flatMap((d) => [action, d]));
    // The same documents and one more op of another kind: the general plan answers them.
    const general = await post(path, [...docs.flatMap((d) => [action, d]), { delete: { _index: 'uniform', _id: 'x' } }]);
    assert.equal(uniform.errors, true);
    assert.deepEqual(masked(uniform.items), masked(general.items.slice(0, docs.length)), path);
    assert.deepEqual(uniform.items.map((i) => Object.values(i)[0]?.status), [201, 400, 400, 400, 201, 400]);
  }
  // All stored: the answer is the template; the ids are new, in order, and land with their documents.
  const ok = await post('/uniform/_bulk', Array.from({ length: 300 }, (_, n) => [{ index: {} }, { n }]).flat());
  assert.equal(ok.errors, false);
  const ids = ok.items.map((i) => i['index']?._id as string);
  assert.deepEqual(new Set(ok.items.map((i) => `${i['index']?._index} ${i['index']?.status} ${i['index']?.result}`)), new Set(['uniform 201 created']));
  assert.deepEqual([...ids].sort(), ids);
  const stored = await exported('es_uniform');
  assert.deepEqual(ids.map((id) => stored.find((r) => r['doc_id'] === id)?.['doc']), Array.from({ length: 300 }, (_, n) => ({ n })));
  // A uniform body into a table that cannot take documents is refused per item, as the general plan does.
  const manual = await post('/manual/_bulk', [{ index: {} }, { host: 'h' }, { index: {} }, { host: 'i' }]);
  assert.deepEqual(manual.items.map((i) => Object.values(i)[0]?.status), [409, 409]);
});

test('media types: the NDJSON spellings are read alike; a broken pairing is 400 with nothing written, a form type 415, both with the product header', async () => {
  const send = (body: string, type = 'application/x-ndjson') =>
    fetch(`${node.url}/broken/_bulk`, { method: 'POST', body, headers: { authorization: `Bearer ${TEST_TOKEN}`, 'content-type': type } });
  const broken = await send('{"index":{}}\n{"a":1}\n{"index":{}}\n');
  assert.equal(broken.status, 400);
  assert.equal(broken.headers.get('x-elastic-product'), 'Elasticsearch');
  assert.equal(((await broken.json()) as { error: { code: string } }).error.code, 'BAD_REQUEST');
  const tables = await http(`${node.url}/v1/tables`);
  assert.ok(!JSON.stringify(tables.body).includes('es_broken'), 'nothing written, no table made');
  const form = await send('{"index":{}}\n{"a":1}\n', 'application/x-www-form-urlencoded');
  assert.equal(form.status, 415);
  assert.equal(form.headers.get('x-elastic-product'), 'Elasticsearch');
  // Every NDJSON spelling shippers use is read the same way.
  for (const type of ['application/vnd.elasticsearch+x-ndjson; compatible-with=8', 'application/json; charset=utf-8', 'application/x-ndjson']) {
    const ok = await fetch(`${node.url}/types/_bulk`, { method: 'PUT', body: '{"index":{}}\n{"a":1}\n', headers: { authorization: `Bearer ${TEST_TOKEN}`, 'content-type': type } });
    assert.equal(ok.status, 200, type);
    assert.equal(((await ok.json()) as { errors: boolean }).errors, false, type);
  }
  assert.equal((await exported('es_types')).length, 3);
});

test('credentials: bearer, API key and basic-auth password carry the token; scopes hold per index; no token is 401 with the product header', async () => {
  const made = await http(`${node.url}/v1/auth/tokens`, { method: 'POST', body: JSON.stringify({ name: 'shipper', scopes: ['write:es_ship*'] }), headers: { 'content-type': 'application/json' } });
  assert.equal(made.status, 201, made.text);
  const token = (made.body as { token: string }).token;
  const ops = [{ index: { _index: 'ship-a', _id: '1' } }, { m: 1 }, { index: { _index: 'other', _id: '2' } }, { m: 2 }];
  // The second send writes _id 1 again: updated, not created.
  for (const [auth, first] of [[{ apiKey: token }, 201], [{ username: 'rsyslog', password: token }, 200]] as const) {
    const res = await client(auth).bulk({ operations: ops });
    assert.deepEqual(res.items.map((i) => Object.values(i)[0]?.status), [first, 403], 'write:es_ship* may write ship-a, not other');
    assert.equal(res.items[1]?.index?.error?.type, 'security_exception');
  }
  assert.equal((await exported('es_ship_a')).length, 1);
  await assert.rejects(client({ bearer: 'slc_not_a_token' }).info(), (err: unknown) => {
    assert.ok(err instanceof errors.ResponseError);
    assert.equal(err.statusCode, 401);
    assert.equal(err.headers?.['x-elastic-product'], 'Elasticsearch');
    return true;
  });
  // A browser replays basic credentials on its own: not accepted with an Origin.
  const fromPage = await fetch(`${node.url}/_bulk`, {
    method: 'POST',
    body: '{"index":{"_index":"ship-b"}}\n{"m":1}\n',
    headers: { authorization: `Basic ${Buffer.from(`u:${token}`).toString('base64')}`, 'content-type': 'application/json', origin: 'https://evil.example' },
  });
  assert.equal(fromPage.status, 403);
  // Basic auth is a shipper-route form only: the native API still wants the bearer header.
  const native = await http(`${node.url}/v1/tables`, { headers: { authorization: `Basic ${Buffer.from(`u:${TEST_TOKEN}`).toString('base64')}` } });
  assert.equal(native.status, 401);
});

test('overload: the whole request is 429 with Retry-After and the product header, what the clients retry; nothing written', async () => {
  // Bodies that never finish hold their admission: four of --body-bytes-max (16 MiB) fill --in-flight-bytes-max (64 MiB).
  const holds: net.Socket[] = [];
  for (let i = 0; i < 4; i++) {
    const socket = net.connect(Number(new URL(node.url).port), '127.0.0.1');
    socket.on('error', () => undefined);
    socket.write(`POST /_bulk HTTP/1.1\r\nhost: 127.0.0.1\r\nauthorization: Bearer ${TEST_TOKEN}\r\ncontent-type: application/x-ndjson\r\ncontent-length: ${16 * 1024 * 1024}\r\n\r\n{"index":{}}\n`);
    holds.push(socket);
  }
  try {
    await sleep(300);
    await assert.rejects(client().bulk({ operations: [{ index: { _index: 'overload' } }, { m: 1 }] }), (err: unknown) => {
      assert.ok(err instanceof errors.ResponseError, String(err));
      assert.equal(err.statusCode, 429);
      assert.equal(err.headers?.['retry-after'], '1');
      assert.equal(err.headers?.['x-elastic-product'], 'Elasticsearch');
      // Both error shapes: sluice's code, Elasticsearch's type (which the client puts in its message).
      const body = err.body as { error: { code: string; type: string }; status: number };
      assert.equal(body.error.code, 'OVERLOADED');
      assert.equal(body.error.type, 'es_rejected_execution_exception');
      assert.equal(body.status, 429);
      assert.match(err.message, /es_rejected_execution_exception/);
      return true;
    });
  } finally {
    for (const s of holds) s.destroy();
  }
  const tables = await http(`${node.url}/v1/tables`);
  assert.ok(!JSON.stringify(tables.body).includes('es_overload'), 'nothing written');
  // Room again once the held bodies are gone.
  let status = 0;
  for (let i = 0; i < 50 && status !== 200; i++) {
    status = (await fetch(`${node.url}/_bulk`, { method: 'POST', body: '{"index":{"_index":"overload"}}\n{"m":2}\n', headers: { authorization: `Bearer ${TEST_TOKEN}`, 'content-type': 'application/json' } })).status;
    if (status !== 200) await sleep(100);
  }
  assert.equal(status, 200);
});
