import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MsgpackWriter } from '../../../src/core/codec/msgpack-writer.ts';
import { encodeFields } from '../../../src/core/codec/fields-codec.ts';
import { prng } from '../../support/prng.ts';

/** The writer's bytes for `values` as one positional array, or undefined when it declines. */
function written(values: readonly unknown[], capacity = 16): Buffer | undefined {
  const w = new MsgpackWriter(capacity);
  w.arrayHeader(values.length);
  for (const v of values) if (!w.json(v)) return undefined;
  return w.buf.subarray(0, w.pos);
}

function assertSame(values: readonly unknown[], label = JSON.stringify(values, (_, v: unknown) => (typeof v === 'bigint' ? `${v}n` : v))): void {
  const mine = written(values);
  assert.ok(mine !== undefined, `declined ${label}`);
  assert.deepEqual(mine, encodeFields(values), label);
}

const EDGE_NUMBERS = [
  0, -0, 1, 31, 32, 127, 128, 255, 256, 65535, 65536, 2 ** 31 - 1, 2 ** 31, 2 ** 32 - 1, 2 ** 32, 2 ** 40, Number.MAX_SAFE_INTEGER,
  -1, -31, -32, -33, -127, -128, -129, -32767, -32768, -32769, -(2 ** 31), -(2 ** 31) - 1, Number.MIN_SAFE_INTEGER,
  0.5, -0.5, 1.1, 1e300, -1e-300, 5e-324, Number.MAX_VALUE, Infinity, -Infinity, NaN,
];

test('numbers are written with msgpackr\'s choice of encoding, edge by edge', () => {
  for (const n of EDGE_NUMBERS) assertSame([n], String(n));
});

test('bigints in int64 are d3 like msgpackr; beyond it the writer declines', () => {
  for (const b of [0n, 1n, -1n, 2n ** 53n + 1n, 2n ** 63n - 1n, -(2n ** 63n)]) assertSame([b]);
  assert.equal(written([2n ** 63n]), undefined);
});

test('strings: every header size, ASCII and not, lone surrogates as U+FFFD', () => {
  const lengths = [0, 1, 10, 31, 32, 63, 64, 100, 255, 256, 65535, 65536, 70000];
  for (const n of lengths) {
    assertSame(['a'.repeat(n)], `ascii ${n}`);
    assertSame(['é'.repeat(n)], `2-byte ${n}`);
    assertSame(['日'.repeat(n)], `3-byte ${n}`);
    assertSame(['😀'.repeat(Math.ceil(n / 2))], `pairs ${n}`);
    assertSame([`${'x'.repeat(n)}\ud800`], `lone high ${n}`);
    assertSame([`\udc00${'y'.repeat(n)}`], `lone low ${n}`);
  }
  // Byte lengths that cross a header boundary only once encoded (10 units, 30 bytes; 11 units, 33 bytes).
  assertSame(['日'.repeat(10), '日'.repeat(11), 'é'.repeat(127), 'é'.repeat(128), 'a'.repeat(30) + 'é']);
});

test('bytes are bin8/16/32 like msgpackr', () => {
  for (const n of [0, 1, 255, 256, 65535, 65536]) {
    const b = Buffer.alloc(n, 7);
    const w = new MsgpackWriter(8);
    w.arrayHeader(1);
    w.bin(b);
    assert.deepEqual(w.buf.subarray(0, w.pos), encodeFields([b]), `bin ${n}`);
  }
});

test('arrays and maps of every size class; key order as msgpackr reads it', () => {
  for (const n of [0, 15, 16, 65535, 65536]) assertSame([Array.from({ length: n }, (_, i) => i % 3)], `array ${n}`);
  for (const n of [0, 15, 16, 300]) assertSame([Object.fromEntries(Array.from({ length: n }, (_, i) => [`k${i}`, i]))], `map ${n}`);
  assertSame([JSON.parse('{"b":1,"2":2,"a":3,"1":4,"hasOwnProperty":"x"}')]);
  assertSame(Array.from({ length: 20 }, (_, i) => i), 'a positional array of 20 (dc header)');
});

test('values msgpackr writes differently are declined, never mis-written', () => {
  assert.equal(written([new Map([['a', 1]])]), undefined);
  assert.equal(written([new Date(0)]), undefined);
  assert.equal(written([JSON.parse('{"constructor":1}')]), undefined);
  assert.equal(written([Object.create(null)]), undefined);
  assert.equal(written([undefined]), undefined);
  assert.equal(written([[1, undefined]]), undefined);
  assert.equal(written([Buffer.from('ab')]), undefined, 'a Buffer in a json value');
  assert.equal(written([Object.fromEntries(Array.from({ length: 65536 }, (_, i) => [`k${i}`, 0]))]), undefined, 'map16 overflow (msgpackr throws)');
});

/** A random JSON.parse-able value up to `depth` levels deep. */
function randomJson(r: () => number, depth: number): unknown {
  const pick = Math.floor(r() * (depth > 0 ? 9 : 6));
  switch (pick) {
    case 0: return null;
    case 1: return r() < 0.5;
    case 2: return (EDGE_NUMBERS.filter(Number.isFinite)[Math.floor(r() * 37)] ?? 3) * (r() < 0.5 ? 1 : -1);
    case 3: return Math.floor((r() - 0.5) * 2 ** (r() * 60));
    case 4: return randomString(r);
    case 5: return r() * 1e6;
    case 6: case 7: return Array.from({ length: Math.floor(r() * 20) }, () => randomJson(r, depth - 1));
    default: return Object.fromEntries(Array.from({ length: Math.floor(r() * 20) }, (_, i) => [r() < 0.2 ? String(i) : randomString(r), randomJson(r, depth - 1)]));
  }
}

const ALPHABETS = ['abcdefghij', 'é ü ß', '日本語', '😀🎉', '\ud800\udfff\udc00'];
/** A random string of up to ~300 units from a random alphabet. */
export function randomString(r: () => number): string {
  const alphabet = ALPHABETS[Math.floor(r() * ALPHABETS.length)] as string;
  const n = Math.floor(r() ** 3 * 300);
  let s = '';
  for (let i = 0; i < n; i++) s += alphabet[Math.floor(r() * alphabet.length)];
  return s;
}

test('property: random JSON values are byte-identical to msgpackr, in small buffers that must grow', () => {
  const r = prng(1601);
  for (let i = 0; i < 3000; i++) {
    const values = Array.from({ length: 1 + Math.floor(r() * 18) }, () => randomJson(r, 4));
    const mine = written(values, 1);
    assert.ok(mine !== undefined, `declined case ${i}`);
    assert.deepEqual(mine, encodeFields(values), `case ${i}`);
  }
});
