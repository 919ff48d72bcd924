/**
 * What unary gRPC `Write` calls may make a node hold outside its admission
 * bound (DESIGN §2: memory stays bounded under any load). grpc-js reads a
 * unary call's message whole before the handler can refuse it, so the node
 * refuses a call at its headers, before its message is read, when it could
 * admit nothing now; and it caps the calls being read at once
 * (`--grpc-unary-reads-max`): one past it waits at its headers, unread, and
 * one past 16 × the cap waiting is refused there. The gauges
 * `sluice_grpc_unary_writes_reading` and `…_waiting` say how many there are
 * (decision 53).
 */
import assert from 'node:assert/strict';
import { connect, constants as h2, type ClientHttp2Stream, type ClientHttp2Session } from 'node:http2';
import { request as httpRequest, type ClientRequest } from 'node:http';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { status, type ServiceError } from '@grpc/grpc-js';
import { freePort } from './etcd.ts';
import { NodeProcess, TEST_TOKEN, http, sleep, tempDir } from './harness.ts';
import { ingestClient, ingestWrite, type IngestClient } from './ingest-client.ts';
import { PAYMENTS } from './tables.ts';

/** `n` payments rows (about 80 bytes each) whose txn_ids start with `prefix`. */
function payments(prefix: string, n: number): Buffer {
  const lines: string[] = [];
  for (let i = 0; i < n; i++) lines.push(JSON.stringify({ account_id: `acct-${i % 7}`, txn_id: `${prefix}-${i}`, amount: `${i}.50`, ts: 1_700_000_000_000 + i }));
  return Buffer.from(lines.join('\n'));
}

async function startNode(t: { after: (fn: () => Promise<void> | void) => void }, args: string[]): Promise<{ node: NodeProcess; port: number; client: () => IngestClient }> {
  const port = await freePort();
  const node = await NodeProcess.start(t, { dataDir: tempDir(t, 'sluice-grpc-unary-'), args: ['--grpc', `127.0.0.1:${port}`, ...args] });
  const created = await http(`${node.url}/v1/tables`, { method: 'POST', body: JSON.stringify(PAYMENTS) });
  assert.equal(created.status, 201, created.text);
  // One channel (one HTTP/2 connection) per client, as separate writers would have.
  const client = (): IngestClient => {
    const c = ingestClient(port);
    t.after(() => c.close());
    return c;
  };
  return { node, port, client };
}

/** A gauge (or unlabelled counter) of the node's /metrics. */
async function metric(url: string, name: string): Promise<number> {
  const res = await http(`${url}/metrics`);
  assert.equal(res.status, 200, res.text);
  const line = res.text.split('\n').find((l) => l.startsWith(`${name} `));
  assert.ok(line !== undefined, `the node exports ${name}`);
  return Number(line.split(' ')[1]);
}

const READING = 'sluice_grpc_unary_writes_reading';
const WAITING = 'sluice_grpc_unary_writes_waiting';

function readBytes(pid: number): number {
  return Number(/rchar: (\d+)/.exec(readFileSync(`/proc/${pid}/io`, 'utf8'))?.[1]);
}

async function until(what: string, check: () => Promise<boolean>, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}`);
    await sleep(10);
  }
}

async function exportedTxnIds(url: string): Promise<string[]> {
  const res = await http(`${url}/v1/tables/payments/export`);
  assert.equal(res.status, 200, res.text);
  return res.text.trim() === '' ? [] : res.text.trim().split('\n').map((l) => (JSON.parse(l) as { txn_id: string }).txn_id);
}

/** A unary Write's outcome: records written, or the gRPC status and sluice code it was refused with. */
async function outcome(c: IngestClient, req: object): Promise<{ written: number } | { code: number; sluiceCode: string; details: string }> {
  try {
    return { written: (await ingestWrite(c, req)).written };
  } catch (err) {
    const e = err as ServiceError;
    return { code: e.code, sluiceCode: String(e.metadata?.get('sluice-code')[0] ?? ''), details: e.details };
  }
}

/** The status a raw HTTP/2 gRPC call ends with (trailers-only, or headers then trailers). */
interface RawStatus {
  readonly grpcStatus: number;
  readonly sluiceCode: string;
}

/**
 * A unary Write opened by hand on `session`: its headers, then `body` (part of a message, or nothing)
 * without ending the request, so the call stays open with its message unread or half read.
 */
function rawWrite(session: ClientHttp2Session, body: Buffer): { stream: ClientHttp2Stream; status: Promise<RawStatus> } {
  const stream = session.request({
    [h2.HTTP2_HEADER_METHOD]: 'POST',
    [h2.HTTP2_HEADER_PATH]: '/sluice.v1.Ingest/Write',
    [h2.HTTP2_HEADER_CONTENT_TYPE]: 'application/grpc',
    te: 'trailers',
    authorization: `Bearer ${TEST_TOKEN}`,
  });
  const status = new Promise<RawStatus>((resolve, reject) => {
    const take = (headers: Record<string, unknown>): void => {
      if (headers['grpc-status'] !== undefined) resolve({ grpcStatus: Number(headers['grpc-status']), sluiceCode: String(headers['sluice-code'] ?? '') });
    };
    stream.on('response', take);
    stream.on('trailers', take);
    stream.on('error', reject);
    stream.on('close', () => reject(new Error(`closed without a status (rst ${stream.rstCode})`)));
  });
  status.catch(() => undefined);
  stream.write(body);
  return { stream, status };
}

/** A gRPC length-prefixed frame header announcing a message of `length` bytes, and `sent` bytes of it. */
function partialMessage(length: number, sent: number): Buffer {
  const head = Buffer.alloc(5);
  head.writeUInt32BE(length, 1);
  return Buffer.concat([head, Buffer.alloc(sent, 0x20)]);
}

test('a flood of large unary Writes against a small admission bound: at most --grpc-unary-reads-max are read at once; each is written or refused with OVERLOADED, and nothing refused is stored', { timeout: 120_000 }, async (t) => {
  const cap = 8;
  const { node, client } = await startNode(t, ['--in-flight-bytes-max', String(64 * 1024), '--grpc-unary-reads-max', String(cap)]);
  const connections = 16;
  const perConnection = 8;
  // ~240 KB a message: nearly every one is past what admission has room for when it arrives.
  const rows = 3_000;
  const floodMs = 5_000;
  const clients = Array.from({ length: connections }, () => client());
  let most = 0;
  let mostWaiting = 0;
  let sampling = true;
  const sampler = (async () => {
    while (sampling) {
      most = Math.max(most, await metric(node.url, READING));
      mostWaiting = Math.max(mostWaiting, await metric(node.url, WAITING));
      await sleep(5);
    }
  })();
  const readBefore = readBytes(node.pid);
  let offered = 0;
  const deadline = Date.now() + floodMs;
  // Each writer sends its next batch once one is written, and a refused one again 10 ms after its refusal, until the deadline.
  const outcomes = await Promise.all(
    Array.from({ length: connections * perConnection }, async (_, i) => {
      const c = clients[i % connections] as IngestClient;
      const mine = [];
      let batch = 0;
      let records = payments(`w${i}b${batch}`, rows);
      while (Date.now() < deadline) {
        offered += records.length;
        const result = await outcome(c, { table: 'payments', records });
        mine.push({ prefix: `w${i}b${batch}`, result });
        if ('written' in result) records = payments(`w${i}b${++batch}`, rows);
        else await sleep(10);
      }
      return mine;
    }),
  ).finally(() => (sampling = false));
  await sampler;
  const read = readBytes(node.pid) - readBefore;

  const all = outcomes.flat();
  const written = all.filter((o) => 'written' in o.result);
  const refused = all.filter((o) => !('written' in o.result));
  t.diagnostic(`${written.length} written, ${refused.length} refused; at most ${most} read and ${mostWaiting} waiting at once; the node read ${read} bytes; clients offered ${offered}`);
  for (const o of written) assert.deepEqual(o.result, { written: rows }, o.prefix);
  for (const o of refused) assert.deepEqual(o.result, { ...o.result, code: status.RESOURCE_EXHAUSTED, sluiceCode: 'OVERLOADED' }, o.prefix);
  assert.ok(written.length > 0, 'some writes were admitted');
  assert.ok(refused.length > 0, 'the flood passed the admission bound');
  assert.ok(most <= cap, `the node read ${most} unary messages at once outside admission; at most --grpc-unary-reads-max (${cap}) may be read`);
  assert.ok(mostWaiting <= 16 * cap, `${mostWaiting} calls waited at their headers; at most 16 × --grpc-unary-reads-max may`);
  // A refused call's client is told to stop sending (RST_STREAM NO_ERROR after the status), so most of what was sent is never read.
  assert.ok(read < offered / 2, `the node read ${read} bytes while clients offered ${offered}: refused messages were read`);
  assert.equal(await metric(node.url, READING), 0, 'nothing is left reading once every call is answered');
  assert.equal(await metric(node.url, WAITING), 0, 'nothing is left waiting once every call is answered');
  const ids = await exportedTxnIds(node.url);
  assert.equal(ids.length, written.length * rows, 'every admitted write stored once, nothing of a refused one');
  assert.equal(new Set(ids).size, ids.length);
  // The flood is over: a Write the node can admit is written.
  assert.deepEqual(await outcome(clients[0] as IngestClient, { table: 'payments', records: payments('after', 10) }), { written: 10 });
});

test('a burst of 1,024 one-record unary Writes at once on an idle node: every one is written (those past --grpc-unary-reads-max wait, unread)', { timeout: 120_000 }, async (t) => {
  const { node, client } = await startNode(t, []);
  const connections = 4;
  const perConnection = 256;
  const clients = Array.from({ length: connections }, () => client());
  // Connected first, so the burst arrives at once rather than behind four handshakes.
  for (const [k, c] of clients.entries()) assert.deepEqual(await outcome(c, { table: 'payments', records: payments(`warm${k}`, 1) }), { written: 1 });
  const results = await Promise.all(
    Array.from({ length: connections * perConnection }, (_, i) => outcome(clients[i % connections] as IngestClient, { table: 'payments', records: payments(`burst${i}`, 1) })),
  );
  const counts = new Map<string, number>();
  for (const r of results) counts.set(JSON.stringify(r), (counts.get(JSON.stringify(r)) ?? 0) + 1);
  assert.deepEqual([...counts], [[JSON.stringify({ written: 1 }), connections * perConnection]]);
  assert.equal((await exportedTxnIds(node.url)).filter((id) => id.startsWith('burst')).length, connections * perConnection);
});

test('a unary Write past --grpc-unary-reads-max waits at its headers until a read ends; past 16 × it waiting one is refused there (RESOURCE_EXHAUSTED, OVERLOADED)', { timeout: 60_000 }, async (t) => {
  const cap = 2;
  const { node, port, client } = await startNode(t, ['--grpc-unary-reads-max', String(cap)]);
  const session = connect(`http://127.0.0.1:${port}`);
  t.after(() => session.destroy());
  // Calls whose clients are slow to send their message: each is being read, with 10 of its 100,000 bytes in.
  const slow = Array.from({ length: cap }, () => rawWrite(session, partialMessage(100_000, 10)));
  await until(`${cap} calls being read`, async () => (await metric(node.url, READING)) === cap);

  // The next Write waits, unread.
  const c = client();
  let answered = false;
  const waiting = outcome(c, { table: 'payments', records: payments('waits', 10) }).finally(() => (answered = true));
  await until('a call waiting', async () => (await metric(node.url, WAITING)) === 1);
  await sleep(300);
  assert.equal(answered, false, 'a Write past the cap waits for a read to end');
  assert.equal(await metric(node.url, READING), cap);

  // Fill what may wait (16 × the cap) with calls that only sent their headers; one more is refused at its headers.
  const more = Array.from({ length: 16 * cap - 1 }, () => rawWrite(session, Buffer.alloc(0)));
  await until('the waiting calls at their bound', async () => (await metric(node.url, WAITING)) === 16 * cap);
  const past = await outcome(c, { table: 'payments', records: payments('past', 10) });
  assert.deepEqual(past, { ...past, code: status.RESOURCE_EXHAUSTED, sluiceCode: 'OVERLOADED' });
  assert.equal(await metric(node.url, WAITING), 16 * cap, 'the refused call never waited');
  // Clients that give up while waiting leave the queue.
  for (const m of more) m.stream.close(h2.NGHTTP2_CANCEL);
  await until('the given-up calls gone', async () => (await metric(node.url, WAITING)) === 1);

  // One slow client gives up: its call is over, and the waiting Write is read and written.
  slow[0]?.stream.close(h2.NGHTTP2_CANCEL);
  assert.deepEqual(await waiting, { written: 10 });
  slow[1]?.stream.close(h2.NGHTTP2_CANCEL);
  await until('no call read or waiting', async () => (await metric(node.url, READING)) + (await metric(node.url, WAITING)) === 0);
  assert.deepEqual(await outcome(c, { table: 'payments', records: payments('room', 10) }), { written: 10 });
  const ids = await exportedTxnIds(node.url);
  assert.equal(ids.filter((id) => id.startsWith('past-')).length, 0, 'nothing of the refused call was written');
  assert.equal(ids.filter((id) => id.startsWith('waits-')).length, 10);
});

test('a unary Write arriving while admission has no room is refused at its headers, before it sends its message; once room is back a Write is written', { timeout: 60_000 }, async (t) => {
  const { node, port, client } = await startNode(t, ['--in-flight-bytes-max', String(64 * 1024)]);
  // An HTTP write admitted by its declared 1 MiB, of which it sends one line: admission stays past its bound meanwhile.
  const url = new URL(`${node.url}/v1/tables/payments/records`);
  const holder: ClientRequest = httpRequest({ host: url.hostname, port: url.port, path: url.pathname, method: 'POST', headers: { authorization: `Bearer ${TEST_TOKEN}`, 'content-type': 'application/x-ndjson', 'content-length': String(1024 * 1024) } });
  holder.on('error', () => undefined);
  holder.write(payments('held', 1));
  await until('the HTTP write admitted', async () => (await metric(node.url, 'sluice_inflight_bytes')) > 64 * 1024);

  const session = connect(`http://127.0.0.1:${port}`);
  t.after(() => session.destroy());
  // Only the headers: a node that waited to read the message before refusing would never answer.
  const early = rawWrite(session, Buffer.alloc(0));
  const answer = await Promise.race([early.status, sleep(5_000).then(() => undefined)]);
  assert.deepEqual(answer, { grpcStatus: status.RESOURCE_EXHAUSTED, sluiceCode: 'OVERLOADED' }, 'answered at the headers, with no message sent');
  assert.equal(await metric(node.url, READING), 0, 'the refused call was never read');
  early.stream.close(h2.NGHTTP2_CANCEL);

  holder.destroy();
  await until('admission empty', async () => (await metric(node.url, 'sluice_inflight_bytes')) === 0);
  assert.deepEqual(await outcome(client(), { table: 'payments', records: payments('after', 10) }), { written: 10 });
});
