/**
 * The import's BatchSender against a real node (in this process, so one
 * write can be held): a request that is slow to be answered (retried
 * 429s, a lost connection) keeps the checkpoint where it is, and must
 * stop the reading too. Batches sent after it and answered wait in the
 * sender until it is; were the reader to go on, the sender would keep
 * every one of them, bodies and all, for as long as that one request
 * takes: memory bounded by the file, not by --concurrency.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { ApiContext } from '../../../src/api/http/api-context.ts';
import type { Coordinator } from '../../../src/cluster/coordinator/coordinator.ts';
import { resolveClientToken } from '../../../src/cli/client-auth.ts';
import { DEFAULT_URL } from '../../../src/cli/http-client.ts';
import { BatchSender } from '../../../src/cli/import/batch-sender.ts';
import type { FileBatch } from '../../../src/ingest/formats/file-batch.ts';
import { startTestNode } from '../../support/test-node.ts';
import { TEST_TOKEN, authHeaders } from '../../support/auth.ts';

const ROWS_PER_BATCH = 100;
const BATCHES = 200;
const CONCURRENCY = 4;

function batchAt(b: number): FileBatch {
  const firstRow = b * ROWS_PER_BATCH;
  const rows = Array.from({ length: ROWS_PER_BATCH }, (_, i) => ({ host: `h${(firstRow + i) % 7}`, n: firstRow + i, pad: 'x'.repeat(200) }));
  return { firstRow, rows: ROWS_PER_BATCH, body: Buffer.from(JSON.stringify(rows)), contentType: 'application/json', lineOf: () => undefined, progress: firstRow + ROWS_PER_BATCH, problems: [], problemCount: 0 };
}

test('while one request goes unanswered, the sender takes a bounded number of further batches; then every row is written once', { timeout: 60_000 }, async (t) => {
  const node = await startTestNode(t, {}, 'sluice-batch-sender-');
  resolveClientToken({ token: TEST_TOKEN }, node.url, DEFAULT_URL);
  const fields = [{ name: 'host', type: 'string', required: true }, { name: 'n', type: 'int', required: true }, { name: 'pad', type: 'string' }];
  const created = await fetch(`${node.url}/v1/tables`, { method: 'POST', headers: { ...authHeaders(), 'content-type': 'application/json' }, body: JSON.stringify({ name: 'rows', shardKey: 'host', fields }) });
  assert.equal(created.status, 201, await created.text());

  // The first write to reach the coordinator waits until released: the slow request.
  const coordinator = (node as unknown as { ctx: ApiContext }).ctx.services().coordinator as Coordinator;
  const write = coordinator.write.bind(coordinator);
  let release!: () => void;
  const released = new Promise<void>((resolve) => (release = resolve));
  let held = false;
  let heldReached!: () => void;
  const reached = new Promise<void>((resolve) => (heldReached = resolve));
  coordinator.write = async (...args) => {
    if (!held) {
      held = true;
      heldReached();
      await released;
    }
    return write(...args);
  };

  const sender = new BatchSender({ target: `${node.url}/v1/tables/rows/records`, prefix: 'file:test:', onInvalid: 'reject', concurrency: CONCURRENCY }, { rowsDone: 0, at: undefined, progress: 0 });
  let taken = 0;
  const reading = (async () => {
    for (let b = 0; b < BATCHES; b++) {
      await sender.send(batchAt(b));
      taken++;
    }
    await sender.drain();
  })();
  await reached;
  // Time for the other slots to go round many times while the held request waits.
  for (let last = -1; last !== taken; ) {
    last = taken;
    await new Promise((resolve) => setTimeout(resolve, 500));
  }
  const takenWhileHeld = taken;
  release();
  await reading;

  assert.ok(takenWhileHeld <= 4 * CONCURRENCY, `${takenWhileHeld} batches of ${BATCHES} were taken while one request went unanswered (--concurrency ${CONCURRENCY})`);
  assert.equal(sender.state.rowsDone, BATCHES * ROWS_PER_BATCH);
  assert.equal(sender.state.written, BATCHES * ROWS_PER_BATCH);
  const exported = await (await fetch(`${node.url}/v1/tables/rows/export`, { headers: authHeaders() })).text();
  const ns = exported.trim().split('\n').map((line) => (JSON.parse(line) as { n: number }).n);
  assert.equal(ns.length, BATCHES * ROWS_PER_BATCH);
  assert.equal(new Set(ns).size, ns.length, 'no row twice');
});
