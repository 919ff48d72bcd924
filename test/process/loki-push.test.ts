/**
 * Loki push end to end against a live node with auth on: the real
 * winston-loki 6.1.7 transport on winston 3 ships logs in both of its
 * encodings (protobuf in a snappy block from the native `snappy` package;
 * JSON with `json: true`), with a bearer token in its `headers` option;
 * the logs are read back through sluice's own read and export API (labels,
 * canonical stream key, lines, exact nanosecond and ms times, structured
 * metadata). A push the client builds wrong (a quote in a label value,
 * which winston-loki does not escape) is refused whole with 400 and
 * nothing written; a full node answers 429 with Retry-After, and takes
 * pushes again once the request holding it goes away. One node for the
 * file, with `--loki-table` naming the table the pushes land in.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { request as httpRequest } from 'node:http';
import { createRequire } from 'node:module';
import { gzipSync } from 'node:zlib';
import protobuf from 'protobufjs';
import winston from 'winston';
import LokiTransport from 'winston-loki';
import { NodeProcess, TEST_TOKEN, authHeaders, http, sleep, tempDir } from './harness.ts';

const require = createRequire(import.meta.url);
const snappy = require('snappy') as { compressSync(b: Uint8Array): Buffer };

/** The admission bound of the node: small, so one held request fills it. */
const IN_FLIGHT_BYTES_MAX = 64 * 1024;
const T0 = Date.parse('2026-12-01T10:00:00.123Z');
/** The node's --loki-table (the default, loki_logs, is pushed to by test/api/auth-matrix.test.ts). */
const TABLE = 'shipped_logs';

let node: NodeProcess;
const cleanups: (() => Promise<void> | void)[] = [];
before(async () => {
  node = await NodeProcess.start({ after: (fn) => void cleanups.push(fn) }, { dataDir: tempDir({ after: (fn) => void cleanups.push(fn) }), args: ['--in-flight-bytes-max', String(IN_FLIGHT_BYTES_MAX), '--loki-table', TABLE] });
});
after(async () => {
  for (const fn of cleanups.reverse()) await fn();
});

interface Shipper {
  readonly logger: winston.Logger;
  readonly transport: LokiTransport;
  readonly errors: (Error & { statusCode?: number; responseBody?: string })[];
  /** Logs `entries`, waits until the transport has taken them all, then closes it (its final push). */
  ship(entries: readonly { level: string; message: string; timestamp: string; [meta: string]: unknown }[]): Promise<void>;
}

/** A winston logger with a winston-loki transport pointed at the node, as a user would configure it. */
function shipper(json: boolean, labels: Record<string, string>, token: string = TEST_TOKEN): Shipper {
  const errors: Shipper['errors'] = [];
  const transport = new LokiTransport({
    host: node.url,
    json,
    labels,
    headers: { Authorization: `Bearer ${token}` },
    // Our own times, so they can be checked; one push when the transport closes.
    replaceTimestamp: false,
    interval: 3600,
    gracefulShutdown: false,
    format: winston.format.printf((info) => String(info.message)),
    onConnectionError: (err) => void errors.push(err as Shipper['errors'][number]),
  });
  const logger = winston.createLogger({ transports: [transport] });
  let logged = 0;
  transport.on('logged', () => void logged++);
  return {
    logger,
    transport,
    errors,
    async ship(entries) {
      const target = logged + entries.length;
      for (const e of entries) logger.log(e);
      const deadline = Date.now() + 10_000;
      while (logged < target) {
        assert.ok(Date.now() < deadline, `winston-loki took ${logged} of ${target} entries within 10 s`);
        await sleep(5);
      }
      await transport.close();
    },
  };
}

async function exportAll(): Promise<Record<string, any>[]> {
  const res = await fetch(`${node.url}/v1/tables/${TABLE}/export`, { headers: authHeaders() });
  if (res.status === 404) return [];
  assert.equal(res.status, 200);
  return (await res.text()).split('\n').filter((l) => l !== '').map((l) => JSON.parse(l) as Record<string, any>);
}

async function byStream(stream: string): Promise<Record<string, any>[]> {
  const res = await http(`${node.url}/v1/tables/${TABLE}/records?key=${encodeURIComponent(stream)}`);
  assert.equal(res.status, 200, res.text);
  return res.body.records as Record<string, any>[];
}

const iso = (ms: number): string => new Date(ms).toISOString();

test('GET /ready answers 200 without a token once the node serves', async () => {
  const res = await fetch(`${node.url}/ready`);
  assert.equal(res.status, 200);
  assert.equal(await res.text(), 'ready\n');
});

test('winston-loki, protobuf in a snappy block: every entry lands under its canonical stream, times exact', async () => {
  const s = shipper(false, { app: 'capt' });
  assert.equal((s.transport as unknown as { batcher: { contentType: string } }).batcher.contentType, 'application/x-protobuf', 'the native snappy loaded: protobuf mode, not the JSON fallback');
  await s.ship([
    { level: 'info', message: 'first', timestamp: iso(T0) },
    { level: 'error', message: 'disk "sda" failed\n\tretrying', timestamp: iso(T0 + 1) },
    { level: 'info', message: 'second', timestamp: iso(T0 + 2) },
  ]);
  assert.deepEqual(s.errors, []);
  const info = await byStream('{app="capt", level="info"}');
  assert.deepEqual(info.map((r) => [r.line, r.ts, r.ts_ns]), [
    ['first', T0, `${T0}000000`],
    ['second', T0 + 2, `${T0 + 2}000000`],
  ]);
  assert.deepEqual(info[0]?.labels, { app: 'capt', level: 'info' });
  assert.deepEqual(info[0]?.structured_metadata, {});
  const errors = await byStream('{app="capt", level="error"}');
  assert.deepEqual(errors.map((r) => [r.line, r.ts_ns, r.labels]), [['disk "sda" failed\n\tretrying', `${T0 + 1}000000`, { app: 'capt', level: 'error' }]]);
});

test('winston-loki, JSON: per-entry labels join the stream, metadata becomes structured metadata', async () => {
  const s = shipper(true, { app: 'capt-json' });
  assert.equal((s.transport as unknown as { batcher: { contentType: string } }).batcher.contentType, 'application/json');
  await s.ship([
    { level: 'warn', message: 'slow request', timestamp: iso(T0 + 10), labels: { route: '/pay' }, requestId: 'r-1', ms: 812 },
    { level: 'warn', message: 'slow again', timestamp: iso(T0 + 11), labels: { route: '/pay' }, requestId: 'r-2' },
  ]);
  assert.deepEqual(s.errors, []);
  const rows = await byStream('{app="capt-json", level="warn", route="/pay"}');
  assert.deepEqual(rows.map((r) => [r.line, r.ts, r.ts_ns]), [
    ['slow request', T0 + 10, `${T0 + 10}000000`],
    ['slow again', T0 + 11, `${T0 + 11}000000`],
  ]);
  assert.deepEqual(rows[0]?.labels, { app: 'capt-json', level: 'warn', route: '/pay' });
  // winston-loki sends the entry's other fields, stringified, as structured metadata.
  assert.equal(rows[0]?.structured_metadata.requestId, 'r-1');
  assert.equal(rows[0]?.structured_metadata.ms, '812');
  assert.equal(rows[1]?.structured_metadata.requestId, 'r-2');
});

test('a push winston-loki builds wrong is refused whole with 400 INVALID_LABELS; nothing of it is written', async () => {
  const before = (await exportAll()).length;
  // winston-loki puts label values between quotes without escaping them: `app="say "hi""` is not a label string.
  const s = shipper(false, { app: 'say "hi"' });
  await s.ship([
    { level: 'info', message: 'good stream', timestamp: iso(T0 + 20), labels: { app: 'fine' } },
    { level: 'info', message: 'bad stream', timestamp: iso(T0 + 21) },
  ]);
  assert.equal(s.errors.length, 1, 'one push, refused');
  assert.equal(s.errors[0]?.statusCode, 400);
  const body = JSON.parse(s.errors[0]?.responseBody ?? '{}') as { error: { code: string; details: { path: string }[] } };
  assert.equal(body.error.code, 'INVALID_LABELS');
  assert.match(body.error.details[0]?.path ?? '', /^\/streams\/\d\/labels$/);
  assert.equal((await exportAll()).length, before, 'the good stream of the same push was not written either');
});

test('hand-built pushes: escaped labels in protobuf (Content-Encoding snappy), gzip JSON, and refusals with their codes', async () => {
  const T = protobuf.parse('syntax="proto3"; message P { repeated S streams = 1; } message S { string labels = 1; repeated E entries = 2; } message E { Ts timestamp = 1; string line = 2; } message Ts { int64 seconds = 1; int32 nanos = 2; }').root.lookupType('P');
  const labels = String.raw`{ path="C:\\logs\\app.log", msg="say \"hi\"", uni="\u00e9t\xc3\xa9" }`;
  const proto = snappy.compressSync(T.encode(T.fromObject({ streams: [{ labels, entries: [{ timestamp: { seconds: 1_764_000_000, nanos: 123_456_789 }, line: 'escaped' }] }] })).finish());
  const push = (body: Uint8Array, headers: Record<string, string>, token: string | null = TEST_TOKEN) => http(`${node.url}/loki/api/v1/push`, { method: 'POST', body, headers, token });
  const ok = await push(proto, { 'content-type': 'application/x-protobuf', 'content-encoding': 'snappy' });
  assert.equal(ok.status, 204, ok.text);
  const [row] = await byStream('{msg="say \\"hi\\"", path="C:\\\\logs\\\\app.log", uni="été"}');
  assert.deepEqual(row?.labels, { msg: 'say "hi"', path: 'C:\\logs\\app.log', uni: 'été' });
  assert.equal(row?.ts_ns, '1764000000123456789');
  assert.equal(row?.ts, 1_764_000_000_123);

  // gzip around the snappy block is undone first, as Loki does.
  const zipped = snappy.compressSync(T.encode(T.fromObject({ streams: [{ labels: '{app="gz-proto"}', entries: [{ timestamp: { seconds: 1, nanos: 2 }, line: 'both' }] }] })).finish());
  assert.equal((await push(gzipSync(zipped), { 'content-type': 'application/x-protobuf', 'content-encoding': 'gzip' })).status, 204);
  assert.deepEqual((await byStream('{app="gz-proto"}')).map((r) => [r.line, r.ts, r.ts_ns]), [['both', 1000, '1000000002']]);

  const json = gzipSync(JSON.stringify({ streams: [{ stream: { app: 'gz' }, values: [['1764000000999999999', 'zipped', { k: 'v' }]] }] }));
  assert.equal((await push(json, { 'content-type': 'application/json', 'content-encoding': 'gzip' })).status, 204);
  const [gz] = await byStream('{app="gz"}');
  assert.deepEqual([gz?.line, gz?.ts, gz?.ts_ns, gz?.structured_metadata], ['zipped', 1_764_000_000_999, '1764000000999999999', { k: 'v' }]);

  const count = (await exportAll()).length;
  const refusals: [Uint8Array, Record<string, string>, number, string][] = [
    [Buffer.from('not snappy'), { 'content-type': 'application/x-protobuf' }, 400, 'INVALID_SNAPPY'],
    [snappy.compressSync(Buffer.from('{"streams":[]}')), { 'content-type': 'application/x-protobuf' }, 400, 'INVALID_PROTOBUF'],
    [Buffer.from('{"streams":[{"stream":{"a":"b"},"values":[[1,"x"]]}]}'), { 'content-type': 'application/json' }, 400, 'BAD_REQUEST'],
    [Buffer.from('{"streams":[{"stream":{},"values":[["1","x"]]}]}'), { 'content-type': 'application/json' }, 400, 'INVALID_LABELS'],
    [Buffer.from('{"streams": ['), { 'content-type': 'application/json' }, 400, 'INVALID_JSON'],
    [Buffer.from(JSON.stringify({ streams: [{ stream: { a: 'b' }, values: [['1', 'fine']] }, { stream: { a: 'x'.repeat(2000) }, values: [['1', 'x']] }] })), { 'content-type': 'application/json' }, 400, 'KEY_TOO_LARGE'],
    [Buffer.from('a=b'), { 'content-type': 'text/plain' }, 415, 'UNSUPPORTED_MEDIA_TYPE'],
    [Buffer.from('{}'), { 'content-type': 'application/json', 'content-encoding': 'snappy' }, 415, 'UNSUPPORTED_MEDIA_TYPE'],
  ];
  for (const [body, headers, status, code] of refusals) {
    const res = await push(body, headers);
    assert.deepEqual([res.status, res.body?.error?.code], [status, code], res.text);
  }
  assert.equal((await push(proto, { 'content-type': 'application/x-protobuf' }, null)).status, 401, 'auth is on for pushes');
  const other = await http(`${node.url}/v1/auth/tokens`, { method: 'POST', body: JSON.stringify({ name: 'other', scopes: ['write:loki_logs', `read:${TABLE}`] }), headers: { 'content-type': 'application/json' } });
  assert.equal(other.status, 201, other.text);
  const denied = await push(proto, { 'content-type': 'application/x-protobuf' }, other.body.token as string);
  assert.deepEqual([denied.status, denied.body?.error?.code], [403, 'PERMISSION_DENIED'], 'a push needs write on the --loki-table table');
  const described = await http(`${node.url}/v1/tables/${TABLE}`);
  assert.equal(described.body.shardKey, 'stream');
  assert.equal(described.body.timeField, 'ts');
  assert.deepEqual(described.body.fields.map((f: { name: string; type: string }) => `${f.name}:${f.type}`), ['stream:string', 'labels:json', 'ts:timestamp', 'ts_ns:string', 'line:string', 'structured_metadata:json']);
  assert.equal((await exportAll()).length, count, 'nothing refused was written');
  // An empty push is fine, and writes nothing.
  assert.equal((await push(Buffer.from('{"streams":[]}'), { 'content-type': 'application/json' })).status, 204);
});

test('winston-loki, a push past workerBodyBytesMin (64 KiB) is decoded in a worker thread; every entry lands, in order', async () => {
  const s = shipper(false, { app: 'bulk' });
  // Random hex does not compress under snappy: the push stays about 2000 × 130 bytes, well past 64 KiB.
  const entries = Array.from({ length: 2000 }, (_, i) => ({ level: 'info', message: `bulk ${i} ${randomBytes(60).toString('hex')}`, timestamp: iso(T0 + 100 + i) }));
  await s.ship(entries);
  assert.deepEqual(s.errors, []);
  const res = await http(`${node.url}/v1/tables/${TABLE}/records?key=${encodeURIComponent('{app="bulk", level="info"}')}&limit=5000`);
  assert.equal(res.status, 200, res.text);
  const rows = res.body.records as Record<string, any>[];
  assert.equal(rows.length, 2000);
  assert.deepEqual(rows.map((r) => r.line), entries.map((e) => e.message));
  assert.deepEqual(rows.map((r) => r.ts_ns), entries.map((_, i) => `${T0 + 100 + i}000000`));
});

test('a full node answers 429 with Retry-After (winston-loki sees 429), and takes pushes again once room frees', async () => {
  // A push that declares more than the admission bound and sends only its first bytes holds the room.
  const holder = httpRequest(`${node.url}/loki/api/v1/push`, {
    method: 'POST',
    headers: { ...authHeaders(), 'content-type': 'application/json', 'content-length': String(2 * IN_FLIGHT_BYTES_MAX) },
  });
  holder.on('error', () => {});
  holder.write('{"streams":[');
  // Until the node has read the holder's headers (and admitted it), a push still gets through.
  const emptyPush = () => http(`${node.url}/loki/api/v1/push`, { method: 'POST', body: '{"streams":[]}', headers: { 'content-type': 'application/json' } });
  let res = await emptyPush();
  for (let i = 0; i < 250 && res.status === 204; i++) {
    await sleep(20);
    res = await emptyPush();
  }
  assert.equal(res.status, 429, res.text);
  assert.equal(res.body.error.code, 'OVERLOADED');
  assert.ok(Number(res.headers.get('retry-after')) >= 1);
  const s = shipper(true, { app: 'overload' });
  await s.ship([{ level: 'info', message: 'refused while full', timestamp: iso(T0 + 30) }]);
  assert.equal(s.errors[0]?.statusCode, 429);
  // The held request goes away: its admission is released, and the same logs go through.
  holder.destroy();
  let status = 0;
  for (let i = 0; i < 250 && status !== 204; i++) {
    await sleep(20);
    status = (await emptyPush()).status;
  }
  assert.equal(status, 204);
  const again = shipper(true, { app: 'overload' });
  await again.ship([{ level: 'info', message: 'accepted once room freed', timestamp: iso(T0 + 31) }]);
  assert.deepEqual(again.errors, []);
  assert.deepEqual((await byStream('{app="overload", level="info"}')).map((r) => r.line), ['accepted once room freed']);
});
