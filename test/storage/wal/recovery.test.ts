import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import type { TestContext } from 'node:test';
import { isSluiceError } from '../../../src/core/errors.ts';
import { Wal } from '../../../src/storage/wal/wal.ts';
import type { WalFrame, WalOptions } from '../../../src/storage/wal/wal.ts';
import { SEGMENT_HEADER_BYTES } from '../../../src/storage/wal/segment.ts';
import { payloadFor, prng, randomBytes, replayAll, segmentFiles, tempDir } from './helpers.ts';

const base = { diskFreeBytesMin: 0 } as const;

/** Builds a WAL of `count` frames (payloadFor(lsn, maxBytes)) and returns its dir, closed. */
async function buildWal(t: TestContext, count: number, options: Partial<WalOptions> = {}, maxBytes = 600): Promise<string> {
  const dir = path.join(tempDir(t), 'wal');
  const wal = await Wal.open({ dir, ...base, ...options });
  const appends: Promise<bigint>[] = [];
  for (let lsn = 1n; lsn <= BigInt(count); lsn++) {
    appends.push(wal.append(1, payloadFor(lsn, maxBytes)));
    if (lsn % 25n === 0n) await Promise.all(appends.splice(0));
  }
  await Promise.all(appends);
  await wal.close();
  return dir;
}

/** Byte offsets at which each frame of a segment file starts. */
function frameOffsets(file: string): number[] {
  const bytes = fs.readFileSync(file);
  const offsets: number[] = [];
  for (let offset = SEGMENT_HEADER_BYTES; offset < bytes.length; offset += 8 + bytes.readUInt32LE(offset)) offsets.push(offset);
  return offsets;
}

function copyDir(from: string, to: string): string {
  fs.cpSync(from, to, { recursive: true });
  return to;
}

/** Every frame is present, in order, with its exact payload. */
async function assertIntact(wal: Wal, count: number, maxBytes = 600): Promise<void> {
  const frames = await replayAll(wal);
  assert.equal(frames.length, count);
  for (const [i, frame] of frames.entries()) {
    assert.equal(frame.lsn, BigInt(i + 1));
    assert.ok(frame.payload.equals(payloadFor(frame.lsn, maxBytes)), `payload of lsn ${frame.lsn}`);
  }
}

function flipByte(file: string, offset: number): void {
  const fd = fs.openSync(file, 'r+');
  const b = Buffer.alloc(1);
  fs.readSync(fd, b, 0, 1, offset);
  b[0]! ^= 0x5a;
  fs.writeSync(fd, b, 0, 1, offset);
  fs.closeSync(fd);
}

async function openFails(dir: string, options: Partial<WalOptions> = {}): Promise<Error> {
  try {
    const wal = await Wal.open({ dir, ...base, ...options });
    await wal.close();
  } catch (err) {
    assert.ok(isSluiceError(err, 'WAL_CORRUPT'), `expected WAL_CORRUPT, got ${String(err)}`);
    return err;
  }
  assert.fail('open succeeded on a corrupt WAL');
}

test('a fresh WAL reports an empty recovery', async (t) => {
  const wal = await Wal.open({ dir: path.join(tempDir(t), 'a', 'wal'), ...base });
  t.after(() => wal.close());
  assert.equal(wal.lastLsn, 0n);
  assert.equal(wal.firstLsn, 1n);
  assert.deepEqual({ ...wal.recovery, durationMs: 0 }, {
    segmentsScanned: 0,
    frames: 0,
    bytes: 0,
    firstLsn: 0n,
    lastLsn: 0n,
    tornTail: null,
    corruption: null,
    deletedSegments: [],
    durationMs: 0,
  });
  assert.equal(await wal.append(1, Buffer.from('first')), 1n);
});

test('torn tail: truncation at every byte inside the last two frames loses only the torn frames', async (t) => {
  const count = 30;
  const original = await buildWal(t, count, {}, 40);
  const [segment] = segmentFiles(original);
  const file = path.join(original, segment!);
  const size = fs.statSync(file).size;
  const offsets = frameOffsets(file);
  const work = tempDir(t);
  for (let cut = offsets.at(-2)! + 1; cut < size; cut++) {
    const dir = copyDir(original, path.join(work, `cut-${cut}`));
    fs.truncateSync(path.join(dir, segment!), cut);
    const wal = await Wal.open({ dir, ...base });
    t.after(() => wal.close());
    const complete = offsets.filter((o, i) => (offsets[i + 1] ?? size) <= cut).length;
    const tornAt = offsets[complete] ?? size;
    assert.equal(wal.lastLsn, BigInt(complete), `cut at ${cut}`);
    if (cut === tornAt) {
      assert.equal(wal.recovery.tornTail, null, 'a cut at a frame boundary is a clean end');
    } else {
      assert.deepEqual(wal.recovery.tornTail, {
        segment: segment,
        offset: tornAt,
        bytesDiscarded: cut - tornAt,
        reason: wal.recovery.tornTail?.reason,
      });
      assert.match(wal.recovery.tornTail?.reason ?? '', /incomplete frame/);
    }
    assert.equal(wal.recovery.corruption, null);
    assert.equal(fs.statSync(path.join(dir, segment!)).size, tornAt, 'file truncated at the last valid frame');
    assert.equal(await wal.append(1, payloadFor(BigInt(complete + 1), 40)), BigInt(complete + 1));
    await assertIntact(wal, complete + 1, 40);
    await wal.close();
    fs.rmSync(dir, { recursive: true });
  }
});

test('torn tail: zeros or garbage appended after the last frame are cut and reported', async (t) => {
  const count = 50;
  const original = await buildWal(t, count);
  const [segment] = segmentFiles(original);
  const rand = prng(7);
  const tails: [string, Buffer][] = [
    ['zeros', Buffer.alloc(4096)],
    ['garbage', randomBytes(rand, 3000)],
    ['plausible length then garbage', Buffer.concat([Buffer.from([100, 0, 0, 0]), randomBytes(rand, 300)])],
    ['a stale copy of an earlier frame', fs.readFileSync(path.join(original, segment!)).subarray(SEGMENT_HEADER_BYTES, SEGMENT_HEADER_BYTES + 200)],
  ];
  for (const [name, tail] of tails) {
    const dir = copyDir(original, path.join(tempDir(t), 'wal'));
    const file = path.join(dir, segment!);
    const size = fs.statSync(file).size;
    fs.appendFileSync(file, tail);
    const wal = await Wal.open({ dir, ...base });
    assert.equal(wal.lastLsn, BigInt(count), name);
    assert.equal(wal.recovery.tornTail?.offset, size, name);
    assert.equal(wal.recovery.tornTail?.bytesDiscarded, tail.length, name);
    assert.equal(await wal.append(1, payloadFor(BigInt(count + 1))), BigInt(count + 1));
    await assertIntact(wal, count + 1);
    await wal.close();
  }
});

test('a bad CRC in the very last frame is a torn tail', async (t) => {
  const dir = await buildWal(t, 20);
  const [segment] = segmentFiles(dir);
  const file = path.join(dir, segment!);
  const last = frameOffsets(file).at(-1)!;
  flipByte(file, last + 20);
  const wal = await Wal.open({ dir, ...base });
  t.after(() => wal.close());
  assert.equal(wal.lastLsn, 19n);
  assert.equal(wal.recovery.tornTail?.offset, last);
  assert.match(wal.recovery.tornTail?.reason ?? '', /crc/);
});

test('a corrupt middle frame of the last segment stops open with WAL_CORRUPT naming file and offset', async (t) => {
  const original = await buildWal(t, 60);
  const [segment] = segmentFiles(original);
  const offsets = frameOffsets(path.join(original, segment!));
  const bad = offsets[30]!;

  for (const at of [bad + 4, bad + 10, bad + 17, bad]) {
    const dir = copyDir(original, path.join(tempDir(t), 'wal'));
    flipByte(path.join(dir, segment!), at);
    const err = await openFails(dir);
    assert.ok(err.message.includes(segment!), err.message);
    assert.ok(err.message.includes(`byte offset ${bad}`), err.message);
    assert.match(err.message, /follows at byte offset/);
    // Nothing was modified by the failed open.
    assert.deepEqual(fs.readFileSync(path.join(dir, segment!)).subarray(0, bad), fs.readFileSync(path.join(original, segment!)).subarray(0, bad));
    assert.equal(fs.statSync(path.join(dir, segment!)).size, fs.statSync(path.join(original, segment!)).size);
  }
});

test("recovery 'truncate' discards from the corrupt frame on and reports it", async (t) => {
  const dir = await buildWal(t, 60);
  const [segment] = segmentFiles(dir);
  const file = path.join(dir, segment!);
  const size = fs.statSync(file).size;
  const bad = frameOffsets(file)[30]!;
  flipByte(file, bad + 12);
  const wal = await Wal.open({ dir, ...base, recovery: 'truncate' });
  t.after(() => wal.close());
  assert.equal(wal.lastLsn, 30n);
  assert.equal(wal.recovery.tornTail, null);
  assert.equal(wal.recovery.corruption?.segment, segment);
  assert.equal(wal.recovery.corruption?.offset, bad);
  assert.equal(wal.recovery.corruption?.bytesDiscarded, size - bad);
  assert.equal(await wal.append(1, payloadFor(31n)), 31n);
  await assertIntact(wal, 31);
});

test('a corrupt frame in a non-last segment is WAL_CORRUPT even at its end; truncate mode deletes later segments', async (t) => {
  const original = await buildWal(t, 300, { segmentBytesMax: 8192 });
  const files = segmentFiles(original);
  assert.ok(files.length >= 4);
  const victim = files[1]!;
  const offsets = frameOffsets(path.join(original, victim));
  const firstLsnOfVictim = BigInt(frameOffsets(path.join(original, files[0]!)).length + 1);

  // The very last frame of a sealed segment: not a torn tail, since that segment was complete.
  for (const index of [3, offsets.length - 1]) {
    const dir = copyDir(original, path.join(tempDir(t), 'wal'));
    flipByte(path.join(dir, victim), offsets[index]! + 9);
    const err = await openFails(dir);
    assert.ok(err.message.includes(victim) && err.message.includes(`byte offset ${offsets[index]}`), err.message);
  }

  const dir = copyDir(original, path.join(tempDir(t), 'wal'));
  flipByte(path.join(dir, victim), offsets[3]! + 9);
  const wal = await Wal.open({ dir, ...base, recovery: 'truncate', segmentBytesMax: 8192 });
  t.after(() => wal.close());
  const kept = firstLsnOfVictim + 2n;
  assert.equal(wal.lastLsn, kept);
  assert.deepEqual(wal.recovery.deletedSegments, files.slice(2));
  assert.deepEqual(segmentFiles(dir), files.slice(0, 2));
  assert.equal(wal.recovery.corruption?.offset, offsets[3]);
  assert.equal(await wal.append(1, payloadFor(kept + 1n)), kept + 1n);
  await assertIntact(wal, Number(kept) + 1);
});

test('an LSN gap between segments (a missing segment) is WAL_CORRUPT', async (t) => {
  const original = await buildWal(t, 300, { segmentBytesMax: 8192 });
  const files = segmentFiles(original);
  const dir = copyDir(original, path.join(tempDir(t), 'wal'));
  fs.rmSync(path.join(dir, files[2]!));
  const err = await openFails(dir);
  assert.ok(err.message.includes(files[3]!) && err.message.includes('byte offset 0'), err.message);
  assert.match(err.message, /LSN gap/);

  const wal = await Wal.open({ dir, ...base, recovery: 'truncate', segmentBytesMax: 8192 });
  t.after(() => wal.close());
  assert.deepEqual(segmentFiles(dir), files.slice(0, 2));
  const expectedLast = BigInt(frameOffsets(path.join(dir, files[0]!)).length + frameOffsets(path.join(dir, files[1]!)).length);
  assert.equal(wal.lastLsn, expectedLast);
  assert.equal(await wal.append(1, payloadFor(expectedLast + 1n)), expectedLast + 1n);
});

test('a torn header of the last segment is repaired from its name; LSNs continue', async (t) => {
  const original = await buildWal(t, 300, { segmentBytesMax: 8192 });
  const files = segmentFiles(original);
  const last = files.at(-1)!;
  const lastFirstLsn = BigInt(last.slice(0, 20));
  for (const [name, content] of [
    ['empty', Buffer.alloc(0)],
    ['partial header', fs.readFileSync(path.join(original, last)).subarray(0, 7)],
    ['zeroed', Buffer.alloc(4096)],
  ] as const) {
    const dir = copyDir(original, path.join(tempDir(t), 'wal'));
    fs.writeFileSync(path.join(dir, last), content);
    const wal = await Wal.open({ dir, ...base, segmentBytesMax: 8192 });
    assert.equal(wal.lastLsn, lastFirstLsn - 1n, name);
    assert.equal(wal.recovery.tornTail?.segment, last, name);
    assert.equal(wal.recovery.tornTail?.offset, 0, name);
    assert.equal(await wal.append(1, payloadFor(lastFirstLsn)), lastFirstLsn, name);
    await assertIntact(wal, Number(lastFirstLsn));
    await wal.close();
  }
});

test('a damaged header with valid frames after it is WAL_CORRUPT', async (t) => {
  const dir = await buildWal(t, 20);
  const [segment] = segmentFiles(dir);
  const zeroed = copyDir(dir, path.join(tempDir(t), 'zeroed'));
  flipByte(path.join(dir, segment!), 2);
  const err = await openFails(dir);
  assert.match(err.message, /bad segment header/);
  assert.ok(err.message.includes(segment!));
  // A zeroed header looks torn, but the valid frames after it prove otherwise.
  const fd = fs.openSync(path.join(zeroed, segment!), 'r+');
  fs.writeSync(fd, Buffer.alloc(SEGMENT_HEADER_BYTES), 0, SEGMENT_HEADER_BYTES, 0);
  fs.closeSync(fd);
  assert.match((await openFails(zeroed)).message, /bad segment header/);
});

test('a header whose first LSN disagrees with the file name is WAL_CORRUPT', async (t) => {
  const original = await buildWal(t, 300, { segmentBytesMax: 8192 });
  const files = segmentFiles(original);
  const dir = copyDir(original, path.join(tempDir(t), 'wal'));
  // Swap the name of a middle segment with a fake first LSN one higher: its header and the name disagree.
  const renamed = `${(BigInt(files[1]!.slice(0, 20)) + 1n).toString().padStart(20, '0')}.wal`;
  fs.renameSync(path.join(dir, files[1]!), path.join(dir, renamed));
  const err = await openFails(dir);
  assert.ok(err.message.includes(renamed), err.message);
});

test('nextLsnMin above the WAL end drops the old segments and continues at the mark; reopening is clean', async (t) => {
  const dir = await buildWal(t, 40, { segmentBytesMax: 8 * 1024 });
  assert.ok(segmentFiles(dir).length > 1);
  const wal = await Wal.open({ dir, ...base, nextLsnMin: 100n });
  assert.equal(wal.lastLsn, 99n);
  assert.deepEqual(segmentFiles(dir), ['00000000000000000100.wal']);
  assert.equal(await wal.append(1, payloadFor(100n)), 100n);
  await wal.close();
  const again = await Wal.open({ dir, ...base });
  t.after(() => again.close());
  assert.equal(again.lastLsn, 100n);
  assert.equal(again.recovery.corruption, null);
  const seen: bigint[] = [];
  await again.replay(100n, async (frames: WalFrame[]) => {
    for (const f of frames) {
      assert.deepEqual(f.payload, payloadFor(f.lsn));
      seen.push(f.lsn);
    }
  });
  assert.deepEqual(seen, [100n]);
});

test('nextLsnMin at or below the WAL end changes nothing', async (t) => {
  const dir = await buildWal(t, 20);
  const wal = await Wal.open({ dir, ...base, nextLsnMin: 21n });
  t.after(() => wal.close());
  assert.equal(wal.lastLsn, 20n);
  assert.equal(await wal.append(1, payloadFor(21n)), 21n);
});
