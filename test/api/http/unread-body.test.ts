/**
 * unread-body.ts through a node's own HTTP server: an error answered before
 * a large body was read closes the connection without reading the rest
 * (half-closed with the answer, destroyed after the linger), while a small
 * unread body is still drained and its connection kept for the next request.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import tls from 'node:tls';
import path from 'node:path';
import { pino } from 'pino';
import { HTTP_UNREAD_BODY_DRAIN_BYTES_MAX, HTTP_UNREAD_BODY_LINGER_MS, resolveConfig } from '../../../src/config.ts';
import { SluiceNode } from '../../../src/sluice-node.ts';
import { tempDir } from '../../process/harness.ts';
import { TEST_TOKEN, authHeaders } from '../../support/auth.ts';
import { createTestCa, nodeCertsDir } from '../../support/cluster-certs.ts';

const BODY_BYTES_MAX = 4 * 1024 * 1024;
let node: SluiceNode | undefined;
let port = 0;
after(async () => {
  await node?.stop();
});
const dir = tempDir({ after }, 'sluice-unread-');

before(async () => {
  // The request timeout is far past the test's waits: a connection closed within them was closed by the node's choice.
  const config = resolveConfig({ dataDir: dir, httpPort: 0, bootstrapToken: TEST_TOKEN, diskFreeBytesMin: 0, auditLog: 'off', bodyBytesMax: BODY_BYTES_MAX, httpRequestTimeoutMs: 120_000, authFailuresPerMinuteMax: 100_000 });
  node = await SluiceNode.start(config, pino({ level: 'silent' }));
  watchReads(node);
  port = Number(new URL(node.url).port);
});

/**
 * Sends a POST's head and the first `sentBytes` of a body said to be larger; what comes back, when the
 * node's FIN came (`endedMs`) and when the connection closed (`closedMs`). Half-open: the client does not
 * close on the node's FIN, so a close is the node's reset.
 */
async function partialPost(head: Record<string, string>, sentBytes: number, over: { port: number; ca?: string } = { port }) {
  const socket = over.ca === undefined ? net.connect({ port: over.port, host: '127.0.0.1', allowHalfOpen: true }) : tls.connect({ port: over.port, host: '127.0.0.1', ca: over.ca, allowHalfOpen: true } as tls.ConnectionOptions);
  let received = '';
  socket.setEncoding('utf8').on('data', (chunk: string) => (received += chunk));
  socket.on('error', () => undefined);
  await new Promise<void>((resolve, reject) => socket.once(over.ca === undefined ? 'connect' : 'secureConnect', resolve).once('error', reject));
  const lines = Object.entries({ host: `127.0.0.1:${over.port}`, 'content-type': 'application/x-ndjson', ...head }).map(([k, v]) => `${k}: ${v}`);
  socket.write(`POST /ingest HTTP/1.1\r\n${lines.join('\r\n')}\r\n\r\n`);
  const bytes = Buffer.alloc(sentBytes, 0x20);
  // A chunked body's first chunk, and no last one.
  socket.write(head['transfer-encoding'] === 'chunked' ? Buffer.concat([Buffer.from(`${sentBytes.toString(16)}\r\n`), bytes, Buffer.from('\r\n')]) : bytes);
  const started = Date.now();
  const endedMs = new Promise<number>((resolve) => socket.once('end', () => resolve(Date.now() - started)));
  const closedMs = new Promise<number>((resolve) => socket.once('close', () => resolve(Date.now() - started)));
  return { socket, received: () => received, endedMs, closedMs };
}

/** The connections the nodes under test accepted: what they read is counted on these sockets alone. */
const serverSockets = new Set<net.Socket>();

/** Counts what `n`'s HTTP(S) listener reads from its connections (raw bytes, TLS records included). */
function watchReads(n: SluiceNode): void {
  (n as unknown as { app: { server: net.Server } }).app.server.on('connection', (s: net.Socket) => serverSockets.add(s));
}

/**
 * Bytes the nodes' connections have read. Counted per socket, not from the
 * process's read total (/proc/self/io), which also counts every file this
 * process reads meanwhile: on a loaded machine that alone passed the bound.
 */
function bytesRead(): number {
  let n = 0;
  for (const s of serverSockets) n += s.bytesRead;
  return n;
}

function statusOf(received: string): number {
  return Number(/^HTTP\/1\.1 (\d{3})/.exec(received)?.[1]);
}

async function within<T>(ms: number, p: Promise<T>, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`not within ${ms} ms: ${what}`)), ms)));
  try {
    return await Promise.race([p, late]);
  } finally {
    clearTimeout(timer);
  }
}

test('a large body refused before it was read (401, 413) gets its answer with Connection: close, and the connection closes without the rest', async () => {
  const cases = [
    { what: '401, declared past the drain bound', head: { 'content-length': String(3 * 1024 * 1024) }, status: 401 },
    { what: '413, declared past --body-bytes-max', head: { ...authHeaders(), 'content-length': String(BODY_BYTES_MAX + 1) }, status: 413 },
    { what: '401, chunked (length unknown)', head: { 'transfer-encoding': 'chunked' }, status: 401 },
  ];
  await refusedUnread(cases, { port });
  assert.equal(await unreadBodyCloses(), cases.length, 'each close is counted');
});

test('over the HTTPS listener too', async (t) => {
  let secure: SluiceNode | undefined;
  // Registered first: after-hooks run in order, and the node stops before its directories go.
  t.after(() => secure?.stop());
  const ca = await createTestCa(tempDir(t, 'sluice-unread-ca-'));
  const certs = await nodeCertsDir(ca, 'n1');
  const config = resolveConfig({ dataDir: tempDir(t, 'sluice-unread-tls-'), httpPort: 0, bootstrapToken: TEST_TOKEN, diskFreeBytesMin: 0, auditLog: 'off', tlsMode: 'files', tlsCertFile: path.join(certs, 'node.crt'), tlsKeyFile: path.join(certs, 'node.key') });
  secure = await SluiceNode.start(config, pino({ level: 'silent' }));
  watchReads(secure);
  await refusedUnread([{ what: 'HTTPS 401, declared past the drain bound', head: { 'content-length': String(3 * 1024 * 1024) }, status: 401 }], { port: Number(new URL(secure.url).port), ca: ca.signing.certPem });
});

/** Each case's request refused with its body unread: its answer, the node's FIN, its close after the linger, and little read meanwhile. */
async function refusedUnread(cases: readonly { what: string; head: Record<string, string>; status: number }[], over: { port: number; ca?: string }): Promise<void> {
  for (const c of cases) {
    const conn = await partialPost(c.head, 64 * 1024, over);
    after(() => conn.socket.destroy());
    // The client never sends the rest: to keep the connection Node would wait for it, and read it.
    const endedMs = await within(5_000, conn.endedMs, `${c.what}: the node half-closes after its answer`);
    assert.equal(statusOf(conn.received()), c.status, `${c.what}: ${conn.received().slice(0, 200)}`);
    assert.match(conn.received(), /\r\nconnection: close\r\n/i, `${c.what}: the answer says it closes`);
    // The client goes on sending, as one still uploading does: the node does not read it, and its close answers with a reset.
    const readBefore = bytesRead();
    let sent = 0;
    const sending = setInterval(() => {
      conn.socket.write(Buffer.alloc(64 * 1024, 0x20));
      sent += 64 * 1024;
    }, 10);
    const closedMs = await within(HTTP_UNREAD_BODY_LINGER_MS + 5_000, conn.closedMs, `${c.what}: the node closes the connection`).finally(() => clearInterval(sending));
    const read = bytesRead() - readBefore;
    assert.ok(sent >= 1024 * 1024 && read < sent / 4, `${c.what}: the node read ${read} of the ${sent} bytes sent after its answer`);
    // Closed only after the linger: the client had that long to read the answer before the reset.
    assert.ok(closedMs - endedMs >= HTTP_UNREAD_BODY_LINGER_MS - 100, `${c.what}: FIN at ${endedMs} ms, closed at ${closedMs} ms`);
  }
}

/** sluice_http_connections_total{event="unread_body"} on the node's /metrics. */
async function unreadBodyCloses(): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${port}/metrics`, { headers: authHeaders() })).text();
  return Number(/^sluice_http_connections_total\{event="unread_body"\} (\d+)$/m.exec(text)?.[1] ?? 0);
}

test('a small unread body is drained and its connection answers the next request', async () => {
  const bytes = Math.min(1024, HTTP_UNREAD_BODY_DRAIN_BYTES_MAX);
  const conn = await partialPost({ 'content-length': String(bytes) }, bytes);
  after(() => conn.socket.destroy());
  await within(5_000, (async () => { while (!conn.received().includes('"UNAUTHENTICATED"')) await new Promise((r) => setTimeout(r, 10)); })(), 'the 401');
  assert.equal(statusOf(conn.received()), 401);
  assert.doesNotMatch(conn.received(), /\r\nconnection: close\r\n/i, 'kept alive');
  const counted = await unreadBodyCloses();
  conn.socket.write(`GET /healthz HTTP/1.1\r\nhost: 127.0.0.1:${port}\r\n\r\n`);
  await within(5_000, (async () => { while (!/HTTP\/1\.1 200/.test(conn.received())) await new Promise((r) => setTimeout(r, 10)); })(), 'the next request on the same connection');
  conn.socket.destroy();
  assert.equal(await unreadBodyCloses(), counted, 'a drained body closes nothing');
});

test("a client still sending its large body reads the refusal, not a reset (undici's fetch, 20 times)", async () => {
  const body = Buffer.alloc(3 * 1024 * 1024, 0x20);
  const statuses: (number | string)[] = [];
  for (let i = 0; i < 20; i++) {
    try {
      const res = await fetch(`http://127.0.0.1:${port}/ingest`, { method: 'POST', body, headers: { 'content-type': 'application/x-ndjson' } });
      await res.arrayBuffer();
      statuses.push(res.status);
    } catch (err) {
      statuses.push(String((err as { cause?: { code?: string } }).cause?.code ?? err));
    }
  }
  assert.deepEqual(statuses, Array.from({ length: 20 }, () => 401));
});
