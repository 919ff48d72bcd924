/**
 * What gRPC WriteStreams may make a node hold outside its admission bound
 * (DESIGN §2: memory stays bounded under any load). Many streams send
 * batches faster than admission lets them in: a stream waits instead of
 * failing (decision 10), but one stream holds at most one batch that is
 * read and not admitted (decision 51); the node's
 * `sluice_grpc_stream_batches_waiting` gauge says how many there are.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
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
