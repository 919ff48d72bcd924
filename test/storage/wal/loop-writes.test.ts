import assert from 'node:assert/strict';
import { createHook } from 'node:async_hooks';
import path from 'node:path';
import { test } from 'node:test';
import { TORN_WRITE_BYTES_MAX } from '../../../src/storage/wal/segment.ts';
import { Wal } from '../../../src/storage/wal/wal.ts';
import { replayAll, tempDir } from './helpers.ts';

/** File-system requests handed to libuv's thread pool (promise API) while `fn` runs. */
async function poolRequests(fn: () => Promise<unknown>): Promise<number> {
  let count = 0;
  const hook = createHook({
    init(_id, type) {
      if (type === 'FSREQPROMISE' || type === 'FSREQCALLBACK') count++;
    },
  });
  hook.enable();
  try {
    await fn();
  } finally {
    hook.disable();
  }
  return count;
}

test('a small flush is written on the event loop: only its fdatasync goes to the thread pool; a big one is written in the pool', async (t) => {
  const dir = path.join(tempDir(t), 'wal');
  const loopWriteBytesMax = 16 * 1024;
  const wal = await Wal.open({ dir, diskFreeBytesMin: 0, loopWriteBytesMax });
  const small = Buffer.alloc(1000, 1);
  const big = Buffer.alloc(loopWriteBytesMax + 1, 2);
  assert.equal(await poolRequests(() => wal.append(1, small)), 1, 'the fdatasync alone');
  assert.equal(await poolRequests(() => wal.append(1, big)), 2, 'the write and the fdatasync');
  assert.equal(await poolRequests(() => wal.append(1, small)), 1);
  await wal.close();
  const reopened = await Wal.open({ dir, diskFreeBytesMin: 0 });
  t.after(() => reopened.close());
  const frames = await replayAll(reopened);
  assert.deepEqual(
    frames.map((f) => [f.lsn, Buffer.from(f.payload).equals(f.lsn === 2n ? big : small)]),
    [
      [1n, true],
      [2n, true],
      [3n, true],
    ],
  );
});

test('loopWriteBytesMax 0 writes everything in the thread pool; it is bounded by TORN_WRITE_BYTES_MAX', async (t) => {
  const dir = path.join(tempDir(t), 'wal');
  const wal = await Wal.open({ dir, diskFreeBytesMin: 0, loopWriteBytesMax: 0 });
  t.after(() => wal.close());
  assert.equal(await poolRequests(() => wal.append(1, Buffer.from('x'))), 2);
  for (const bad of [-1, 1.5, TORN_WRITE_BYTES_MAX + 1]) {
    await assert.rejects(Wal.open({ dir: path.join(tempDir(t), 'other'), loopWriteBytesMax: bad }), { code: 'INVALID_ARGUMENT' });
  }
});
