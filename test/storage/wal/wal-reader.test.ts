import assert from 'node:assert/strict';
import path from 'node:path';
import { test } from 'node:test';
import { Wal } from '../../../src/storage/wal/wal.ts';
import type { WalFrame } from '../../../src/storage/wal/wal.ts';
import { FRAME_OVERHEAD_BYTES } from '../../../src/storage/wal/frame-v1.ts';
import { payloadFor, tempDir } from './helpers.ts';

const batchBytesMax = 4096;

test('replay hands over bounded batches, awaiting each before reading on', async (t) => {
  const dir = path.join(tempDir(t), 'wal');
  const options = { dir, diskFreeBytesMin: 0, segmentBytesMax: 32 * 1024, replayBatchBytesMax: batchBytesMax, readChunkBytes: 1500 };
  const wal = await Wal.open(options);
  const sizes: number[] = [];
  const appends: Promise<bigint>[] = [];
  for (let lsn = 1n; lsn <= 500n; lsn++) {
    // Every 97th frame is bigger than a whole batch: it must come alone.
    const payload = lsn % 97n === 0n ? Buffer.alloc(batchBytesMax * 2, Number(lsn % 256n)) : payloadFor(lsn);
    sizes.push(payload.length);
    appends.push(wal.append(1, payload));
  }
  await Promise.all(appends);
  await wal.close();

  const reopened = await Wal.open(options);
  t.after(() => reopened.close());
  const frames: WalFrame[] = [];
  let batches = 0;
  let inCallback = false;
  const result = await reopened.replay(1n, async (batch) => {
    assert.equal(inCallback, false, 'onBatch is never called concurrently');
    inCallback = true;
    batches++;
    const bytes = batch.reduce((n, f) => n + FRAME_OVERHEAD_BYTES + f.payload.length, 0);
    if (batch.length > 1) assert.ok(bytes <= batchBytesMax, `batch of ${batch.length} frames is ${bytes} bytes`);
    else assert.ok(batch.length === 1);
    if (batch.some((f) => f.payload.length > batchBytesMax)) assert.equal(batch.length, 1, 'an oversized frame comes alone');
    await new Promise((resolve) => setTimeout(resolve, 1));
    frames.push(...batch);
    inCallback = false;
  });
  const totalBytes = sizes.reduce((n, size) => n + FRAME_OVERHEAD_BYTES + size, 0);
  assert.ok(batches >= Math.ceil(totalBytes / batchBytesMax), `${batches} batches for ${totalBytes} bytes`);
  assert.ok(batches > 30);
  assert.deepEqual(result, { frames: 500, batches, lastLsn: 500n });
  // Payload views stay valid after later reads (no buffer reuse).
  for (const [i, frame] of frames.entries()) {
    const lsn = BigInt(i + 1);
    assert.equal(frame.lsn, lsn);
    assert.equal(frame.payload.length, sizes[i]);
    if (lsn % 97n !== 0n) assert.ok(frame.payload.equals(payloadFor(lsn)));
    else assert.ok(frame.payload.every((b) => b === Number(lsn % 256n)));
  }
});

test('replay from an LSN skips earlier frames; past the end delivers nothing', async (t) => {
  const wal = await Wal.open({ dir: path.join(tempDir(t), 'wal'), diskFreeBytesMin: 0, segmentBytesMax: 4096 });
  t.after(() => wal.close());
  await Promise.all(Array.from({ length: 100 }, (_, i) => wal.append(1, payloadFor(BigInt(i + 1)))));
  const seen: bigint[] = [];
  const result = await wal.replay(77n, async (batch) => {
    seen.push(...batch.map((f) => f.lsn));
  });
  assert.deepEqual(seen, Array.from({ length: 24 }, (_, i) => BigInt(77 + i)));
  assert.equal(result.lastLsn, 100n);
  const none = await wal.replay(101n, async () => assert.fail('no batch expected'));
  assert.deepEqual(none, { frames: 0, batches: 0, lastLsn: 100n });
});

test('replay stops at the durable end as of its start while appends continue', async (t) => {
  const wal = await Wal.open({ dir: path.join(tempDir(t), 'wal'), diskFreeBytesMin: 0, segmentBytesMax: 4096, replayBatchBytesMax: 1024 });
  t.after(() => wal.close());
  await Promise.all(Array.from({ length: 100 }, (_, i) => wal.append(1, payloadFor(BigInt(i + 1)))));
  let last = 0n;
  const more: Promise<bigint>[] = [];
  await wal.replay(1n, async (batch) => {
    for (const f of batch) {
      assert.equal(f.lsn, last + 1n);
      last = f.lsn;
    }
    more.push(wal.append(1, payloadFor(BigInt(100 + more.length + 1))));
  });
  assert.equal(last, 100n);
  await Promise.all(more);
  assert.equal(wal.lastLsn, BigInt(100 + more.length));
});
