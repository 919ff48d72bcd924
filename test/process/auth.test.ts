/**
 * Security on real `sluice serve` processes: the first start's admin token,
 * debug endpoints, the audit log, throttling, --auth none, a bad-actor
 * battery of path, header and browser tricks, a revocation that stops a
 * gRPC stream, and a revocation reaching every node of a real cluster.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import path from 'node:path';
import { generateToken, formatToken, tokenParts } from '../../src/security/token-format.ts';
import { NodeProcess, TEST_TOKEN, http, runCli, sleep, tempDir } from './harness.ts';
import { ingestClient, type IngestReply } from './ingest-client.ts';
import { TestCluster, waitUntil } from './cluster.ts';
import { freePort } from './etcd.ts';

/** A request with the path sent exactly as given (fetch would normalize `..` and `//`). */
function raw(url: string, reqPath: string, init: { method?: string; headers?: Record<string, string | string[]>; body?: string } = {}): Promise<{ status: number; text: string }> {
  const u = new URL(url);
  return new Promise((resolve, reject) => {
    const req = httpRequest({ host: u.hostname, port: u.port, path: reqPath, method: init.method ?? 'GET', headers: init.headers ?? {}, agent: false }, (res) => {
      let text = '';
      res.setEncoding('utf8').on('data', (c: string) => (text += c)).on('end', () => resolve({ status: res.statusCode ?? 0, text }));
    });
    // A server that refuses a request mid-send (a 1 MB header) may reset the connection before the client reads the answer.
    req.on('error', (err: NodeJS.ErrnoException) => (err.code === 'ECONNRESET' || err.code === 'EPIPE' ? resolve({ status: -1, text: err.code }) : reject(err)));
    req.end(init.body);
  });
}

async function makeToken(url: string, scopes: string[], name = 'tester'): Promise<{ id: string; token: string }> {
  const res = await http(`${url}/v1/auth/tokens`, { method: 'POST', body: JSON.stringify({ name, scopes }), headers: { 'content-type': 'application/json' } });
  assert.equal(res.status, 201, res.text);
  return res.body as { id: string; token: string };
}

function auditLines(dataDir: string): Record<string, unknown>[] {
  const file = path.join(dataDir, 'audit.log');
  if (!existsSync(file)) return [];
  // Lines are appended as they happen: a last line caught half-written is not there yet.
  return readFileSync(file, 'utf8').split('\n').flatMap((l) => {
    try {
      return [JSON.parse(l) as Record<string, unknown>];
    } catch {
      return [];
    }
  });
}

test('first start: an admin token printed once, kept as a hash, in admin.token (0600); it survives a restart', async (t) => {
  const dataDir = tempDir(t, 'sluice-auth-');
  const first = await NodeProcess.start(t, { dataDir, bootstrapToken: null });
  const printed = /slc_[0-9a-f]{16}_[0-9A-Za-z]{49}/.exec(first.stderr)?.[0];
  assert.ok(printed !== undefined, `stderr shows the token: ${first.stderr}`);
  const file = path.join(dataDir, 'admin.token');
  assert.equal(statSync(file).mode & 0o777, 0o600);
  assert.equal(readFileSync(file, 'utf8').trim(), printed);
  assert.equal((await http(`${first.url}/v1/tables`, { token: printed })).status, 200);
  assert.equal((await http(`${first.url}/v1/tables`, { token: null })).status, 401);
  assert.equal((await http(`${first.url}/v1/tables`)).status, 401, 'the test token means nothing to this node');
  // The CLI against this node finds nothing by itself (not the default URL) but takes --token-file.
  const cli = runCli(['--token-file', file, 'token', 'whoami', '--url', first.url]);
  assert.equal(cli.code, 0, cli.stderr);
  assert.match(cli.stdout, /\tadmin\tadmin\t/);
  await first.kill('SIGTERM');

  const second = await NodeProcess.start(t, { dataDir, bootstrapToken: null });
  assert.ok(!second.stderr.includes('slc_'), 'no new token on the second start');
  assert.equal((await http(`${second.url}/v1/auth/whoami`, { token: printed })).status, 200);
  // The secret is nowhere but admin.token: not in the log, the audit log, or any other file of the data dir.
  assert.ok(!JSON.stringify(second.logs).includes(printed) && !JSON.stringify(first.logs).includes(printed));
  const leaks: string[] = [];
  const walk = (dir: string): void => {
    for (const e of readdirSync(dir, { withFileTypes: true })) {
      const p = path.join(dir, e.name);
      if (e.isDirectory()) walk(p);
      else if (p !== file && readFileSync(p).includes(printed)) leaks.push(p);
    }
  };
  walk(dataDir);
  assert.deepEqual(leaks, []);
  await second.kill('SIGTERM');
});

test('an anonymous 1 GiB import is refused at once and nothing is spooled', async (t) => {
  const dataDir = tempDir(t, 'sluice-auth-');
  const node = await NodeProcess.start(t, { dataDir });
  assert.equal((await http(`${node.url}/v1/tables`, { method: 'POST', body: JSON.stringify({ name: 'big', shardKey: 'k', fields: [{ name: 'k', type: 'string', required: true }] }) })).status, 201);
  const u = new URL(node.url);
  const started = Date.now();
  const status = await new Promise<number>((resolve, reject) => {
    const req = httpRequest({ host: u.hostname, port: u.port, path: '/v1/tables/big/import', method: 'POST', headers: { 'content-type': 'text/csv', 'content-length': String(2 ** 30) } }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
      req.destroy();
    });
    req.on('error', (err) => (Date.now() - started > 10_000 ? reject(err) : undefined));
    // Send the first 1 MiB only: the answer must come without the rest.
    req.write(Buffer.alloc(1 << 20, 0x61));
  });
  assert.equal(status, 401);
  assert.ok(Date.now() - started < 5_000, 'refused at once');
  const spool = path.join(dataDir, 'import-spool');
  assert.deepEqual(existsSync(spool) ? readdirSync(spool) : [], []);
  const metrics = await http(`${node.url}/metrics`);
  assert.match(metrics.text, /^sluice_inflight_bytes 0$/m);
  assert.match(metrics.text, /^sluice_auth_failures_total\{reason="missing"\} [1-9]/m);
});

test('debug endpoints: 404 without --debug-endpoints; with it, 403 for write:*, 200 for admin, an audit line each', async (t) => {
  const off = await NodeProcess.start(t, { dataDir: tempDir(t, 'sluice-auth-') });
  assert.equal((await http(`${off.url}/debug/heap`)).status, 404);
  assert.equal((await http(`${off.url}/debug/profile?seconds=1`)).status, 404);
  assert.equal((await http(`${off.url}/debug/allocations?seconds=1`)).status, 404);
  const dataDir = tempDir(t, 'sluice-auth-');
  const on = await NodeProcess.start(t, { dataDir, args: ['--debug-endpoints'] });
  const writer = await makeToken(on.url, ['write:*']);
  assert.equal((await http(`${on.url}/debug/heap`, { token: writer.token })).status, 403);
  assert.equal((await http(`${on.url}/debug/profile?seconds=1`, { token: null })).status, 401);
  const res = await http(`${on.url}/debug/profile?seconds=1`, { headers: { 'x-request-id': 'trace-me-42' } });
  assert.equal(res.status, 200);
  // Audit lines are appended without waiting (and a grant after the answer is sent): wait for the last one.
  await waitUntil(async () => auditLines(dataDir).some((l) => l['event'] === 'access_granted' && l['requestId'] === 'trace-me-42'), 5_000, 'the grant in the audit log');
  const lines = auditLines(dataDir);
  assert.ok(lines.some((l) => l['event'] === 'access_denied' && l['route'] === '/debug/heap' && l['tokenId'] === writer.id && l['scope'] === 'admin'));
  assert.ok(lines.some((l) => l['event'] === 'anonymous_access_denied' && l['route'] === '/debug/profile'));
  assert.ok(lines.some((l) => l['event'] === 'access_granted' && l['route'] === '/debug/profile' && l['requestId'] === 'trace-me-42' && l['status'] === 200 && l['scope'] === 'admin'));
  assert.ok(lines.some((l) => l['event'] === 'token_created' && l['tokenId'] === writer.id));
  assert.ok(lines.every((l) => typeof l['ts'] === 'string' && l['node'] === 'n1'));

  // The allocation profile: writes during its window show up, garbage included, under the functions that allocated.
  assert.equal((await http(`${on.url}/debug/allocations?seconds=1`, { token: writer.token })).status, 403);
  const window = http(`${on.url}/debug/allocations?seconds=2`);
  await sleep(200); // the first window has begun
  const second = await http(`${on.url}/debug/allocations?seconds=1`);
  assert.equal(second.status, 429, 'one allocation profile at a time');
  assert.equal(second.body.error.code, 'OVERLOADED');
  assert.equal((await http(`${on.url}/v1/tables`, { method: 'POST', body: JSON.stringify({ name: 'alloc', shardKey: 'k', fields: [{ name: 'k', type: 'string', required: true }] }) })).status, 201);
  for (let i = 0; i < 20; i++) {
    const body = Array.from({ length: 500 }, (_, j) => JSON.stringify({ k: `key-${i}-${j}` })).join('\n');
    assert.equal((await http(`${on.url}/v1/tables/alloc/records`, { method: 'POST', body, headers: { 'content-type': 'application/x-ndjson' } })).status, 200);
  }
  const allocations = await window;
  assert.equal(allocations.status, 200, allocations.text);
  const sampled = (allocations.body as { samples: { size: number }[] }).samples.reduce((sum, x) => sum + x.size, 0);
  assert.ok(sampled > 1024 * 1024, `${sampled} bytes sampled while 10,000 records were written`);
  assert.ok(!readFileSync(path.join(dataDir, 'audit.log'), 'utf8').includes(writer.token), 'never a token in the audit log');
});

test('bad actors: path tricks, header tampering, query tokens, DNS rebinding and cross-site posts get their 4xx and leave nothing behind', async (t) => {
  const dataDir = tempDir(t, 'sluice-auth-');
  // The battery fails on purpose many times from one address: throttling has its own test.
  const node = await NodeProcess.start(t, { dataDir, args: ['--debug-endpoints', '--auth-failures-per-minute-max', '10000'] });
  const reader = await makeToken(node.url, ['read:*']);
  for (const p of ['//debug/heap', '/DEBUG/heap', '/debug/%68eap', '/v1/tables/x/../../debug/heap', '/debug/heap/', '/debug//heap', '/debug/heap?x=../']) {
    for (const method of ['GET', 'HEAD', 'OPTIONS']) {
      const anon = await raw(node.url, p, { method });
      assert.ok([401, 404].includes(anon.status), `${method} ${p} anonymous: ${anon.status}`);
      const read = await raw(node.url, p, { method, headers: { authorization: `Bearer ${reader.token}` } });
      assert.ok(read.status >= 400 && read.status < 500, `${method} ${p} with read:*: ${read.status}`);
      assert.ok(!read.text.includes('snapshot'), 'never a heap snapshot');
    }
  }
  const good = TEST_TOKEN;
  const parts = tokenParts(reader.token);
  assert.ok(parts !== undefined);
  const cases: [string, Record<string, string | string[]>, string, number][] = [
    ['a 1 MB Authorization header', { authorization: `Bearer ${'a'.repeat(1 << 20)}` }, '/v1/tables', 431],
    ['two Authorization headers', { authorization: [`Bearer ${good}`, `Bearer ${good}`] }, '/v1/tables', 401],
    ['a token in the query string', {}, `/v1/tables?access_token=${good}`, 401],
    ['a sluice token as ?token=', {}, `/v1/tables/x/records?key=a&token=${reader.token}`, 401],
    ['Basic instead of Bearer', { authorization: `Basic ${Buffer.from(`x:${good}`).toString('base64')}` }, '/v1/tables', 401],
    ['two spaces after Bearer', { authorization: `Bearer  ${good}` }, '/v1/tables', 401],
    ['a truncated secret', { authorization: `Bearer ${reader.token.slice(0, -3)}` }, '/v1/tables', 401],
    ['a flipped checksum', { authorization: `Bearer ${reader.token.slice(0, -1)}${reader.token.endsWith('A') ? 'B' : 'A'}` }, '/v1/tables', 401],
    ['a right checksum over a wrong secret', { authorization: `Bearer ${formatToken(parts.id, tokenParts(generateToken().token)?.secret ?? '')}` }, '/v1/tables', 401],
    ['a DNS-rebinding Host', { authorization: `Bearer ${good}`, host: 'evil.example' }, '/v1/tables', 403],
    ['lower-case bearer (RFC 7235: the scheme is case-insensitive)', { authorization: `bearer ${good}` }, '/v1/tables', 200],
  ];
  for (const [what, headers, p, expected] of cases) {
    const res = await raw(node.url, p, { headers });
    // 431 for the huge header, or the connection reset while it was still being sent.
    if (expected === 431 && res.status === -1) continue;
    assert.equal(res.status, expected, `${what}: ${res.text.slice(0, 200)}`);
  }
  // A page on another site posting to /ingest (no-cors: no Authorization), or through a rebinding Host with a stolen-less request: nothing written.
  const before = (await http(`${node.url}/v1/tables/events/export`)).text;
  const crossSite = await raw(node.url, '/ingest', { method: 'POST', headers: { 'content-type': 'text/plain', origin: 'https://evil.example', 'sec-fetch-site': 'cross-site' }, body: '{"trace_id":"csrf"}' });
  assert.equal(crossSite.status, 401);
  const rebound = await raw(node.url, '/ingest', { method: 'POST', headers: { host: 'evil.example:8080', 'content-type': 'application/json', authorization: `Bearer ${good}` }, body: '{"trace_id":"rebound"}' });
  assert.equal(rebound.status, 403);
  assert.equal((await http(`${node.url}/v1/tables/events/export`)).text, before, 'nothing written');
  assert.ok(!node.logs.some((l) => JSON.stringify(l).includes(reader.token)), 'no token in the log');
});

test('repeated failures from one address are throttled (429), with one audit line per window; a good token from elsewhere is unaffected', async (t) => {
  const dataDir = tempDir(t, 'sluice-auth-');
  const node = await NodeProcess.start(t, { dataDir, args: ['--http', '127.0.0.1:0'] });
  const statuses: number[] = [];
  for (let i = 0; i < 30; i++) statuses.push((await http(`${node.url}/v1/tables`, { token: generateToken().token })).status);
  assert.deepEqual(statuses.slice(0, 21), Array(21).fill(401));
  assert.deepEqual(statuses.slice(22), Array(8).fill(429));
  assert.equal((await http(`${node.url}/v1/tables`)).status, 429, 'the address is throttled, whatever it sends');
  // Another loopback address is another client.
  const other = node.url.replace('127.0.0.1', '127.0.0.2');
  const res = await raw(other, '/v1/tables', { headers: { authorization: `Bearer ${TEST_TOKEN}` } }).catch(() => undefined);
  if (res !== undefined) assert.equal(res.status, 200);
  await waitUntil(async () => auditLines(dataDir).some((l) => l['event'] === 'authentication_throttled'), 5_000, 'the throttling in the audit log');
  await sleep(200);
  assert.equal(auditLines(dataDir).filter((l) => l['event'] === 'authentication_throttled').length, 1, 'once per window');
});

test('--auth none: a banner, and only local same-site callers', async (t) => {
  const node = await NodeProcess.start(t, { dataDir: tempDir(t, 'sluice-auth-'), args: ['--auth', 'none'], bootstrapToken: null });
  assert.match(node.stderr, /INSECURE MODE/);
  assert.equal((await http(`${node.url}/v1/tables`, { token: null })).status, 200);
  assert.equal((await raw(node.url, '/v1/tables', { headers: { host: 'evil.example' } })).status, 403);
  assert.equal((await raw(node.url, '/ingest', { method: 'POST', headers: { origin: 'https://evil.example', 'content-type': 'text/plain' }, body: '{"trace_id":"x"}' })).status, 403);
  assert.equal((await raw(node.url, '/v1/tables', { headers: { 'sec-fetch-site': 'cross-site' } })).status, 403);
});

test('a WriteStream whose token is revoked mid-stream fails its next batch with UNAUTHENTICATED', async (t) => {
  const grpcPort = await freePort();
  const node = await NodeProcess.start(t, { dataDir: tempDir(t, 'sluice-auth-'), args: ['--grpc', `127.0.0.1:${grpcPort}`] });
  const bot = await makeToken(node.url, ['write:events']);
  const client = ingestClient(grpcPort, { token: bot.token });
  t.after(() => client.close());
  const stream = client.WriteStream();
  const events: (IngestReply | { code?: number })[] = [];
  let wake: (() => void) | undefined;
  stream.on('data', (r: IngestReply) => {
    events.push(r);
    wake?.();
  });
  stream.on('error', (e: { code?: number }) => {
    events.push(e);
    wake?.();
  });
  const next = async (n: number): Promise<void> => {
    const deadline = Date.now() + 10_000;
    while (events.length < n && Date.now() < deadline) await new Promise<void>((resolve) => ((wake = resolve), setTimeout(resolve, 100)));
  };
  stream.write({ table: 'events', sequence: '1', records: Buffer.from('{"trace_id":"s1"}') });
  await next(1);
  assert.equal((events[0] as IngestReply).written, 1, 'the first batch was written');
  assert.equal((await http(`${node.url}/v1/auth/tokens/${bot.id}`, { method: 'DELETE' })).status, 200);
  stream.write({ table: 'events', sequence: '2', records: Buffer.from('{"trace_id":"s2"}') });
  await next(2);
  assert.equal((events[1] as { code?: number }).code, 16, `the next batch ends the stream UNAUTHENTICATED: ${JSON.stringify(events[1])}`);
});

test('a --metrics-listen listener serves /metrics without a token; the main one still needs ops', async (t) => {
  const port = await freePort();
  const node = await NodeProcess.start(t, { dataDir: tempDir(t, 'sluice-auth-'), args: ['--metrics-listen', `127.0.0.1:${port}`] });
  const open = await fetch(`http://127.0.0.1:${port}/metrics`);
  assert.equal(open.status, 200);
  assert.match(await open.text(), /sluice_records_written_total|process_cpu/);
  assert.equal((await fetch(`http://127.0.0.1:${port}/v1/tables`)).status, 404, 'nothing else there');
  assert.equal((await http(`${node.url}/metrics`, { token: null })).status, 401);
});

test('a token revoked through one node is refused by every node of a 3-node cluster within seconds', async (t) => {
  const cluster = await TestCluster.start(t, { size: 3 });
  const bot = await makeToken(cluster.url(0), ['read:*']);
  for (let i = 0; i < 3; i++) await waitUntil(async () => (await http(`${cluster.url(i)}/v1/tables`, { token: bot.token })).status === 200, 5_000, `token known on node ${i}`);
  const revoke = await http(`${cluster.url(1)}/v1/auth/tokens/${bot.id}`, { method: 'DELETE' });
  assert.equal(revoke.status, 200, revoke.text);
  const started = Date.now();
  for (let i = 0; i < 3; i++) await waitUntil(async () => (await http(`${cluster.url(i)}/v1/tables`, { token: bot.token })).status === 401, 5_000, `revoked on node ${i}`);
  assert.ok(Date.now() - started < 5_000);
  // The admin token every node was started with works everywhere; a token listed by one node is listed by all.
  const lists = await Promise.all([0, 1, 2].map(async (i) => (await http(`${cluster.url(i)}/v1/auth/tokens`)).body.tokens.map((x: { id: string }) => x.id).sort()));
  assert.deepEqual(lists[1], lists[0]);
  assert.deepEqual(lists[2], lists[0]);
});

test('a write\'s request id follows it to its replicas: every replica\'s audit line names it', async (t) => {
  const cluster = await TestCluster.start(t, { size: 3, args: ['--audit-data-access', '--audit-log', 'stderr'] });
  const table = { name: 'followed', shardKey: 'k', replicationFactor: 3, fields: [{ name: 'k', type: 'string', required: true }] };
  await cluster.createTable(table);
  const res = await http(`${cluster.url(1)}/v1/tables/${table.name}/records`, { method: 'POST', body: '{"k":"a"}', headers: { 'x-request-id': 'follow-me-7' } });
  assert.equal(res.status, 200, res.text);
  const lines = (i: number): Record<string, unknown>[] =>
    cluster
      .node(i)
      .stderr.split('\n')
      .filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l) as Record<string, unknown>);
  await waitUntil(async () => [0, 1, 2].every((i) => lines(i).some((l) => l['event'] === 'replica_write' && l['requestId'] === 'follow-me-7')), 5_000, 'every replica audits the write');
  // The grant is written once the answer is sent (fastify's onResponse): it may reach stderr after the client has the answer.
  await waitUntil(async () => lines(1).some((l) => l['event'] === 'access_granted' && l['requestId'] === 'follow-me-7'), 5_000, 'the coordinator audits the request');
  assert.ok(lines(1).some((l) => l['event'] === 'access_granted' && l['requestId'] === 'follow-me-7' && l['table'] === table.name && l['scope'] === `write:${table.name}`), 'with its table and scope');
  for (const i of [0, 1, 2]) assert.ok(lines(i).filter((l) => l['event'] === 'replica_write' && l['requestId'] === 'follow-me-7').every((l) => l['table'] === table.name && l['records'] === 1));

  // An atomic batch across shards reaches its replicas as PREPAREs: each one audits its part with the request id and txid.
  const keys = Array.from({ length: 32 }, (_, i) => JSON.stringify({ k: `atomic-${i}` })).join('\n');
  const atomic = await http(`${cluster.url(2)}/v1/tables/${table.name}/records?atomic=true`, { method: 'POST', body: keys, headers: { 'x-request-id': 'follow-atomic-8', 'content-type': 'application/x-ndjson' } });
  assert.equal(atomic.status, 200, atomic.text);
  assert.ok(typeof atomic.body.tx_id === 'string', `32 keys span shards: a two-phase commit (${atomic.text})`);
  const prepared = (i: number): Record<string, unknown>[] => lines(i).filter((l) => l['event'] === 'replica_prepare' && l['requestId'] === 'follow-atomic-8');
  await waitUntil(async () => [0, 1, 2].every((i) => prepared(i).length > 0), 5_000, 'every replica audits its PREPARE');
  for (const i of [0, 1, 2]) {
    assert.ok(prepared(i).every((l) => l['table'] === table.name && l['txId'] === atomic.body.tx_id), JSON.stringify(prepared(i)));
    assert.equal(prepared(i).reduce((n, l) => n + Number(l['records']), 0), 32, `node ${i} holds every shard (RF=3) and audits all 32 records`);
  }
});
