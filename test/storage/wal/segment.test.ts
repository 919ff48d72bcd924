import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import {
  SEGMENT_HEADER_BYTES,
  createSegment,
  decodeSegmentHeader,
  encodeSegmentHeader,
  listSegments,
  parseSegmentName,
  segmentName,
} from '../../../src/storage/wal/segment.ts';
import { tempDir } from './helpers.ts';

test('segment names are the zero-padded first LSN and sort in LSN order', () => {
  assert.equal(segmentName(1n), '00000000000000000001.wal');
  assert.equal(segmentName(0xffff_ffff_ffff_ffffn), '18446744073709551615.wal');
  assert.equal(parseSegmentName('00000000000000000042.wal'), 42n);
  assert.equal(parseSegmentName('42.wal'), undefined);
  assert.equal(parseSegmentName('00000000000000000042.wal.tmp'), undefined);
});

test('header round trip, and every single-byte corruption of it is detected', () => {
  const header = encodeSegmentHeader(123_456n);
  assert.equal(header.length, SEGMENT_HEADER_BYTES);
  assert.deepEqual(decodeSegmentHeader(header), { status: 'ok', firstLsn: 123_456n });
  for (let i = 0; i < header.length; i++) {
    const copy = Buffer.from(header);
    copy[i]! ^= 0x10;
    assert.equal(decodeSegmentHeader(copy).status, 'bad', `byte ${i}`);
  }
  assert.equal(decodeSegmentHeader(header.subarray(0, 10)).status, 'bad');
});

test('createSegment writes a valid header; listSegments ignores other files and sorts', async (t) => {
  const dir = tempDir(t);
  for (const lsn of [100n, 5n, 12n]) await (await createSegment(dir, lsn)).handle.close();
  fs.writeFileSync(path.join(dir, 'notes.txt'), 'x');
  const segments = await listSegments(dir);
  assert.deepEqual(
    segments.map((s) => s.firstLsn),
    [5n, 12n, 100n],
  );
  const bytes = fs.readFileSync(segments[0]!.path);
  assert.deepEqual(decodeSegmentHeader(bytes), { status: 'ok', firstLsn: 5n });
});
