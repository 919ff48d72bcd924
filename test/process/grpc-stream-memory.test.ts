/**
 * What gRPC WriteStreams may make a node hold outside its admission bound
 * (DESIGN §2: memory stays bounded under any load). Many streams send
 * batches faster than admission lets them in: a stream waits instead of
 * failing (decision 10), but one stream holds at most one batch that is
 * read and not admitted (decision 51); the node's
 * `sluice_grpc_stream_batches_waiting` gauge says how many there are. And
 * how many streams may be open is capped (`--grpc-streams-max`): one past
 * it is refused when it opens, before anything of it is read.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { status, type ServiceError } from '@grpc/grpc-js';
import { freePort } from './etcd.ts';
import { NodeProcess, http, sleep, tempDir } from './harness.ts';
import { ingestClient, ingestStream, type IngestClient, type IngestReply } from './ingest-client.ts';
import { PAYMENTS } from './tables.ts';

/** `n` payments rows (about 80 bytes each) whose txn_ids start with `prefix`. */
function payments(prefix: string, n: number): Buffer {
  const lines: string[] = [];
  for (let i = 0; i < n; i++) lines.push(JSON.stringify({ account_id: `acct-${i % 7}`, txn_id: `${prefix}-${i}`, amount: `${i}.50`, ts: 1_700_000_000_000 + i }));
  return Buffer.from(lines.join('\n'));
}

async function startNode(t: { after: (fn: () => Promise<void> | void) => void }, args: string[]): Promise<{ node: NodeProcess; client: () => IngestClient }> {
  const port = await freePort();
  const node = await NodeProcess.start(t, { dataDir: tempDir(t, 'sluice-grpc-mem-'), args: ['--grpc', `127.0.0.1:${port}`, ...args] });
  const created = await http(`${node.url}/v1/tables`, { method: 'POST', body: JSON.stringify(PAYMENTS) });
  assert.equal(created.status, 201, created.text);
  // One channel (one HTTP/2 connection) per client, as separate shippers would have.
  const client = (): IngestClient => {
    const c = ingestClient(port);
    t.after(() => c.close());
    return c;
  };
  return { node, client };
}

/** The node's gauge of stream batches read and not yet admitted. */
async function batchesWaiting(url: string): Promise<number> {
  const res = await http(`${url}/metrics`);
  assert.equal(res.status, 200, res.text);
  const line = res.text.split('\n').find((l) => l.startsWith('sluice_grpc_stream_batches_waiting '));
  assert.ok(line !== undefined, 'the node exports sluice_grpc_stream_batches_waiting');
  return Number(line.split(' ')[1]);
}

async function exportedTxnIds(url: string): Promise<string[]> {
  const res = await http(`${url}/v1/tables/payments/export`);
  assert.equal(res.status, 200, res.text);
  return res.text.trim() === '' ? [] : res.text.trim().split('\n').map((l) => (JSON.parse(l) as { txn_id: string }).txn_id);
}

test('streams sending faster than admission lets them in hold at most one unadmitted batch each; none fails and every record is stored once', { timeout: 180_000 }, async (t) => {
  // The smallest admission bound: one batch of ~40 KB at a time, so nearly every batch waits.
  const { node, client } = await startNode(t, ['--in-flight-bytes-max', String(64 * 1024)]);
  const streams = 32;
  const batches = 12;
  const perBatch = 500;
  // Two streams per connection: the bound is per stream, not per connection.
  const clients = Array.from({ length: streams / 2 }, () => client());
  let most = 0;
  let sampling = true;
  const sampler = (async () => {
    while (sampling) {
      most = Math.max(most, await batchesWaiting(node.url));
      await sleep(10);
    }
  })();
  const replies = await Promise.all(
    Array.from({ length: streams }, (_, s) =>
      // No window: each client writes as fast as its stream takes the batches.
      ingestStream(clients[s % clients.length] as IngestClient, Array.from({ length: batches }, (_, b) => ({ table: 'payments', records: payments(`s${s}b${b}`, perBatch), sequence: String(b) }))),
    ),
  ).finally(() => (sampling = false));
  await sampler;

  assert.ok(most >= 2, `batches did wait for admission (at most ${most} at once): the test pushed past the bound`);
  assert.ok(most <= streams, `the node held ${most} batches read and not admitted; at most one per stream (${streams}) may wait`);
  assert.equal(await batchesWaiting(node.url), 0, 'nothing is left waiting once the streams are answered');
  for (const [s, rs] of replies.entries()) {
    assert.deepEqual(rs.map((r: IngestReply) => r.sequence), Array.from({ length: batches }, (_, b) => String(b)), `stream ${s}: one reply per batch, in order`);
    for (const r of rs) assert.equal(r.written, perBatch, `stream ${s} batch ${r.sequence}: ${JSON.stringify(r.error)}`);
  }
  const ids = await exportedTxnIds(node.url);
  assert.equal(ids.length, streams * batches * perBatch, 'every record stored');
  assert.equal(new Set(ids).size, ids.length, 'no record twice');
});

test('a WriteStream past --grpc-streams-max is refused when it opens (RESOURCE_EXHAUSTED, OVERLOADED); the open ones go on, and a stream that ends makes room', { timeout: 60_000 }, async (t) => {
  const cap = 4;
  const { node, client } = await startNode(t, ['--grpc-streams-max', String(cap)]);
  const c = client();
  // Open streams that each had a batch answered and stay open, as shippers keep theirs.
  const open = Array.from({ length: cap }, () => c.WriteStream());
  const replies = open.map(() => [] as IngestReply[]);
  const ends = open.map((s, i) => {
    s.on('data', (r: IngestReply) => replies[i]?.push(r));
    return new Promise<ServiceError | undefined>((resolve) => {
      s.on('error', (err: ServiceError) => resolve(err));
      s.on('end', () => resolve(undefined));
    });
  });
  const answered = async (n: number): Promise<void> => {
    while (replies.some((r) => r.length < n)) await sleep(5);
  };
  open.forEach((s, i) => s.write({ table: 'payments', records: payments(`open${i}a`, 10), sequence: '0' }));
  await answered(1);

  const refused = await ingestStream(c, [{ table: 'payments', records: payments('over', 10), sequence: '0' }]).then(
    () => undefined,
    (err: ServiceError) => err,
  );
  assert.equal(refused?.code, status.RESOURCE_EXHAUSTED, `the stream past the cap: ${refused?.code} ${refused?.details}`);
  assert.equal(refused?.metadata.get('sluice-code')[0], 'OVERLOADED');

  // The open streams were not touched: they take more and end normally.
  open.forEach((s, i) => {
    s.write({ table: 'payments', records: payments(`open${i}b`, 10), sequence: '1' });
    s.end();
  });
  assert.deepEqual(await Promise.all(ends), open.map(() => undefined));
  for (const r of replies) assert.deepEqual(r.map((x) => [x.sequence, x.written]), [['0', 10], ['1', 10]]);
  // Their calls are over (the node may see the end a moment after the client): a new stream is taken again.
  let again: IngestReply[] | undefined;
  for (let i = 0; i < 100 && again === undefined; i++) {
    again = await ingestStream(c, [{ table: 'payments', records: payments(`again${i}`, 10), sequence: '0' }]).catch(() => undefined);
    if (again === undefined) await sleep(20);
  }
  assert.deepEqual(again?.map((x) => x.written), [10]);
  const ids = await exportedTxnIds(node.url);
  assert.equal(ids.filter((id) => id.startsWith('over-')).length, 0, 'nothing of the refused stream was written');
  assert.equal(ids.filter((id) => id.startsWith('open')).length, cap * 20);
});
