import { crc32c } from '@node-rs/crc32';
import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  FRAME_OVERHEAD_BYTES,
  decodeFrame,
  encodeFrame,
  encodeFrameInto,
  frameBytes,
  mayBeFrameAt,
} from '../../../src/storage/wal/frame-v1.ts';
import { prng, randomBytes } from './helpers.ts';

const MAX = 64 * 1024 * 1024;

test('round trip keeps type, LSN and payload, for sizes from 0 to large', () => {
  const rand = prng(1);
  const sizes = [0, 1, 2, 7, 8, 9, 16, 255, 256, 4096, 65_537, 1 << 20];
  for (let i = 0; i < 200; i++) sizes.push(Math.floor(rand() * 3000));
  for (const size of sizes) {
    const payload = randomBytes(rand, size);
    const type = 1 + Math.floor(rand() * 255);
    const lsn = BigInt(Math.floor(rand() * 2 ** 52)) + 1n;
    const frame = encodeFrame(type, lsn, payload);
    assert.equal(frame.length, frameBytes(size));
    const decoded = decodeFrame(frame, 0, frame.length, MAX);
    assert.equal(decoded.status, 'ok');
    if (decoded.status !== 'ok') continue;
    assert.equal(decoded.type, type);
    assert.equal(decoded.lsn, lsn);
    assert.equal(decoded.frameBytes, frame.length);
    assert.ok(decoded.payload.equals(payload));
  }
});

test('frames decode back to back from one buffer, and the largest u64 LSN survives', () => {
  const payloads = [Buffer.from('a'), Buffer.alloc(0), Buffer.from('hello world')];
  const buf = Buffer.alloc(payloads.reduce((n, p) => n + frameBytes(p.length), 0));
  let offset = 0;
  payloads.forEach((p, i) => {
    offset += encodeFrameInto(buf, offset, 7, 0xffff_ffff_ffff_fffdn + BigInt(i), p);
  });
  offset = 0;
  for (const [i, payload] of payloads.entries()) {
    const decoded = decodeFrame(buf, offset, buf.length, MAX);
    assert.equal(decoded.status, 'ok');
    if (decoded.status !== 'ok') return;
    assert.equal(decoded.lsn, 0xffff_ffff_ffff_fffdn + BigInt(i));
    assert.ok(decoded.payload.equals(payload));
    offset += decoded.frameBytes;
  }
  assert.equal(offset, buf.length);
});

test('every single-byte corruption of a frame is detected', () => {
  const rand = prng(2);
  for (const size of [0, 1, 13, 100, 1000]) {
    const frame = encodeFrame(3, 42n, randomBytes(rand, size));
    // A valid frame after it, so that a corrupted (larger) length cannot be
    // told apart from a complete frame by running out of bytes alone.
    const next = encodeFrame(3, 43n, randomBytes(rand, 64));
    const buf = Buffer.concat([frame, next]);
    for (let position = 0; position < frame.length; position++) {
      for (const flip of [0x01, 0x80, 1 + Math.floor(rand() * 255)]) {
        const copy = Buffer.from(buf);
        copy[position]! ^= flip;
        const decoded = decodeFrame(copy, 0, copy.length, MAX);
        assert.notEqual(decoded.status, 'ok', `corruption at byte ${position} (xor ${flip}) of a ${size}-byte payload went unnoticed`);
      }
    }
  }
});

test('random garbage is never accepted as a frame', () => {
  const rand = prng(3);
  for (let i = 0; i < 20_000; i++) {
    const garbage = randomBytes(rand, FRAME_OVERHEAD_BYTES + Math.floor(rand() * 64));
    // Force a plausible length so the CRC is what has to catch it.
    garbage.writeUInt32LE(garbage.length - 8, 0);
    assert.notEqual(decodeFrame(garbage, 0, garbage.length, MAX).status, 'ok');
  }
});

test('length bounds: a garbage length is refused, an incomplete frame is short', () => {
  const frame = encodeFrame(1, 1n, Buffer.alloc(100, 1));
  assert.deepEqual(decodeFrame(frame, 0, 5, MAX), { status: 'short', needBytes: 8 });
  assert.deepEqual(decodeFrame(frame, 0, frame.length - 1, MAX), { status: 'short', needBytes: frame.length });
  assert.deepEqual(decodeFrame(frame, 0, frame.length, frame.length - 1), { status: 'bad', fault: 'length' });
  const huge = Buffer.from(frame);
  huge.writeUInt32LE(0xffff_fff0, 0);
  assert.deepEqual(decodeFrame(huge, 0, huge.length, MAX), { status: 'bad', fault: 'length' });
  const zeros = Buffer.alloc(64);
  assert.deepEqual(decodeFrame(zeros, 0, zeros.length, MAX), { status: 'bad', fault: 'length' });
});

test('type 0 is refused on encode and on decode (even with a matching CRC)', () => {
  assert.throws(() => encodeFrame(0, 1n, Buffer.alloc(1)));
  assert.throws(() => encodeFrame(256, 1n, Buffer.alloc(1)));
  assert.throws(() => encodeFrame(1, 0n, Buffer.alloc(1)));
  const frame = encodeFrame(1, 1n, Buffer.from('x'));
  frame[8] = 0;
  frame.writeUInt32LE(crc32c(frame.subarray(8)), 4);
  assert.deepEqual(decodeFrame(frame, 0, frame.length, MAX), { status: 'bad', fault: 'type' });
});

test('mayBeFrameAt filters by length and LSN window', () => {
  const frame = encodeFrame(9, 100n, Buffer.from('payload'));
  assert.equal(mayBeFrameAt(frame, 0, frame.length, MAX, 99n, 100n), true);
  assert.equal(mayBeFrameAt(frame, 0, frame.length, MAX, 100n, 200n), false);
  assert.equal(mayBeFrameAt(frame, 0, frame.length, MAX, 0n, 99n), false);
  assert.equal(mayBeFrameAt(Buffer.alloc(64), 0, 64, MAX, 0n, 1000n), false);
});
