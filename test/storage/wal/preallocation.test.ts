/**
 * Preallocated segments (issue 16): spares are zero-filled in the
 * background, rotation takes them, recovery reads a zero tail as the end of
 * a segment, and no frame outside the live LSN sequence (a torn write's
 * leftovers, an older generation's frames) is ever replayed.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import type { TestContext } from 'node:test';
import { DEFAULT_CONFIG, resolveConfig } from '../../../src/config.ts';
import { isSluiceError } from '../../../src/core/errors.ts';
import { encodeFrame } from '../../../src/storage/wal/frame-v1.ts';
import { SEGMENT_FLAG_PREALLOCATED, SEGMENT_HEADER_BYTES, TORN_WRITE_BYTES_MAX, segmentHeaderFlags } from '../../../src/storage/wal/segment.ts';
import { Wal } from '../../../src/storage/wal/wal.ts';
import type { WalOptions } from '../../../src/storage/wal/wal.ts';
import { payloadFor, replayAll, segmentFiles, tempDir } from './helpers.ts';

const SEGMENT_BYTES = 256 * 1024;
const options = { diskFreeBytesMin: 0, segmentBytesMax: SEGMENT_BYTES, preallocSegmentsAhead: 1 } as const;

/** Opens a preallocating WAL and waits until its spare is ready. */
async function openReady(dir: string, extra: Partial<WalOptions> = {}): Promise<Wal> {
  const wal = await Wal.open({ dir, ...options, ...extra });
  await wal.preallocationIdle();
  return wal;
}

/** Appends payloadFor(lsn) for lsn in (lastLsn, lastLsn + count], a few in flight at a time. */
async function appendFrames(wal: Wal, count: number): Promise<void> {
  const appends: Promise<bigint>[] = [];
  for (let i = 0; i < count; i++) {
    appends.push(wal.append(1, payloadFor(wal.lastLsn + BigInt(appends.length) + 1n)));
    if (appends.length === 8) await Promise.all(appends.splice(0));
  }
  await Promise.all(appends);
}

/** Frames 1..count, each with its exact payload. */
async function assertIntact(wal: Wal, count: bigint): Promise<void> {
  const frames = await replayAll(wal);
  assert.equal(frames.length, Number(count));
  for (const [i, frame] of frames.entries()) {
    assert.equal(frame.lsn, BigInt(i + 1));
    assert.ok(frame.payload.equals(payloadFor(frame.lsn)), `payload of lsn ${frame.lsn}`);
  }
}

/** Offset just past the last frame of a segment file (where its zero tail starts). */
function framesEnd(file: string): number {
  const bytes = fs.readFileSync(file);
  let offset = SEGMENT_HEADER_BYTES;
  while (offset + 8 <= bytes.length && bytes.readUInt32LE(offset) !== 0) offset += 8 + bytes.readUInt32LE(offset);
  return offset;
}

function writeAt(file: string, offset: number, bytes: Buffer): void {
  const fd = fs.openSync(file, 'r+');
  fs.writeSync(fd, bytes, 0, bytes.length, offset);
  fs.closeSync(fd);
}

function spareFiles(dir: string): string[] {
  return fs.readdirSync(dir).filter((name) => name.includes('.wal-spare'));
}

/** A closed WAL of `count` frames in one preallocated segment (after the small one created at open). */
async function buildPreallocated(t: TestContext, count: number): Promise<{ dir: string; last: string }> {
  const dir = path.join(tempDir(t), 'wal');
  const wal = await openReady(dir);
  await appendFrames(wal, count);
  await wal.close();
  const last = path.join(dir, segmentFiles(dir).at(-1)!);
  return { dir, last };
}

test('rotation takes zero-filled spares: every segment is full size and flagged, frames replay across zero tails', async (t) => {
  const dir = path.join(tempDir(t), 'wal');
  const wal = await openReady(dir);
  assert.deepEqual(wal.preallocation, { ready: 1, filled: 1, failures: 0, lastError: undefined });
  await appendFrames(wal, 2000); // ≈ 600 KB: several rotations
  await wal.preallocationIdle();
  assert.ok(wal.segmentCount >= 3, `${wal.segmentCount} segments`);
  assert.ok(wal.preallocation!.filled >= wal.segmentCount, 'each rotation took a spare');
  assert.equal(wal.preallocation!.ready, 1);
  for (const name of segmentFiles(dir)) {
    const bytes = fs.readFileSync(path.join(dir, name));
    assert.equal(bytes.length, SEGMENT_BYTES, `${name} is preallocated to full size`);
    assert.equal(segmentHeaderFlags(bytes) & SEGMENT_FLAG_PREALLOCATED, SEGMENT_FLAG_PREALLOCATED);
  }
  await assertIntact(wal, 2000n);
  await wal.close();
  assert.deepEqual(spareFiles(dir).length, 1, 'the ready spare stays for the next open');

  const reopened = await openReady(dir);
  t.after(() => reopened.close());
  assert.equal(reopened.recovery.tornTail, null, 'a zero tail is the end of a segment, not a torn tail');
  assert.equal(reopened.recovery.corruption, null);
  assert.equal(reopened.lastLsn, 2000n);
  assert.equal(reopened.preallocation!.filled, 0, 'the spare of the last run was adopted, not filled again');
  await assertIntact(reopened, 2000n);
});

test('recovery over a preallocated zero tail keeps the file full size and appends continue after the last frame', async (t) => {
  const { dir, last } = await buildPreallocated(t, 100);
  const end = framesEnd(last);
  assert.ok(end < SEGMENT_BYTES);
  const wal = await openReady(dir);
  t.after(() => wal.close());
  assert.equal(wal.recovery.tornTail, null);
  assert.equal(fs.statSync(last).size, SEGMENT_BYTES, 'not truncated');
  await appendFrames(wal, 50);
  assert.equal(framesEnd(last) > end, true, 'the new frames went over the zeros');
  await assertIntact(wal, 150n);
});

/** Zeroes the 4 KiB page of `file` that holds `offset`: a page of an unsynced write that never reached the disk. */
function dropPage(file: string, offset: number): number {
  const page = Math.floor(offset / 4096) * 4096;
  writeAt(file, page, Buffer.alloc(4096));
  return page;
}

test('a torn write (a page lost, a later frame of the same write persisted) is cut at the torn frame, not called corruption', async (t) => {
  const { dir, last } = await buildPreallocated(t, 100);
  const end = framesEnd(last);
  // One unsynced write of frames 101 (12 KB) and 102; power loss kept 102 but not a middle page of 101.
  const f101 = encodeFrame(1, 101n, Buffer.alloc(12_000, 0x5a));
  const f102 = encodeFrame(1, 102n, payloadFor(102n));
  writeAt(last, end, Buffer.concat([f101, f102]));
  dropPage(last, end + 6000);
  const wal = await openReady(dir);
  t.after(() => wal.close());
  assert.equal(wal.recovery.corruption, null);
  assert.equal(wal.recovery.tornTail?.offset, end);
  assert.equal(wal.lastLsn, 100n, 'frame 102 was never acknowledged: its write had no fdatasync');
  await appendFrames(wal, 10);
  await assertIntact(wal, 110n);
});

test('a flipped byte in a frame followed by a valid frame is corruption, even close to the end of a preallocated segment', async (t) => {
  const { dir, last } = await buildPreallocated(t, 100);
  const bytes = fs.readFileSync(last);
  let offset = SEGMENT_HEADER_BYTES;
  for (let i = 0; i < 90; i++) offset += 8 + bytes.readUInt32LE(offset);
  writeAt(last, offset + 12, Buffer.from([bytes[offset + 12]! ^ 0xff]));
  await assert.rejects(openReady(dir), (err: unknown) => {
    assert.ok(isSluiceError(err, 'WAL_CORRUPT'), String(err));
    assert.match(err.message, new RegExp(`byte offset ${offset}: .*valid frame with LSN`));
    return true;
  });
});

test('a frame with a lost page followed by valid frames beyond one capped write (TORN_WRITE_BYTES_MAX) is corruption', async (t) => {
  const dir = path.join(tempDir(t), 'wal');
  const big = 4 * TORN_WRITE_BYTES_MAX;
  const wal = await Wal.open({ dir, ...options, segmentBytesMax: big });
  await wal.preallocationIdle();
  await appendFrames(wal, 1); // moves into the spare
  for (let i = 0; i < 5; i++) await wal.append(1, Buffer.alloc(400 * 1024, i + 1));
  await wal.close();
  const last = path.join(dir, segmentFiles(dir).at(-1)!);
  const second = SEGMENT_HEADER_BYTES + 8 + fs.readFileSync(last).readUInt32LE(SEGMENT_HEADER_BYTES);
  // Zeros inside frame 2 (acknowledged long ago) and acknowledged frames more than 1 MiB further on.
  dropPage(last, second + 8192);
  await assert.rejects(Wal.open({ dir, ...options, segmentBytesMax: big }), (err: unknown) => {
    assert.ok(isSluiceError(err, 'WAL_CORRUPT'), String(err));
    assert.match(err.message, /valid frame with LSN/);
    return true;
  });
});

test('frames of an older generation in a segment (as a recycled file would hold) are never replayed', async (t) => {
  const { dir, last } = await buildPreallocated(t, 100);
  const end = framesEnd(last);
  // Stale frames with LSNs 1..20, valid CRCs: right after the live frames, and again after a zero gap.
  const stale = Buffer.concat(Array.from({ length: 20 }, (_, i) => encodeFrame(1, BigInt(i + 1), Buffer.from(`stale ${i + 1}`))));
  writeAt(last, end, stale);
  writeAt(last, end + stale.length + 4096, stale);
  const wal = await openReady(dir);
  assert.equal(wal.recovery.corruption, null);
  assert.equal(wal.recovery.tornTail?.offset, end, 'cut where the live sequence ends');
  assert.match(wal.recovery.tornTail?.reason ?? '', /LSN 1, expected 101/);
  assert.equal(wal.lastLsn, 100n);
  await assertIntact(wal, 100n);
  await appendFrames(wal, 30);
  await wal.close();
  const reopened = await openReady(dir);
  t.after(() => reopened.close());
  assert.equal(reopened.recovery.tornTail, null);
  assert.equal(reopened.recovery.corruption, null);
  await assertIntact(reopened, 130n);
});

test('spare files of an interrupted fill or of another segment size are deleted on open; complete ones are adopted', async (t) => {
  const dir = path.join(tempDir(t), 'wal');
  const wal = await openReady(dir);
  await appendFrames(wal, 20);
  await wal.close();
  assert.equal(spareFiles(dir).length, 1);
  // What a crash mid-fill leaves: a partial file under the temporary name (never read as a segment).
  fs.writeFileSync(path.join(dir, 'spare-0000000099.wal-spare.tmp'), Buffer.alloc(4096));
  fs.writeFileSync(path.join(dir, 'spare-0000000100.wal-spare'), Buffer.alloc(4096));
  const reopened = await openReady(dir);
  t.after(() => reopened.close());
  assert.equal(reopened.recovery.tornTail, null);
  assert.deepEqual(spareFiles(dir).length, 1);
  assert.equal(fs.statSync(path.join(dir, spareFiles(dir)[0]!)).size, SEGMENT_BYTES);
  await appendFrames(reopened, 10);
  await assertIntact(reopened, 30n);
});

test('preallocation off (preallocSegmentsAhead 0): no spare files, segments grow by appending as before', async (t) => {
  const dir = path.join(tempDir(t), 'wal');
  const wal = await Wal.open({ dir, ...options, preallocSegmentsAhead: 0 });
  t.after(() => wal.close());
  await appendFrames(wal, 50);
  assert.equal(wal.preallocation, undefined);
  assert.deepEqual(spareFiles(dir), []);
  const bytes = fs.readFileSync(path.join(dir, segmentFiles(dir)[0]!));
  assert.ok(bytes.length < SEGMENT_BYTES);
  assert.equal(segmentHeaderFlags(bytes), 0);
  await assert.rejects(Wal.open({ dir, preallocSegmentsAhead: 9 }), { code: 'INVALID_ARGUMENT' });
});

test('the node preallocates one segment ahead by default; walPreallocSegmentsAhead is bounded to 0..4', () => {
  assert.equal(DEFAULT_CONFIG.walPreallocSegmentsAhead, 1);
  assert.equal(resolveConfig({ walPreallocSegmentsAhead: 0 }).walPreallocSegmentsAhead, 0);
  assert.equal(resolveConfig({ walPreallocSegmentsAhead: 4 }).walPreallocSegmentsAhead, 4);
  assert.throws(() => resolveConfig({ walPreallocSegmentsAhead: 5 }), (err: unknown) => isSluiceError(err) && /walPreallocSegmentsAhead/.test(err.message));
  assert.throws(() => resolveConfig({ walPreallocSegmentsAhead: -1 }), (err: unknown) => isSluiceError(err) && /walPreallocSegmentsAhead/.test(err.message));
});
