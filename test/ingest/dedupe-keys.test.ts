/**
 * A source's dedupe keys written as bytes (ingest/dedupe-keys.ts) against
 * the UTF-8 of `dedupeKeyAt`'s string, for both forms, every padding width,
 * numbers at the edges of what is written digit by digit (and past them,
 * where the string path takes over), and prefixes of every UTF-8 length.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DedupeKeyWriter, dedupeKeyAt, type DedupeKeys } from '../../src/ingest/dedupe-keys.ts';
import { MsgpackWriter } from '../../src/core/codec/msgpack-writer.ts';

const NUMBERS = [0, 1, 9, 10, 99, 100, 4_294_967_295, 4_294_967_296, 123_456_789_012, 2 ** 53 - 1, 2 ** 53, 2 ** 60, 1e21, 1.5, -1, -0];
const PREFIXES = ['', 'kafka:orders:0:', 'file:3f2a:', 'é/', '日本/', '😀:', 'p'.repeat(200)];

function written(dedupe: DedupeKeys, index: number, w: MsgpackWriter): Buffer {
  const at = w.pos;
  const length = new DedupeKeyWriter(dedupe).writePk(w, index);
  assert.equal(w.pos, at + length, 'the writer advances by what it returns');
  return Buffer.from(w.buf.subarray(at, at + length));
}

test('numbered keys (prefixes and numbers): the bytes of dedupeKeyAt, for every width and number', () => {
  const w = new MsgpackWriter(16);
  for (const digits of [0, 1, 6, 16, 19, 20]) {
    const dedupe: DedupeKeys = { prefixes: PREFIXES, prefixIndex: Uint16Array.from(NUMBERS, (_, i) => i % PREFIXES.length), numbers: Float64Array.from(NUMBERS), digits };
    NUMBERS.forEach((n, i) => assert.deepEqual(written(dedupe, i, w), Buffer.from(dedupeKeyAt(dedupe, i)), `digits ${digits}, number ${n}`));
  }
});

test('a prefix and the first number (file rows): the bytes of dedupeKeyAt, padded or not', () => {
  const w = new MsgpackWriter(16);
  for (const prefix of PREFIXES) {
    for (const first of [0, 7, 999_999, 2 ** 53 - 3]) {
      for (const digits of [undefined, 0, 4, 16]) {
        const dedupe: DedupeKeys = digits === undefined ? { prefix, first } : { prefix, first, digits };
        for (const index of [0, 1, 2, 5]) assert.deepEqual(written(dedupe, index, w), Buffer.from(dedupeKeyAt(dedupe, index)), `${prefix} ${first}+${index} /${digits}`);
      }
    }
  }
});

test('a record without a prefix or a number is refused as dedupeKeyAt refuses it', () => {
  const dedupe: DedupeKeys = { prefixes: ['a:'], prefixIndex: Uint16Array.from([0, 5]), numbers: Float64Array.from([1]), digits: 3 };
  const w = new MsgpackWriter(16);
  assert.throws(() => new DedupeKeyWriter(dedupe).writePk(w, 1), /no dedupe key for record 1/);
  assert.throws(() => dedupeKeyAt(dedupe, 1), /no dedupe key for record 1/);
});
