/**
 * The snappy block decoder shared by Loki push and Parquet imports: lengths
 * checked before memory is taken, one decoder per thread that never hands
 * back bytes of an earlier block, and blocks past the shared decoder's size
 * decoded by one of their own.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { snappyCompress } from 'hysnappy';
import { isSluiceError, type ErrorCode } from '../../../src/core/errors.ts';
import { snappyUncompressBlock, snappyUncompressExact } from '../../../src/core/codec/snappy-block.ts';

const MiB = 2 ** 20;

function refusedWith(fn: () => unknown, code: ErrorCode, message?: RegExp): void {
  assert.throws(fn, (err: unknown) => isSluiceError(err) && err.code === code && (message === undefined || message.test(err.message)));
}

test('a block stating more than its elements could ever give is refused before anything is allocated', () => {
  // 1 GiB stated (uvarint 0x80 0x80 0x80 0x80 0x04), then one literal "a".
  const bomb = Buffer.from([0x80, 0x80, 0x80, 0x80, 0x04, 0x00, 0x61]);
  refusedWith(() => snappyUncompressBlock(bomb, 2 * 1024 * MiB), 'INVALID_SNAPPY', /more than its 7 bytes can hold/);
  refusedWith(() => snappyUncompressExact(bomb, 1024 * MiB), 'INVALID_SNAPPY', /more than its 7 bytes can hold/);
});

test('an exact decode refuses a block stating another length than its caller knows', () => {
  const block = snappyCompress(Buffer.from('abcde'));
  assert.equal(Buffer.from(snappyUncompressExact(block, 5)).toString(), 'abcde');
  refusedWith(() => snappyUncompressExact(block, 9), 'INVALID_SNAPPY', /holds 5 bytes where 9 are stated/);
  refusedWith(() => snappyUncompressExact(block, 4), 'INVALID_SNAPPY');
});

test('the shared decoder never hands back bytes of the block before', () => {
  const first = snappyCompress(Buffer.alloc(4096, 'x'));
  assert.equal(Buffer.from(snappyUncompressBlock(first, MiB)).toString(), 'x'.repeat(4096));
  // States 4096 bytes (and could expand to them), its elements give 300: the rest of the output would be the x's
  // still in the decoder's memory.
  const noise = Buffer.from(Array.from({ length: 300 }, (_, i) => (i * 131 + 7) % 251));
  const short = Buffer.concat([first.subarray(0, 2), snappyCompress(noise).subarray(2)]);
  assert.ok((short.length - 2) * 22 > 4096);
  refusedWith(() => snappyUncompressBlock(short, MiB), 'INVALID_SNAPPY', /not a valid snappy block/);
  assert.equal(Buffer.from(snappyUncompressBlock(snappyCompress(Buffer.from('hello')), MiB)).toString(), 'hello');
});

test('a block past the shared decoder\'s 16 MiB is decoded by a decoder of its own, and the shared one still works', () => {
  const big = Buffer.alloc(17 * MiB);
  for (let i = 0; i < big.length; i += 4) big.writeUInt32LE((i * 2654435761) >>> 0, i);
  const out = snappyUncompressBlock(snappyCompress(big), 32 * MiB);
  assert.equal(out.length, big.length);
  assert.ok(Buffer.from(out).equals(big));
  assert.equal(Buffer.from(snappyUncompressExact(snappyCompress(Buffer.from('small')), 5)).toString(), 'small');
});
