/**
 * The public gRPC door, `sluice.v1.Ingest`, against a real node with a real
 * gRPC client built from the shipped .proto: unary and streaming writes
 * land exactly like HTTP writes, errors come back as gRPC status codes with
 * the stable sluice code, a bad batch in a stream fails alone, and a stream
 * under admission pressure waits instead of failing.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { status, type ServiceError } from '@grpc/grpc-js';
import { freePort } from './etcd.ts';
import { NodeProcess, http, tempDir } from './harness.ts';
import { ingestClient, ingestStream, ingestWrite as write, type IngestClient } from './ingest-client.ts';
import { PAYMENTS } from './tables.ts';

function payments(prefix: string, n: number, bad?: number): Buffer {
  const lines: string[] = [];
  for (let i = 0; i < n; i++) {
    const amount = i === bad ? 'not-a-number' : `${i}.50`;
    lines.push(JSON.stringify({ account_id: `acct-${i % 7}`, txn_id: `${prefix}-${i}`, amount, ts: 1_700_000_000_000 + i }));
  }
  return Buffer.from(lines.join('\n'));
}

async function exported(url: string): Promise<{ txn_id: string; _id: string }[]> {
  const res = await http(`${url}/v1/tables/payments/export`);
  assert.equal(res.status, 200, res.text);
  return res.text.trim() === '' ? [] : res.text.trim().split('\n').map((l) => JSON.parse(l) as { txn_id: string; _id: string });
}

async function startNode(t: { after: (fn: () => Promise<void> | void) => void }, args: string[] = []): Promise<{ node: NodeProcess; port: number; c: IngestClient }> {
  const port = await freePort();
  const node = await NodeProcess.start(t, { dataDir: tempDir(t, 'sluice-grpc-'), args: ['--grpc', `127.0.0.1:${port}`, ...args] });
  const created = await http(`${node.url}/v1/tables`, { method: 'POST', body: JSON.stringify(PAYMENTS) });
  assert.equal(created.status, 201, created.text);
  const c = ingestClient(port);
  t.after(() => c.close());
  return { node, port, c };
}

test('gRPC Write stores a batch like HTTP does, and errors are gRPC statuses carrying the sluice code', { timeout: 60_000 }, async (t) => {
  const { node, c } = await startNode(t);
  const reply = await write(c, { table: 'payments', records: payments('u', 100), sequence: '7' });
  assert.equal(reply.written, 100);
  assert.equal(reply.ids.length, 100);
  assert.equal(reply.sequence, '7');
  assert.ok(reply.token.length > 0);
  const one = await http(`${node.url}/v1/tables/payments/records/${reply.ids[5]}?token=${encodeURIComponent(reply.token)}`);
  assert.equal(one.status, 200, one.text);
  assert.equal(one.body.txn_id, 'u-5');

  // A JSON array works too.
  const array = await write(c, { table: 'payments', records: Buffer.from(JSON.stringify([{ account_id: 'a', txn_id: 'arr-1', amount: '1', ts: 1 }])) });
  assert.equal(array.written, 1);

  const missing = await write(c, { table: 'nope', records: payments('m', 1) }).then(() => undefined, (err: ServiceError) => err);
  assert.equal(missing?.code, status.NOT_FOUND);
  assert.equal(missing?.metadata.get('sluice-code')[0], 'TABLE_NOT_FOUND');

  const invalid = await write(c, { table: 'payments', records: payments('bad', 10, 4) }).then(() => undefined, (err: ServiceError) => err);
  assert.equal(invalid?.code, status.INVALID_ARGUMENT);
  assert.equal(invalid?.metadata.get('sluice-code')[0], 'SCHEMA_VIOLATION');
  assert.match(invalid?.details ?? '', /amount/);

  const badOption = await write(c, { table: 'payments', records: payments('o', 1), consistency: 'most' }).then(() => undefined, (err: ServiceError) => err);
  assert.equal(badOption?.code, status.INVALID_ARGUMENT);

  // skip mode stores the valid records and names the rejected one.
  const skipped = await write(c, { table: 'payments', records: payments('s', 10, 3), onInvalid: 'skip' });
  assert.equal(skipped.written, 9);
  assert.equal(skipped.rejectedCount, 1);
  assert.equal(skipped.rejected[0]?.index, 3);
  assert.equal(skipped.ids[3], '');

  const stored = await exported(node.url);
  assert.equal(stored.length, 100 + 1 + 9, 'nothing of the refused batches was stored');
  assert.equal(stored.filter((r) => r.txn_id.startsWith('bad-')).length, 0);
});

test('gRPC WriteStream: replies in order, a bad batch fails alone, every good record stored once', { timeout: 60_000 }, async (t) => {
  const { node, c } = await startNode(t);
  const batches = 120;
  const perBatch = 100;
  const badBatch = 57;
  const requests = Array.from({ length: batches }, (_, b) => ({ table: 'payments', records: payments(`b${b}`, perBatch, b === badBatch ? 9 : undefined), sequence: String(b) }));
  const replies = await ingestStream(c, requests);
  assert.deepEqual(replies.map((r) => r.sequence), Array.from({ length: batches }, (_, b) => String(b)), 'one reply per batch, in order');
  const bad = replies[badBatch];
  assert.equal(bad?.error?.code, 'SCHEMA_VIOLATION');
  assert.equal(bad?.error?.details[0]?.index, 9);
  for (const [b, r] of replies.entries()) if (b !== badBatch) assert.equal(r.written, perBatch, `batch ${b}: ${JSON.stringify(r.error)}`);
  const stored = await exported(node.url);
  assert.equal(stored.length, (batches - 1) * perBatch);
  assert.equal(new Set(stored.map((r) => r._id)).size, stored.length, 'no record twice');
  assert.equal(stored.filter((r) => r.txn_id.startsWith(`b${badBatch}-`)).length, 0, 'nothing of the bad batch');
});

test('under admission pressure a unary write is refused with RESOURCE_EXHAUSTED while a stream waits and loses nothing', { timeout: 90_000 }, async (t) => {
  // The smallest admission bound: a few batches fill it.
  const { node, c } = await startNode(t, ['--in-flight-bytes-max', String(64 * 1024)]);
  const batches = 60;
  const perBatch = 500; // about 50 KB per batch
  let answered = 0;
  const requests = Array.from({ length: batches }, (_, b) => ({ table: 'payments', records: payments(`p${b}`, perBatch), sequence: String(b) }));
  const streaming = ingestStream(c, requests, () => answered++);
  // Unary writes meanwhile: some are refused at once (the bound is full), none waits.
  const codes: number[] = [];
  for (let i = 0; i < 40 && answered < batches; i++) {
    await write(c, { table: 'payments', records: payments(`x${i}`, perBatch) }).then(
      () => codes.push(status.OK),
      (err: ServiceError) => {
        assert.equal(err.metadata.get('sluice-code')[0], 'OVERLOADED', err.details);
        codes.push(err.code);
      },
    );
  }
  const replies = await streaming;
  assert.ok(codes.includes(status.RESOURCE_EXHAUSTED), `some unary writes met the full bound: ${codes.join(',')}`);
  assert.equal(replies.length, batches);
  for (const r of replies) assert.equal(r.written, perBatch, `stream batch ${r.sequence}: ${JSON.stringify(r.error)}`);
  const stored = await exported(node.url);
  const unaryOk = codes.filter((code) => code === status.OK).length;
  assert.equal(stored.length, batches * perBatch + unaryOk * perBatch);
});
