/**
 * SIGTERM while callers wait on the node (a table's rate limit, room in
 * admission, an import mid-file): the node answers each wait at once with
 * the retryable SHUTTING_DOWN, writes nothing half and exits 0 well within
 * its shutdown grace (`shutdownGraceMs`, 10 s), whatever the clients do
 * meanwhile (a stream ended, a call cancelled). Requests stalled mid-way
 * (a body that never comes, headers never ended, on either listener) and
 * reads at the read barrier end within the grace.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { connect } from 'node:net';
import { status, type ServiceError } from '@grpc/grpc-js';
import { freePort } from './etcd.ts';
import { NodeProcess, authHeaders, http, sleep, tempDir } from './harness.ts';
import { ingestClient, type IngestClient, type IngestReply } from './ingest-client.ts';
import { PAYMENTS } from './tables.ts';

/** The node's shutdown grace (DEFAULT_CONFIG.shutdownGraceMs): a stop that waits it out kept a wait open. */
const GRACE_MS = 10_000;

function payments(prefix: string, n: number): Buffer {
  return Buffer.from(Array.from({ length: n }, (_, i) => JSON.stringify({ account_id: `acct-${i % 7}`, txn_id: `${prefix}-${i}`, amount: `${i}.50`, ts: 1_700_000_000_000 + i })).join('\n'));
}

async function metric(url: string, pattern: RegExp): Promise<number> {
  const text = await (await fetch(`${url}/metrics`, { headers: authHeaders() })).text();
  const m = pattern.exec(text);
  return m === null ? 0 : Number(m[1]);
}

async function until(what: string, check: () => Promise<boolean>): Promise<void> {
  const deadline = Date.now() + 20_000;
  while (!(await check())) {
    assert.ok(Date.now() < deadline, what);
    await sleep(50);
  }
}

/** A WriteStream whose replies and end (undefined: ended cleanly) are collected. */
function openStream(c: IngestClient): { stream: ReturnType<IngestClient['WriteStream']> & { cancel(): void }; replies: IngestReply[]; ended: Promise<ServiceError | undefined> } {
  const stream = c.WriteStream() as ReturnType<IngestClient['WriteStream']> & { cancel(): void };
  const replies: IngestReply[] = [];
  const ended = new Promise<ServiceError | undefined>((resolve) => {
    stream.on('data', (r: IngestReply) => replies.push(r));
    stream.on('end', () => resolve(undefined));
    stream.on('error', (err: ServiceError) => resolve(err));
  });
  return { stream, replies, ended };
}

test('SIGTERM while writes wait for a rate limit and for admission (gRPC streams, an import): SHUTTING_DOWN at once, exit 0 well within the grace, nothing half-written', { timeout: 120_000 }, async (t) => {
  const port = await freePort();
  const dataDir = tempDir(t);
  // The smallest admission bound: a batch waiting for its rate holds its bytes, and the next large one waits for room.
  const node = await NodeProcess.start(t, { dataDir, args: ['--grpc', `127.0.0.1:${port}`, '--in-flight-bytes-max', String(64 * 1024)] });
  assert.equal((await http(`${node.url}/v1/tables`, { method: 'POST', body: JSON.stringify(PAYMENTS) })).status, 201);
  // The first batch takes the burst; anything after it owes records at 0.01/s: hours.
  const patched = await http(`${node.url}/v1/tables/payments`, { method: 'PATCH', body: JSON.stringify({ limits: { recordsPerSecond: 0.01, recordsBurst: 100 } }) });
  assert.equal(patched.status, 200, patched.text);
  const c = ingestClient(port);
  t.after(() => c.close());

  // A: one batch written, the next (about 40 KB) waits for the rate; then the client ends the stream.
  const a = openStream(c);
  a.stream.write({ table: 'payments', records: payments('a', 100), sequence: '1' });
  a.stream.write({ table: 'payments', records: payments('b', 450), sequence: '2' });
  await until('the second batch never waited for the rate limit', async () => (await metric(node.url, /^sluice_rate_limit_wait_seconds_total\{table="payments"\} ([0-9.e+]+)$/m)) > 0);
  a.stream.end();
  // An import mid-file: its batch waits for the rate too.
  const csv = `account_id,txn_id,amount,ts\n${Array.from({ length: 50 }, (_, i) => `acct-${i % 3},imp-${i},1.00,2026-11-24T10:00:00Z`).join('\n')}\n`;
  const imported = http(`${node.url}/v1/tables/payments/import`, { method: 'POST', body: csv, headers: { 'content-type': 'text/csv' } });
  // B: a batch that waits for room in admission (A's waiting batch holds most of it).
  const b = openStream(c);
  b.stream.write({ table: 'payments', records: payments('c', 450), sequence: '1' });
  await until('no stream batch waited for admission', async () => (await metric(node.url, /^sluice_grpc_stream_batches_waiting ([0-9.e+]+)$/m)) > 0);
  // C: a client that gives up while its batch waits.
  const cc = openStream(c);
  cc.stream.write({ table: 'payments', records: payments('d', 10), sequence: '1' });
  await sleep(300);
  cc.stream.cancel();
  await sleep(300);

  const started = Date.now();
  node.child.kill('SIGTERM');
  let timer: NodeJS.Timeout | undefined;
  const exit = await Promise.race([node.waitExit(), new Promise<undefined>((resolve) => (timer = setTimeout(() => resolve(undefined), 60_000)))]);
  clearTimeout(timer);
  const ms = Date.now() - started;
  assert.ok(exit !== undefined, 'the node did not exit within 60 s of SIGTERM');
  assert.equal(exit.code, 0, node.stderr);
  assert.ok(ms < GRACE_MS, `the stop took ${ms} ms: it waited out its grace instead of answering the waits`);
  assert.equal(node.logs.at(-1)?.['event'], 'stopped', 'the last log line says the node stopped');

  assert.equal(a.replies[0]?.written, 100, 'the first batch was written');
  for (const [name, s] of [['A', a], ['B', b]] as const) {
    const err = await s.ended;
    assert.equal(err?.code, status.UNAVAILABLE, `stream ${name} ends UNAVAILABLE: ${err?.code} ${err?.message}`);
    assert.equal(err?.metadata.get('sluice-code')[0], 'SHUTTING_DOWN', `stream ${name}`);
  }
  const imp = await imported;
  assert.equal(imp.status, 503, imp.text);
  assert.equal(imp.body?.error?.code, 'SHUTTING_DOWN', imp.text);

  const again = await NodeProcess.start(t, { dataDir });
  const stored = (await http(`${again.url}/v1/tables/payments/export`)).text.trim().split('\n').map((l) => JSON.parse(l) as { txn_id: string });
  assert.equal(stored.length, 100, 'the first batch, whole, and nothing of the batches that waited');
  assert.ok(stored.every((r) => r.txn_id.startsWith('a-')));
});

/** A raw connection that sends `head` and nothing more (a client stalled mid-request); destroyed when the test ends. */
async function stalledRequest(t: { after: (fn: () => void) => void }, port: number, head: string): Promise<{ received: () => string; closed: Promise<void> }> {
  const socket = connect(port, '127.0.0.1');
  t.after(() => socket.destroy());
  await once(socket, 'connect');
  let received = '';
  socket.setEncoding('utf8').on('data', (s: string) => (received += s));
  const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
  socket.on('error', () => undefined);
  socket.write(head);
  return { received: () => received, closed };
}

async function stopWithin(node: NodeProcess): Promise<number> {
  const started = Date.now();
  node.child.kill('SIGTERM');
  let timer: NodeJS.Timeout | undefined;
  const exit = await Promise.race([node.waitExit(), new Promise<undefined>((resolve) => (timer = setTimeout(() => resolve(undefined), 60_000)))]);
  clearTimeout(timer);
  assert.ok(exit !== undefined, `the node did not exit within 60 s of SIGTERM: ${JSON.stringify(node.logs.slice(-3))}`);
  assert.equal(exit.code, 0, node.stderr);
  assert.equal(node.logs.at(-1)?.['event'], 'stopped', 'the last log line says the node stopped');
  return Date.now() - started;
}

test('SIGTERM with an import whose client waits for 100 Continue and never sends the file: exit 0 within the grace, nothing written', { timeout: 120_000 }, async (t) => {
  const dataDir = tempDir(t);
  const node = await NodeProcess.start(t, { dataDir });
  assert.equal((await http(`${node.url}/v1/tables`, { method: 'POST', body: JSON.stringify(PAYMENTS) })).status, 201);
  const expecting = await stalledRequest(t, Number(new URL(node.url).port), `POST /v1/tables/payments/import HTTP/1.1\r\nHost: x\r\nAuthorization: ${authHeaders()['authorization'] ?? ''}\r\nContent-Type: text/csv\r\nContent-Length: 1000000\r\nExpect: 100-continue\r\n\r\n`);
  await sleep(500);
  const ms = await stopWithin(node);
  assert.ok(ms < GRACE_MS + 3_000, `the stop took ${ms} ms, past its grace`);
  await expecting.closed;
  const again = await NodeProcess.start(t, { dataDir });
  assert.equal((await http(`${again.url}/v1/tables/payments/export`)).text.trim(), '', 'nothing of the import was written');
});

test('SIGTERM with a scraper whose headers never end on the ops listener (--metrics-listen): exit 0 within the grace', { timeout: 120_000 }, async (t) => {
  const node = await NodeProcess.start(t, { dataDir: tempDir(t), args: ['--metrics-listen', '127.0.0.1:0'] });
  const opsPort = Number((node.events('metrics_listening')[0]?.['address'] as { port: number }).port);
  const scraper = await stalledRequest(t, opsPort, 'GET /metrics HTTP/1.1\r\nHost: x\r\n');
  await sleep(500);
  const ms = await stopWithin(node);
  assert.ok(ms < GRACE_MS + 3_000, `the stop took ${ms} ms, past its grace`);
  await scraper.closed;
});

test('SIGTERM while reads wait at the read barrier (token= reads right behind their writes, under load): exit 0 within the grace, every answered read saw its write', { timeout: 120_000 }, async (t) => {
  const node = await NodeProcess.start(t, { dataDir: tempDir(t) });
  assert.equal((await http(`${node.url}/v1/tables`, { method: 'POST', body: JSON.stringify(PAYMENTS) })).status, 201);
  let stopping = false;
  const statuses = new Map<number, number>();
  // Each loop writes a batch and reads its last record by the write's token: the read waits until the index has it.
  const loop = async (w: number): Promise<void> => {
    for (let r = 0; !stopping; r++) {
      try {
        const written = await http(`${node.url}/v1/tables/payments/records`, { method: 'POST', body: payments(`w${w}.${r}`, 2_000), headers: { 'content-type': 'application/x-ndjson' } });
        if (written.status !== 200) continue;
        const id = (written.body.ids as string[]).at(-1) ?? '';
        const read = await http(`${node.url}/v1/tables/payments/records/${id}?token=${encodeURIComponent(String(written.body.token))}`);
        statuses.set(read.status, (statuses.get(read.status) ?? 0) + 1);
        if (read.status === 200) assert.equal(read.body.txn_id, `w${w}.${r}-1999`);
      } catch (err) {
        // The node closed its listener: a request after that has no connection; the loop is done.
        if (stopping || (err as Error).name === 'TypeError') return;
        throw err;
      }
    }
  };
  const loops = Promise.all(Array.from({ length: 8 }, (_, w) => loop(w)));
  await sleep(1_500);
  const ms = await stopWithin(node);
  stopping = true;
  await loops;
  assert.ok(ms < GRACE_MS, `the stop took ${ms} ms`);
  assert.ok((statuses.get(200) ?? 0) > 0, `token reads answered: ${JSON.stringify([...statuses])}`);
  for (const s of statuses.keys()) assert.ok(s === 200 || s === 503, `a token read answered ${s}`);
});
