import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { Wal } from '../../../src/storage/wal/wal.ts';
import { frameBytes } from '../../../src/storage/wal/frame-v1.ts';
import { SEGMENT_HEADER_BYTES, decodeSegmentHeader, parseSegmentName } from '../../../src/storage/wal/segment.ts';
import { payloadFor, replayAll, segmentFiles, tempDir } from './helpers.ts';

const segmentBytesMax = 8 * 1024;

async function appendMany(wal: Wal, from: bigint, count: number): Promise<void> {
  const appends: Promise<bigint>[] = [];
  for (let i = 0; i < count; i++) {
    const lsn = from + BigInt(i);
    appends.push(wal.append(1 + (i % 3), payloadFor(lsn)));
    if (i % 50 === 49) await new Promise((resolve) => setImmediate(resolve));
  }
  const lsns = await Promise.all(appends);
  assert.deepEqual(lsns, lsns.map((_, i) => from + BigInt(i)));
}

test('rotation by size; reopen replays everything in order across segments', async (t) => {
  const dir = path.join(tempDir(t), 'wal');
  const wal = await Wal.open({ dir, segmentBytesMax, diskFreeBytesMin: 0 });
  await appendMany(wal, 1n, 600);
  await wal.close();

  const files = segmentFiles(dir);
  assert.ok(files.length > 10, `${files.length} segments`);
  let expectedFirst = 1n;
  for (const name of files) {
    const file = path.join(dir, name);
    const bytes = fs.readFileSync(file);
    assert.ok(bytes.length <= segmentBytesMax, `${name} is ${bytes.length} bytes`);
    assert.equal(parseSegmentName(name), expectedFirst, 'segments are contiguous');
    assert.deepEqual(decodeSegmentHeader(bytes), { status: 'ok', firstLsn: expectedFirst });
    // Count frames to know where the next segment must start.
    let offset = SEGMENT_HEADER_BYTES;
    while (offset < bytes.length) {
      offset += 8 + bytes.readUInt32LE(offset);
      expectedFirst++;
    }
    assert.equal(offset, bytes.length);
  }
  assert.equal(expectedFirst, 601n);

  const reopened = await Wal.open({ dir, segmentBytesMax, diskFreeBytesMin: 0 });
  t.after(() => reopened.close());
  assert.equal(reopened.lastLsn, 600n);
  assert.equal(reopened.recovery.frames, 600);
  assert.equal(reopened.recovery.segmentsScanned, files.length);
  assert.equal(reopened.recovery.tornTail, null);
  const frames = await replayAll(reopened, 1n);
  assert.equal(frames.length, 600);
  frames.forEach((frame, i) => {
    assert.equal(frame.lsn, BigInt(i + 1));
    assert.equal(frame.type, 1 + (i % 3));
    assert.ok(frame.payload.equals(payloadFor(frame.lsn)), `payload of lsn ${frame.lsn}`);
  });
  // Appends continue the sequence in the reopened WAL, and replay from the middle works.
  assert.equal(await reopened.append(1, payloadFor(601n)), 601n);
  const tail = await replayAll(reopened, 590n);
  assert.deepEqual(
    tail.map((f) => f.lsn),
    Array.from({ length: 12 }, (_, i) => BigInt(590 + i)),
  );
});

test('a frame larger than segmentBytesMax gets a segment of its own', async (t) => {
  const dir = path.join(tempDir(t), 'wal');
  const wal = await Wal.open({ dir, segmentBytesMax: 1024, diskFreeBytesMin: 0 });
  t.after(() => wal.close());
  await wal.append(1, Buffer.alloc(100, 1));
  await wal.append(1, Buffer.alloc(5000, 2));
  await wal.append(1, Buffer.alloc(100, 3));
  const sizes = segmentFiles(dir).map((name) => fs.statSync(path.join(dir, name)).size);
  assert.deepEqual(sizes, [SEGMENT_HEADER_BYTES + frameBytes(100), SEGMENT_HEADER_BYTES + frameBytes(5000), SEGMENT_HEADER_BYTES + frameBytes(100)]);
  const frames = await replayAll(wal, 1n);
  assert.deepEqual(
    frames.map((f) => f.payload.length),
    [100, 5000, 100],
  );
});

test('releaseBefore deletes only segments entirely below the LSN, never the active one', async (t) => {
  const dir = path.join(tempDir(t), 'wal');
  const wal = await Wal.open({ dir, segmentBytesMax, diskFreeBytesMin: 0 });
  t.after(() => wal.close());
  await appendMany(wal, 1n, 400);
  const before = segmentFiles(dir).map((name) => parseSegmentName(name)!);
  assert.ok(before.length > 5);

  // An LSN inside the 4th segment: segments 1..3 are entirely below it.
  const cut = before[3]! + 1n;
  assert.equal(await wal.releaseBefore(cut), 3);
  const after = segmentFiles(dir).map((name) => parseSegmentName(name)!);
  assert.deepEqual(after, before.slice(3));
  assert.equal(wal.firstLsn, before[3]);
  // Exactly at a segment start: the previous segment goes too.
  assert.equal(await wal.releaseBefore(before[5]!), 2);
  assert.equal(wal.firstLsn, before[5]);
  // Past everything: all but the active segment.
  await wal.releaseBefore(10_000n);
  assert.deepEqual(segmentFiles(dir).map((name) => parseSegmentName(name)), [before.at(-1)]);
  assert.equal(await wal.releaseBefore(10_000n), 0);

  // What is left still replays and appends continue.
  const frames = await replayAll(wal, before.at(-1)!);
  assert.equal(frames.at(-1)?.lsn, 400n);
  await assert.rejects(replayAll(wal, 1n), { code: 'INVALID_ARGUMENT' });
  assert.equal(await wal.append(1, payloadFor(401n)), 401n);

  // Reopen after release: the WAL starts at the first kept segment.
  await wal.close();
  const reopened = await Wal.open({ dir, segmentBytesMax, diskFreeBytesMin: 0 });
  t.after(() => reopened.close());
  assert.equal(reopened.firstLsn, before.at(-1));
  assert.equal(reopened.lastLsn, 401n);
  assert.equal(reopened.recovery.firstLsn, before.at(-1));
});

test('releaseBefore spares segments a running replay still needs', async (t) => {
  const dir = path.join(tempDir(t), 'wal');
  const wal = await Wal.open({ dir, segmentBytesMax, diskFreeBytesMin: 0, replayBatchBytesMax: 2048 });
  t.after(() => wal.close());
  await appendMany(wal, 1n, 300);
  const seen: bigint[] = [];
  let released = -1;
  await wal.replay(1n, async (batch) => {
    seen.push(...batch.map((f) => f.lsn));
    if (released === -1) released = await wal.releaseBefore(1000n);
  });
  assert.equal(released, 0, 'nothing at or after the replay position was released');
  assert.equal(seen.length, 300);
  assert.ok((await wal.releaseBefore(1000n)) > 0);
});
