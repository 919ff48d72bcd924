/**
 * In a preallocated segment a flush is fdatasynced in chunks of at most
 * TORN_WRITE_BYTES_MAX, each starting at a frame: a chunk torn by a power
 * loss then shows its zeros at or after its own start, where recovery
 * measures the bound from. Cut at plain 1 MiB offsets, a torn chunk that
 * began inside a frame could hide its zeros before a sector boundary, and
 * the node refused to start after a harmless power loss (WAL_CORRUPT).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fsp from 'node:fs/promises';
import path from 'node:path';
import { FRAME_OVERHEAD_BYTES } from '../../../src/storage/wal/frame-v1.ts';
import { SEGMENT_HEADER_BYTES, TORN_WRITE_BYTES_MAX } from '../../../src/storage/wal/segment.ts';
import { Wal } from '../../../src/storage/wal/wal.ts';
import { syncChunkEnds } from '../../../src/storage/wal/wal-writer.ts';
import { prng, tempDir } from './helpers.ts';

/** Checks the chunks of `frameEnds` against the rules, and returns them. */
function checked(frameEnds: number[], bound: number): number[] {
  const ends = syncChunkEnds(frameEnds, bound);
  const frameStarts = new Set([0, ...frameEnds.slice(0, -1)]);
  assert.equal(ends.at(-1), frameEnds.at(-1), 'the chunks cover the flush');
  let start = 0;
  for (const end of ends) {
    assert.ok(end > start && end - start <= bound, `chunk [${start}, ${end}) within the bound`);
    const startsInside = [...frameStarts].some((f) => f > start && f < end);
    // A chunk that holds a frame's start begins at one; one that begins inside a frame holds none.
    if (!frameStarts.has(start)) assert.ok(!startsInside, `chunk [${start}, ${end}) begins inside a frame and holds another's start`);
    start = end;
  }
  return ends;
}

test('chunks end at frames, at most the bound each; a frame larger than the bound is cut, and the next frame starts a chunk', () => {
  assert.deepEqual(checked([300, 600, 900], 1000), [900]);
  assert.deepEqual(checked([600, 1200], 1000), [600, 1200]);
  assert.deepEqual(checked([100, 2600, 2700], 1000), [100, 1100, 2100, 2600, 2700]);
  assert.deepEqual(checked([1000, 2000], 1000), [1000, 2000]);
  assert.deepEqual(checked([2500], 1000), [1000, 2000, 2500]);
});

test('random flushes keep the rules', () => {
  const rand = prng(43);
  for (let run = 0; run < 500; run++) {
    const frameEnds: number[] = [];
    let at = 0;
    const n = 1 + Math.floor(rand() * 40);
    for (let i = 0; i < n; i++) frameEnds.push((at += 17 + Math.floor(rand() * (rand() < 0.1 ? 5000 : 400))));
    checked(frameEnds, 1024);
  }
});

test('the writer fdatasyncs a flush larger than the bound in such chunks (a frame of 1.1 MiB between small ones)', async (t) => {
  const dir = path.join(tempDir(t), 'wal');
  // Every write through a FileHandle (loopWriteBytesMax 0), so that one spy sees them all.
  const options = { dir, diskFreeBytesMin: 0, segmentBytesMax: 4 * 1024 * 1024, preallocSegmentsAhead: 1, flushBytesMax: 4 * 1024 * 1024, loopWriteBytesMax: 0 };
  const wal = await Wal.open(options);
  t.after(() => wal.close());
  await wal.preallocationIdle();
  await wal.append(1, Buffer.alloc(4000 - SEGMENT_HEADER_BYTES - FRAME_OVERHEAD_BYTES, 0x11));
  await wal.append(1, Buffer.alloc(10, 0x12)); // moves into the spare: the segment is preallocated from here on
  const probe = await fsp.open(path.join(dir, (await fsp.readdir(dir)).find((n) => n.endsWith('.wal')) as string), 'r');
  const proto = Object.getPrototypeOf(probe) as { write: (...a: unknown[]) => Promise<unknown>; datasync: () => Promise<void> };
  await probe.close();
  const chunks: [number, number][] = [];
  let open: [number, number] | undefined;
  const { write, datasync } = proto;
  proto.write = function (this: object, ...a: unknown[]) {
    const [buf, offset, length, position] = a as [Buffer, number, number, number];
    const len = length ?? buf.length - (offset ?? 0);
    open = open === undefined ? [position, position + len] : [open[0], position + len];
    return write.apply(this, a);
  };
  proto.datasync = function (this: object) {
    if (open !== undefined) chunks.push(open);
    open = undefined;
    return datasync.call(this);
  };
  t.after(() => {
    proto.write = write;
    proto.datasync = datasync;
  });
  // Frame 1 ends at byte 4000, frame 2 (10 bytes) after it: the flush below starts there.
  const base = 4000 + FRAME_OVERHEAD_BYTES + 10;
  const sizes = [TORN_WRITE_BYTES_MAX + 100_000, 300, 300, 700_000, 300];
  await Promise.all(sizes.map((n, i) => wal.append(1, Buffer.alloc(n, 0x20 + i))));
  const starts = new Set<number>();
  let at = base;
  for (const n of sizes) {
    starts.add(at);
    at += n + FRAME_OVERHEAD_BYTES;
  }
  const flushed = chunks.filter(([s]) => s >= base);
  assert.ok(flushed.length >= 3, `the flush was cut: ${JSON.stringify(flushed)}`);
  for (const [s, e] of flushed) {
    assert.ok(e - s <= TORN_WRITE_BYTES_MAX, `chunk [${s}, ${e}) within the bound`);
    const holdsStart = [...starts].some((f) => f > s && f < e);
    assert.ok(starts.has(s) || !holdsStart, `chunk [${s}, ${e}) begins inside a frame and holds another frame's start`);
  }
});
