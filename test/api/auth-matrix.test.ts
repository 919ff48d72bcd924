/**
 * The route matrix (CockroachDB's TestSSLEnforcement): every HTTP route a
 * real node registers and every gRPC Ingest method, against no token, a
 * malformed one, a wrong secret, an unknown id, an expired and a revoked
 * token (401 each), a token without the route's scope (403), one with
 * exactly that scope and the admin token (neither refused). A route the
 * node registers that is missing here fails the test, and so does an
 * entry here that the node no longer has.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { isDeepStrictEqual } from 'node:util';
import { pino } from 'pino';
import { Metadata, credentials, loadPackageDefinition, type Client, type ServiceError } from '@grpc/grpc-js';
import { loadSync } from '@grpc/proto-loader';
import { resolveConfig } from '../../src/config.ts';
import { SluiceNode } from '../../src/sluice-node.ts';
import { formatToken, generateToken, tokenParts } from '../../src/security/token-format.ts';
import { ROOT, tempDir } from '../process/harness.ts';
import { TEST_TOKEN } from '../support/auth.ts';

/** One credential of the matrix and the status class it must get. */
type BadCredential = 'malformed' | 'wrong-secret' | 'unknown-id' | 'expired' | 'revoked';
const REFUSED_401: ('none' | BadCredential)[] = ['none', 'malformed', 'wrong-secret', 'unknown-id', 'expired', 'revoked'];

interface Entry {
  /** Scopes that grant the route (undefined: public; [] : any valid token). */
  readonly right?: readonly string[];
  /** Scopes that do not. */
  readonly wrong?: readonly string[];
  /** The request, made fresh per call (n counts calls, for unique names). */
  readonly request: (n: number) => Req;
  /** Statuses a granted call may get (handlers judge the input after auth). */
  readonly ok: readonly number[];
  /** The status without any credential when it is not 401 (a browser page redirects to its sign-in form). */
  readonly noneStatus?: number;
}

type Req = { path: string; body?: string; type?: string; accept?: string };

const LEDGER = { name: 'ledger', shardKey: 'account', fields: [{ name: 'account', type: 'string', required: true }, { name: 'amount', type: 'int' }] };
let ledgerFields: object[] = [...LEDGER.fields];
/** One OTLP/JSON log record (its table is created by the first write that a `write` scope grants). */
const OTLP_LOGS_BODY = JSON.stringify({ resourceLogs: [{ scopeLogs: [{ logRecords: [{ body: { stringValue: 'matrix' } }] }] }] });

const MATRIX: Record<string, Entry> = {
  'GET /healthz': { request: () => ({ path: '/healthz' }), ok: [200] },
  'GET /readyz': { request: () => ({ path: '/readyz' }), ok: [200] },
  'GET /v1/sources': { right: ['ops'], wrong: ['write:*'], request: () => ({ path: '/v1/sources' }), ok: [200] },
  'GET /metrics': { right: ['ops'], wrong: ['read:*'], request: () => ({ path: '/metrics' }), ok: [200] },
  'GET /debug/profile': { right: ['admin'], wrong: ['ops', 'cluster', 'write:*'], request: () => ({ path: '/debug/profile?seconds=1' }), ok: [200] },
  'GET /debug/allocations': { right: ['admin'], wrong: ['ops', 'cluster', 'write:*'], request: () => ({ path: '/debug/allocations?seconds=1' }), ok: [200] },
  'GET /debug/heap': { right: ['admin'], wrong: ['ops'], request: () => ({ path: '/debug/heap' }), ok: [200] },
  'POST /v1/tables': { right: ['schema:matrix_*'], wrong: ['schema:other', 'write:*'], request: (n) => ({ path: '/v1/tables', body: JSON.stringify({ ...LEDGER, name: `matrix_${n}` }), type: 'application/json' }), ok: [201] },
  'GET /v1/tables': { right: [], request: () => ({ path: '/v1/tables' }), ok: [200] },
  'GET /v1/tables/:table': { right: ['read:ledger'], wrong: ['read:other', 'ops'], request: () => ({ path: '/v1/tables/ledger' }), ok: [200] },
  // Settings only (an event-time bound): a rate limit here would throttle the matrix's own writes to ledger.
  'PATCH /v1/tables/:table': { right: ['schema:ledger'], wrong: ['write:ledger', 'read:ledger'], request: (n) => ({ path: '/v1/tables/ledger', body: JSON.stringify({ limits: { eventTimeAheadMsMax: 3_600_000 + n } }), type: 'application/json' }), ok: [200] },
  'PATCH /v1/tables/:table/schema': {
    right: ['schema:ledger'],
    wrong: ['write:ledger', 'read:ledger'],
    request: (n) => {
      ledgerFields = [...ledgerFields, { name: `extra_${n}`, type: 'string' }];
      return { path: '/v1/tables/ledger/schema', body: JSON.stringify({ fields: ledgerFields }), type: 'application/json' };
    },
    ok: [200],
  },
  'POST /v1/tables/:table/records': { right: ['write:ledger'], wrong: ['read:ledger', 'write:ledgerX', 'schema:ledger'], request: () => ({ path: '/v1/tables/ledger/records', body: '{"account":"a","amount":1}', type: 'application/json' }), ok: [200, 201] },
  'POST /ingest': { right: ['write:events'], wrong: ['write:ledger'], request: () => ({ path: '/ingest', body: '{"trace_id":"t"}', type: 'application/json' }), ok: [200, 201] },
  'POST /v1/logs': { right: ['write:otel_logs'], wrong: ['write:ledger', 'read:otel_logs'], request: () => ({ path: '/v1/logs', body: OTLP_LOGS_BODY, type: 'application/json' }), ok: [200] },
  'POST /otlp/:table/v1/logs': { right: ['write:app_logs'], wrong: ['write:otel_logs', 'read:app_logs'], request: () => ({ path: '/otlp/app_logs/v1/logs', body: OTLP_LOGS_BODY, type: 'application/json' }), ok: [200] },
  'POST /v1/tables/:table/dead_letters': {
    right: ['write:led*'],
    wrong: ['read:ledger'],
    request: () => ({ path: '/v1/tables/ledger/dead_letters', body: '{"record":{"account":"c"},"code":"SCHEMA_VIOLATION","message":"refused by the client"}', type: 'application/json' }),
    ok: [200],
  },
  'POST /v1/tables/:table/import': { right: ['write:led*'], wrong: ['read:ledger'], request: () => ({ path: '/v1/tables/ledger/import', body: 'account,amount\nb,2\n', type: 'text/csv' }), ok: [200, 201] },
  'GET /v1/tx/:id': { right: ['write:ledger'], wrong: ['read:*', 'ops'], request: () => ({ path: '/v1/tx/12345' }), ok: [200] },
  'GET /v1/tables/:table/records/:id': { right: ['read:ledger'], wrong: ['write:ledger'], request: () => ({ path: '/v1/tables/ledger/records/1' }), ok: [404] },
  'GET /v1/tables/:table/records': { right: ['read:*'], wrong: ['write:*', 'read:other'], request: () => ({ path: '/v1/tables/ledger/records?key=a' }), ok: [200] },
  'GET /v1/tables/:table/export': { right: ['read:ledger'], wrong: ['schema:ledger'], request: () => ({ path: '/v1/tables/ledger/export' }), ok: [200] },
  'GET /v1/cluster': { right: ['ops'], wrong: ['cluster', 'read:*'], request: () => ({ path: '/v1/cluster' }), ok: [200] },
  // A single node has no replicas: the cluster actions answer 400 once authorized.
  'POST /v1/cluster/repair': { right: ['cluster'], wrong: ['ops'], request: () => ({ path: '/v1/cluster/repair' }), ok: [400] },
  'POST /v1/cluster/cleanup': { right: ['cluster'], wrong: ['ops'], request: () => ({ path: '/v1/cluster/cleanup' }), ok: [400] },
  'POST /v1/cluster/nodes/:id/decommission': { right: ['cluster'], wrong: ['ops', 'write:*'], request: () => ({ path: '/v1/cluster/nodes/n9/decommission' }), ok: [400] },
  'DELETE /v1/cluster/nodes/:id/decommission': { right: ['cluster'], wrong: ['ops'], request: () => ({ path: '/v1/cluster/nodes/n9/decommission' }), ok: [400] },
  'GET /ready': { request: () => ({ path: '/ready' }), ok: [200] },
  'POST /loki/api/v1/push': {
    right: ['write:loki_logs'],
    wrong: ['read:loki_logs', 'write:ledger'],
    request: (n) => ({ path: '/loki/api/v1/push', body: JSON.stringify({ streams: [{ stream: { app: 'matrix' }, values: [[String(n), 'line']] }] }), type: 'application/json' }),
    ok: [204],
  },
  'GET /status': { right: ['ops'], wrong: ['read:*', 'cluster'], request: () => ({ path: '/status' }), ok: [200] },
  // For browsers only (Accept prefers text/html): without credentials they are sent to the sign-in form.
  'GET /': { right: ['ops'], wrong: ['write:*'], request: () => ({ path: '/', accept: 'text/html' }), ok: [200], noneStatus: 303 },
  'GET /status/sign-in': { request: () => ({ path: '/status/sign-in' }), ok: [200] },
  // A form post without this node's Origin is refused before the token is looked at.
  'POST /status/sign-in': { request: () => ({ path: '/status/sign-in', body: 'token=x', type: 'application/x-www-form-urlencoded' }), ok: [403] },
  'POST /status/sign-out': { request: () => ({ path: '/status/sign-out' }), ok: [403] },
  'GET /v1/auth/whoami': { right: [], request: () => ({ path: '/v1/auth/whoami' }), ok: [200] },
  'GET /v1/auth/tokens': { right: ['admin'], wrong: ['ops', 'cluster'], request: () => ({ path: '/v1/auth/tokens' }), ok: [200] },
  'POST /v1/auth/tokens': { right: ['admin'], wrong: ['cluster', 'schema:*'], request: () => ({ path: '/v1/auth/tokens', body: '{"name":"made","scopes":["read:x"]}', type: 'application/json' }), ok: [201] },
  'DELETE /v1/auth/tokens/:id': { right: ['admin'], wrong: ['ops'], request: () => ({ path: '/v1/auth/tokens/0000000000000000' }), ok: [404] },
  'POST /v1/auth/tokens/:id/rotate': { right: ['admin'], wrong: ['ops'], request: () => ({ path: '/v1/auth/tokens/0000000000000000/rotate' }), ok: [404] },
  // Elasticsearch _bulk: the tables are named in the body, so write on some table before it is read (docs/protocols.md).
  'POST /_bulk': { right: ['write:es_matrix*'], wrong: ['read:*', 'ops'], request: () => ({ path: '/_bulk', body: '{"index":{"_index":"matrix"}}\n{"a":1}\n', type: 'application/x-ndjson' }), ok: [200] },
  'PUT /_bulk': { right: ['write:es_matrix*'], wrong: ['schema:*'], request: () => ({ path: '/_bulk', body: '{"index":{"_index":"matrix"}}\n{"a":1}\n', type: 'application/json' }), ok: [200] },
  'POST /:index/_bulk': { right: ['write:es_matrix'], wrong: ['read:es_matrix'], request: () => ({ path: '/matrix/_bulk', body: '{"index":{}}\n{"a":1}\n', type: 'application/x-ndjson' }), ok: [200] },
  'PUT /:index/_bulk': { right: ['write:*'], wrong: ['ops'], request: () => ({ path: '/matrix/_bulk', body: '{"index":{}}\n{"a":1}\n', type: 'application/x-ndjson' }), ok: [200] },
  ...Object.fromEntries(
    ['/', '/_cluster/health', '/_cat/health', '/_license', '/_xpack', '/_nodes/http', '/_nodes', '/_index_template', '/_index_template/:name', '/_ilm/policy', '/_ilm/policy/:name', '/_ingest/pipeline', '/_ingest/pipeline/:name'].map((url) => [
      `GET ${url}`,
      { right: [], request: () => ({ path: url.replace(':name', 'x') }), ok: [200] },
    ]),
  ),
  'POST /_refresh': { right: [], request: () => ({ path: '/_refresh' }), ok: [200] },
  'GET /_refresh': { right: [], request: () => ({ path: '/_refresh' }), ok: [200] },
  'POST /:index/_refresh': { right: [], request: () => ({ path: '/matrix/_refresh' }), ok: [200] },
  'GET /:index/_refresh': { right: [], request: () => ({ path: '/matrix/_refresh' }), ok: [200] },
  'PUT /_index_template/:name': { right: [], request: () => ({ path: '/_index_template/x', body: '{}', type: 'application/json' }), ok: [200] },
  'PUT /_ilm/policy/:name': { right: [], request: () => ({ path: '/_ilm/policy/x', body: '{}', type: 'application/json' }), ok: [200] },
};

let node: SluiceNode;
let base = '';
const made = new Map<string, string>();
const tokens: Partial<Record<BadCredential, string>> = {};

async function call(method: string, req: Req, token: string | undefined): Promise<{ status: number; text: string; headers: Headers }> {
  const headers: Record<string, string> = {};
  if (token !== undefined) headers['authorization'] = `Bearer ${token}`;
  if (req.type !== undefined) headers['content-type'] = req.type;
  if (req.accept !== undefined) headers['accept'] = req.accept;
  const res = await fetch(`${base}${req.path}`, { method, headers, redirect: 'manual', ...(req.body === undefined ? {} : { body: req.body }) });
  const text = method === 'HEAD' ? '' : await res.text();
  return { status: res.status, text, headers: res.headers };
}

/** A token with exactly `scopes`, made once through the API. */
async function tokenWith(scopes: readonly string[]): Promise<string> {
  const key = scopes.join(' ');
  const known = made.get(key);
  if (known !== undefined) return known;
  const res = await call('POST', { path: '/v1/auth/tokens', body: JSON.stringify({ name: 'matrix', scopes: scopes.length === 0 ? ['read:nothing_here'] : scopes }), type: 'application/json' }, TEST_TOKEN);
  assert.equal(res.status, 201, res.text);
  const token = JSON.parse(res.text).token as string;
  made.set(key, token);
  return token;
}

// At the top level (a cleanup registered inside before() runs as soon as before() ends), and after the node stops.
after(async () => {
  await node?.stop();
});
const dir = tempDir({ after }, 'sluice-matrix-');

before(async () => {
  const config = resolveConfig({ dataDir: dir, httpPort: 0, grpcEnabled: true, grpcPort: 0, debugEndpoints: true, bootstrapToken: TEST_TOKEN, diskFreeBytesMin: 0, auditLog: 'off', authFailuresPerMinuteMax: 100_000 });
  node = await SluiceNode.start(config, pino({ level: process.env['MATRIX_LOG'] ?? 'silent' }));
  base = node.url;
  assert.equal((await call('POST', { path: '/v1/tables', body: JSON.stringify(LEDGER), type: 'application/json' }, TEST_TOKEN)).status, 201);
  const expiring = await call('POST', { path: '/v1/auth/tokens', body: '{"name":"soon","scopes":["admin"],"expires":"1s"}', type: 'application/json' }, TEST_TOKEN);
  const revoked = await call('POST', { path: '/v1/auth/tokens', body: '{"name":"gone","scopes":["admin"]}', type: 'application/json' }, TEST_TOKEN);
  const gone = JSON.parse(revoked.text) as { id: string; token: string };
  assert.equal((await call('DELETE', { path: `/v1/auth/tokens/${gone.id}` }, TEST_TOKEN)).status, 200);
  const admin = tokenParts(gone.token);
  assert.ok(admin !== undefined);
  tokens.malformed = 'slc_0123_not-a-token';
  tokens['wrong-secret'] = formatToken(admin.id, tokenParts(generateToken().token)?.secret ?? '');
  tokens['unknown-id'] = generateToken().token;
  tokens.expired = (JSON.parse(expiring.text) as { token: string }).token;
  tokens.revoked = gone.token;
  await new Promise((resolve) => setTimeout(resolve, 1_100));
});

test('every registered route is in the matrix and every matrix entry is registered', () => {
  const registered = new Set(node.routes().filter((r) => r.method !== 'HEAD').map((r) => `${r.method} ${r.url}`));
  assert.deepEqual([...registered].filter((r) => MATRIX[r] === undefined), [], 'routes missing from the matrix');
  assert.deepEqual(Object.keys(MATRIX).filter((r) => !registered.has(r)), [], 'matrix entries the node does not register');
  // HEAD routes (fastify adds one per GET) carry their GET's requirement.
  // `GET /` is two routes told apart by Accept (the status page for browsers, the Elasticsearch probe
  // for shippers, tested in test/process/elasticsearch-bulk.test.ts): a HEAD matches one of its GETs.
  for (const r of node.routes().filter((x) => x.method === 'HEAD')) {
    const gets = node.routes().filter((x) => x.method === 'GET' && x.url === r.url);
    assert.ok(gets.some((g) => isDeepStrictEqual(g.auth, r.auth)), `${r.url}: ${JSON.stringify(r.auth)} is none of its GETs' ${JSON.stringify(gets.map((g) => g.auth))}`);
  }
});

test('the matrix: 401 for the six bad credentials, 403 without the scope, granted with it and for admin', async () => {
  let n = 0;
  for (const [route, entry] of Object.entries(MATRIX)) {
    const [method = 'GET'] = route.split(' ');
    if (entry.right === undefined) {
      const res = await call(method, entry.request(n++), undefined);
      assert.ok(entry.ok.includes(res.status), `${route} public: ${res.status}`);
      continue;
    }
    for (const variant of REFUSED_401) {
      const token = variant === 'none' ? undefined : tokens[variant];
      const res = await call(method, entry.request(n++), token);
      if (variant === 'none' && entry.noneStatus !== undefined) {
        assert.equal(res.status, entry.noneStatus, `${route} without credentials: ${res.status} ${res.text}`);
        continue;
      }
      assert.equal(res.status, 401, `${route} with ${variant}: ${res.status} ${res.text}`);
      assert.match(res.headers.get('www-authenticate') ?? '', /^Bearer realm="sluice"/, `${route} ${variant}`);
      assert.equal(JSON.parse(res.text).error.code, 'UNAUTHENTICATED');
    }
    for (const scopes of entry.wrong ?? []) {
      const res = await call(method, entry.request(n++), await tokenWith([scopes]));
      assert.equal(res.status, 403, `${route} with ${scopes}: ${res.status} ${res.text}`);
      assert.equal(JSON.parse(res.text).error.code, 'PERMISSION_DENIED');
      assert.match(res.headers.get('www-authenticate') ?? '', /error="insufficient_scope"/);
    }
    for (const token of [await tokenWith(entry.right), TEST_TOKEN]) {
      const res = await call(method, entry.request(n++), token);
      assert.ok(entry.ok.includes(res.status), `${route} granted: ${res.status} ${res.text.slice(0, 200)}`);
    }
  }
});

test('expired says so; the others say only "missing or invalid"', async () => {
  const expired = await call('GET', { path: '/v1/tables' }, tokens.expired);
  assert.equal(JSON.parse(expired.text).error.message, 'token expired');
  for (const v of ['none', 'malformed', 'wrong-secret', 'unknown-id', 'revoked'] as const) {
    const res = await call('GET', { path: '/v1/tables' }, v === 'none' ? undefined : tokens[v]);
    assert.equal(JSON.parse(res.text).error.message, 'missing or invalid bearer token', v);
  }
});

test('a 403 is the same whether the table exists or not, and names the missing scope', async () => {
  const token = await tokenWith(['read:ledger']);
  const absent = await call('POST', { path: '/v1/tables/secret/records', body: '{}', type: 'application/json' }, token);
  const present = await call('POST', { path: '/v1/tables/ledger/records', body: '{}', type: 'application/json' }, token);
  assert.equal(absent.status, 403);
  assert.equal(present.status, 403);
  assert.equal(JSON.parse(absent.text).error.message.replace('secret', 'T'), JSON.parse(present.text).error.message.replace('ledger', 'T'));
  assert.match(JSON.parse(present.text).error.message, /lacks write:ledger/);
  const list = await call('GET', { path: '/v1/tables' }, token);
  assert.deepEqual(JSON.parse(list.text).tables.map((t: { name: string }) => t.name), ['ledger'], 'a token sees only the tables it has a scope on');
});

interface IngestClient extends Client {
  Write(req: object, md: Metadata, cb: (err: ServiceError | null, reply: { written: number }) => void): void;
  WriteStream(md: Metadata): NodeJS.ReadWriteStream & { write(req: object): boolean; end(): void };
}

type IngestCall = (client: IngestClient, token: string | undefined, table: string) => Promise<number>;

const metadataOf = (token: string | undefined): Metadata => {
  const md = new Metadata();
  if (token !== undefined) md.set('authorization', `Bearer ${token}`);
  return md;
};

/** Every Ingest method and how to call it once; the status code it ends with (0: OK). */
const GRPC_MATRIX: Record<string, IngestCall> = {
  Write: (client, token, table) =>
    new Promise((resolve) => client.Write({ table, records: Buffer.from('{"account":"g","amount":1}') }, metadataOf(token), (err) => resolve(err === null ? 0 : err.code))),
  WriteStream: (client, token, table) =>
    new Promise((resolve) => {
      const stream = client.WriteStream(metadataOf(token));
      let code = -1;
      stream.on('data', (r: { error: { code: string } | null }) => {
        // A batch refused for its table answers that batch; the stream goes on.
        code = r.error === null ? 0 : r.error.code === 'PERMISSION_DENIED' ? 7 : 99;
        stream.end();
      });
      stream.on('error', (e: ServiceError) => resolve(e.code));
      stream.on('end', () => resolve(code));
      stream.write({ table, sequence: '1', records: Buffer.from('{"account":"s","amount":1}') });
    }),
};

test('gRPC Ingest: every method is in the matrix; 16 for bad credentials, 7 without write on the table, OK with it; Health needs nothing', async () => {
  const pkg = loadSync(path.join(ROOT, 'proto/sluice/v1/ingest.proto'), { keepCase: false, longs: String, defaults: true });
  const Ctor = (loadPackageDefinition(pkg) as unknown as { sluice: { v1: { Ingest: (new (a: string, c: unknown) => IngestClient) & { service: Record<string, unknown> } } } }).sluice.v1.Ingest;
  assert.deepEqual(Object.keys(Ctor.service).sort(), Object.keys(GRPC_MATRIX).sort(), 'every Ingest method is in the matrix');
  const client = new Ctor(`127.0.0.1:${node.grpcPort}`, credentials.createInsecure());
  try {
    for (const [method, call] of Object.entries(GRPC_MATRIX)) {
      for (const variant of REFUSED_401) assert.equal(await call(client, variant === 'none' ? undefined : tokens[variant], 'ledger'), 16, `${method} ${variant}`);
      assert.equal(await call(client, await tokenWith(['read:ledger']), 'ledger'), 7, `${method} read scope`);
      assert.equal(await call(client, await tokenWith(['write:ledger']), 'secret_table'), 7, `${method}: the same denial for a table that does not exist`);
      assert.equal(await call(client, await tokenWith(['write:ledger']), 'ledger'), 0, `${method} write scope`);
      assert.equal(await call(client, TEST_TOKEN, 'ledger'), 0, `${method} admin`);
    }
  } finally {
    client.close();
  }
  const healthPkg = loadSync(path.join(ROOT, 'node_modules/grpc-health-check/proto/health/v1/health.proto'), { keepCase: true, defaults: true, enums: String });
  const Health = (loadPackageDefinition(healthPkg) as unknown as { grpc: { health: { v1: { Health: new (a: string, c: unknown) => Client & { Check(r: object, cb: (e: ServiceError | null, r: { status: string }) => void): void } } } } }).grpc.health.v1.Health;
  const health = new Health(`127.0.0.1:${node.grpcPort}`, credentials.createInsecure());
  try {
    const status = await new Promise<string>((resolve, reject) => health.Check({ service: '' }, (e, r) => (e === null ? resolve(r.status) : reject(e))));
    assert.equal(status, 'SERVING');
  } finally {
    health.close();
  }
});
