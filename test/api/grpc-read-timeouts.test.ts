/**
 * A gRPC client that holds a read slot and sends slowly, or stops sending
 * without closing (a slowloris), is cut after a bound instead of holding
 * the slot for ever: a unary Write must deliver its message within
 * `--grpc-unary-read-timeout-ms` of taking one of `--grpc-unary-reads-max`,
 * and a WriteStream may wait on its client at most
 * `--grpc-stream-idle-timeout-ms` while it holds one of `--grpc-streams-max`
 * (decision 55). The call ends with DEADLINE_EXCEEDED and sluice code
 * REQUEST_TIMEOUT, the slot goes to the next caller, and nothing of the
 * stalled message is written. The clients are real grpc-js clients; the
 * stall is a TCP proxy between them and the node that stops forwarding
 * the client's bytes in the middle of a message.
 */
import assert from 'node:assert/strict';
import { createServer, connect as tcpConnect, type AddressInfo, type Server, type Socket } from 'node:net';
import { request as httpRequest, type ClientRequest } from 'node:http';
import { test } from 'node:test';
import { pino } from 'pino';
import { status, type ServiceError } from '@grpc/grpc-js';
import { resolveConfig, type NodeConfig } from '../../src/config.ts';
import { SluiceNode } from '../../src/sluice-node.ts';
import { tempDir } from '../process/harness.ts';
import { ingestClient, ingestWrite, type IngestClient, type IngestReply } from '../process/ingest-client.ts';
import { TEST_TOKEN, authHeaders } from '../support/auth.ts';

type Owner = { after: (fn: () => Promise<void> | void) => void };

const METERED = {
  name: 'metered',
  shardKey: 'device',
  fields: [
    { name: 'device', type: 'string', required: true },
    { name: 'n', type: 'int' },
  ],
};

/** The bound every test sets, ms: the smallest config allows. */
const TIMEOUT_MS = 1_000;

function records(prefix: string, n: number): Buffer {
  return Buffer.from(Array.from({ length: n }, (_, i) => JSON.stringify({ device: `${prefix}-${i}`, n: i })).join('\n'));
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

async function api(node: SluiceNode, method: string, path: string, body?: object): Promise<{ status: number; text: string }> {
  const res = await fetch(`${node.url}${path}`, { method, headers: { ...authHeaders(), 'content-type': 'application/json' }, ...(body === undefined ? {} : { body: JSON.stringify(body) }) });
  return { status: res.status, text: await res.text() };
}

async function startNode(t: Owner, options: Partial<NodeConfig>): Promise<SluiceNode> {
  let node: SluiceNode | undefined;
  const removals: (() => void)[] = [];
  t.after(async () => {
    await node?.stop();
    for (const remove of removals) remove();
  });
  const dir = tempDir({ after: (fn) => removals.push(fn) }, 'sluice-grpc-timeouts-');
  const config = resolveConfig({ dataDir: dir, httpPort: 0, grpcEnabled: true, grpcPort: 0, bootstrapToken: TEST_TOKEN, diskFreeBytesMin: 0, auditLog: 'off', ...options });
  node = await SluiceNode.start(config, pino({ level: 'silent' }));
  const created = await api(node, 'POST', '/v1/tables', METERED);
  assert.equal(created.status, 201, created.text);
  return node;
}

function client(t: Owner, port: number): IngestClient {
  const c = ingestClient(port);
  t.after(() => c.close());
  return c;
}

/** A gauge or counter of the node's /metrics (summed over its labels). */
async function metric(node: SluiceNode, name: string): Promise<number> {
  const res = await api(node, 'GET', '/metrics');
  assert.equal(res.status, 200, res.text);
  return res.text
    .split('\n')
    .filter((l) => l.startsWith(`${name} `) || l.startsWith(`${name}{`))
    .reduce((sum, l) => sum + Number(l.split(' ').at(-1)), 0);
}

async function exported(node: SluiceNode): Promise<string[]> {
  const res = await api(node, 'GET', '/v1/tables/metered/export');
  assert.equal(res.status, 200, res.text);
  return res.text.trim() === '' ? [] : res.text.trim().split('\n').map((l) => (JSON.parse(l) as { device: string }).device);
}

/**
 * A TCP proxy to `port` that forwards everything until `stallAfter(n)`: from
 * then on it forwards `n` more bytes of what clients send and holds the rest,
 * as a link that stops carrying a client's bytes mid-message. What the node
 * sends back always passes.
 */
async function stallingProxy(t: Owner, port: number): Promise<{ port: number; stallAfter: (bytes: number) => void }> {
  let budget = Number.POSITIVE_INFINITY;
  const sockets = new Set<Socket>();
  const server: Server = createServer((inbound) => {
    const outbound = tcpConnect(port, '127.0.0.1');
    sockets.add(inbound).add(outbound);
    outbound.pipe(inbound);
    inbound.on('data', (chunk: Buffer) => {
      const n = Math.min(chunk.length, budget);
      budget -= n;
      if (n > 0) outbound.write(chunk.subarray(0, n));
    });
    const close = (): void => {
      inbound.destroy();
      outbound.destroy();
    };
    inbound.on('error', close).on('close', close);
    outbound.on('error', close).on('close', close);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.after(async () => {
    for (const s of sockets) s.destroy();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });
  return { port: (server.address() as AddressInfo).port, stallAfter: (bytes) => (budget = bytes) };
}

/** A unary Write's outcome: records written, or the status and sluice code it ended with, and when. */
async function outcome(c: IngestClient, req: object): Promise<{ written: number } | { code: number; sluiceCode: string; ms: number }> {
  const started = Date.now();
  try {
    return { written: (await ingestWrite(c, req)).written };
  } catch (err) {
    const e = err as ServiceError;
    return { code: e.code, sluiceCode: String(e.metadata?.get('sluice-code')[0] ?? ''), ms: Date.now() - started };
  }
}

/** A WriteStream whose replies are collected; `ended` resolves with its error status, or undefined if it ended OK. */
function openStream(c: IngestClient): { write: (req: object) => void; replies: IngestReply[]; replied: (n: number) => Promise<void>; ended: Promise<ServiceError | undefined> } {
  const stream = c.WriteStream();
  const replies: IngestReply[] = [];
  const ended = new Promise<ServiceError | undefined>((resolve) => {
    stream.on('data', (r: IngestReply) => replies.push(r));
    stream.on('error', (err: ServiceError) => resolve(err));
    stream.on('end', () => resolve(undefined));
  });
  const replied = async (n: number): Promise<void> => {
    while (replies.length < n) await sleep(5);
  };
  return { write: (req) => void stream.write(req), replies, replied, ended };
}

/** Resolves with `p`'s value, or 'pending' if it takes longer than `ms`. */
function within<T>(p: Promise<T>, ms: number): Promise<T | 'pending'> {
  return Promise.race([p, sleep(ms).then(() => 'pending' as const)]);
}

function assertTimedOut(err: ServiceError | undefined, what: string): void {
  assert.equal(err?.code, status.DEADLINE_EXCEEDED, `${what} ended with ${err?.code} ${err?.details}`);
  assert.equal(err?.metadata.get('sluice-code')[0], 'REQUEST_TIMEOUT', what);
}

test('a unary Write whose client stalls mid-message is ended after --grpc-unary-read-timeout-ms (DEADLINE_EXCEEDED, REQUEST_TIMEOUT): its read slot goes to the next Write, nothing of it is written', { timeout: 30_000 }, async (t) => {
  const node = await startNode(t, { grpcUnaryReadsMax: 1, grpcUnaryReadTimeoutMs: TIMEOUT_MS, grpcStreamIdleTimeoutMs: TIMEOUT_MS });
  const proxy = await stallingProxy(t, node.grpcPort as number);
  const slow = client(t, proxy.port);
  // Connected, and its headers indexed by HPACK, so what passes next is small headers and the start of a message.
  assert.deepEqual(await outcome(slow, { table: 'metered', records: records('warm', 1) }), { written: 1 });
  proxy.stallAfter(1_000);
  const stalled = outcome(slow, { table: 'metered', records: records('stalled', 2_000) });
  while ((await metric(node, 'sluice_grpc_unary_writes_reading')) < 1) await sleep(5);

  // The only read slot is held: the next Write waits for it.
  const next = outcome(client(t, node.grpcPort as number), { table: 'metered', records: records('next', 5) });
  const result = await within(stalled, 10 * TIMEOUT_MS);
  assert.notEqual(result, 'pending', 'the stalled Write is ended by the node');
  assert.deepEqual(result, { ...(result as object), code: status.DEADLINE_EXCEEDED, sluiceCode: 'REQUEST_TIMEOUT' });
  const ms = (result as { ms: number }).ms;
  assert.ok(ms >= TIMEOUT_MS - 50 && ms < 5 * TIMEOUT_MS, `ended after ${ms} ms (bound ${TIMEOUT_MS} ms)`);
  assert.deepEqual(await within(next, 5 * TIMEOUT_MS), { written: 5 }, 'the freed slot reads the next Write');
  assert.equal(await metric(node, 'sluice_grpc_unary_writes_reading'), 0);
  assert.equal(await metric(node, 'sluice_grpc_read_timeouts_total'), 1);
  const devices = await exported(node);
  assert.equal(devices.filter((d) => d.startsWith('stalled-')).length, 0, 'nothing of the stalled message is written');
  assert.equal(devices.length, 6);
});

test('a WriteStream whose client stalls mid-batch is ended after --grpc-stream-idle-timeout-ms (DEADLINE_EXCEEDED, REQUEST_TIMEOUT): its stream slot is freed, the batches before it stay written', { timeout: 30_000 }, async (t) => {
  const node = await startNode(t, { grpcStreamsMax: 1, grpcUnaryReadTimeoutMs: TIMEOUT_MS, grpcStreamIdleTimeoutMs: TIMEOUT_MS });
  const proxy = await stallingProxy(t, node.grpcPort as number);
  const stream = openStream(client(t, proxy.port));
  stream.write({ table: 'metered', records: records('first', 10), sequence: '0' });
  await stream.replied(1);
  proxy.stallAfter(1_000);
  const started = Date.now();
  stream.write({ table: 'metered', records: records('stalled', 2_000), sequence: '1' });
  const err = await within(stream.ended, 10 * TIMEOUT_MS);
  assert.notEqual(err, 'pending', 'the stalled stream is ended by the node');
  assertTimedOut(err as ServiceError, 'the stalled stream');
  assert.ok(Date.now() - started < 5 * TIMEOUT_MS);
  assert.deepEqual(stream.replies.map((r) => [r.sequence, r.written]), [['0', 10]]);

  // The only stream slot is free again.
  const next = openStream(client(t, node.grpcPort as number));
  next.write({ table: 'metered', records: records('next', 5), sequence: '0' });
  await within(next.replied(1), 5 * TIMEOUT_MS);
  assert.deepEqual(next.replies.map((r) => [r.sequence, r.written, r.error?.code]), [['0', 5, undefined]]);
  const devices = await exported(node);
  assert.equal(devices.filter((d) => d.startsWith('stalled-')).length, 0, 'nothing of the stalled batch is written');
  assert.equal(devices.length, 15);
});

test('a WriteStream that sends nothing between batches is ended after --grpc-stream-idle-timeout-ms; while it sends, it stays open', { timeout: 30_000 }, async (t) => {
  const node = await startNode(t, { grpcUnaryReadTimeoutMs: TIMEOUT_MS, grpcStreamIdleTimeoutMs: TIMEOUT_MS });
  const stream = openStream(client(t, node.grpcPort as number));
  // Batches half the bound apart for three times the bound: the clock starts again with each one.
  for (let i = 0; i < 6; i++) {
    stream.write({ table: 'metered', records: records(`b${i}`, 3), sequence: String(i) });
    await stream.replied(i + 1);
    await sleep(TIMEOUT_MS / 2);
  }
  assert.equal(await within(stream.ended, 0), 'pending', 'a stream that keeps sending is not cut');
  const err = await within(stream.ended, 10 * TIMEOUT_MS);
  assertTimedOut(err as ServiceError, 'the idle stream');
  assert.equal(stream.replies.filter((r) => r.written === 3).length, 6);
  assert.equal(await metric(node, 'sluice_grpc_read_timeouts_total'), 1);
});

test('a WriteStream batch waiting for admission longer than the idle bound is not cut: only time spent waiting on the client counts', { timeout: 30_000 }, async (t) => {
  const node = await startNode(t, { inFlightBytesMax: 64 * 1024, grpcUnaryReadTimeoutMs: TIMEOUT_MS, grpcStreamIdleTimeoutMs: TIMEOUT_MS });
  // An HTTP write admitted by its declared 1 MiB, of which it sends one line: admission stays past its bound meanwhile.
  const url = new URL(`${node.url}/v1/tables/metered/records`);
  const holder: ClientRequest = httpRequest({ host: url.hostname, port: url.port, path: url.pathname, method: 'POST', headers: { authorization: `Bearer ${TEST_TOKEN}`, 'content-type': 'application/x-ndjson', 'content-length': String(1024 * 1024) } });
  holder.on('error', () => undefined);
  t.after(() => void holder.destroy());
  holder.write(records('held', 1));
  while ((await metric(node, 'sluice_inflight_bytes')) <= 64 * 1024) await sleep(5);

  const stream = openStream(client(t, node.grpcPort as number));
  stream.write({ table: 'metered', records: records('waits', 5), sequence: '0' });
  await sleep(3 * TIMEOUT_MS);
  assert.equal(await within(stream.ended, 0), 'pending', 'a stream whose batch waits on the node is not cut');
  assert.equal(stream.replies.length, 0, 'the batch still waits for admission');
  holder.destroy();
  await within(stream.replied(1), 5 * TIMEOUT_MS);
  assert.deepEqual(stream.replies.map((r) => [r.sequence, r.written]), [['0', 5]]);
});

test('a WriteStream batch admitted and waiting for its table\'s rate longer than the idle bound is not cut, though its stream may already read the next one', { timeout: 30_000 }, async (t) => {
  const node = await startNode(t, { grpcUnaryReadTimeoutMs: TIMEOUT_MS, grpcStreamIdleTimeoutMs: TIMEOUT_MS });
  // The first batch takes the burst; the second waits ~2.5 s for the rate, admitted, while the stream reads on.
  assert.equal((await api(node, 'PATCH', '/v1/tables/metered', { limits: { recordsPerSecond: 2, recordsBurst: 5 } })).status, 200);
  const stream = openStream(client(t, node.grpcPort as number));
  stream.write({ table: 'metered', records: records('a', 5), sequence: '0' });
  await stream.replied(1);
  const started = Date.now();
  stream.write({ table: 'metered', records: records('b', 5), sequence: '1' });
  await within(stream.replied(2), 10 * TIMEOUT_MS);
  assert.ok(Date.now() - started > 2 * TIMEOUT_MS, `the batch waited ${Date.now() - started} ms for the rate`);
  assert.deepEqual(stream.replies.map((r) => [r.sequence, r.written]), [['0', 5], ['1', 5]], 'the stream outlived its batch\'s wait');
});
