import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, test } from 'node:test';
import { murmur3, murmur3Range, murmur3String, shardOf } from '../../src/core/murmur3.ts';
import { prng } from '../support/prng.ts';

const utf8 = new TextEncoder();
const ascii = (s: string): Uint8Array => Uint8Array.from(s, (c) => c.charCodeAt(0));
const hex = (h: string): Uint8Array => Uint8Array.from(Buffer.from(h, 'hex'));


// Published vectors (smhasher's verification set as quoted on the web), each
// re-checked against the smhasher C reference compiled with gcc.
const PUBLISHED: readonly [Uint8Array, number, number][] = [
  [ascii(''), 0, 0],
  [ascii(''), 1, 0x514e28b7],
  [ascii(''), 0xffffffff, 0x81f16f39],
  [hex('00000000'), 0, 0x2362f9de],
  [hex('000000'), 0, 0x85f0b427],
  [hex('0000'), 0, 0x30f4c306],
  [hex('00'), 0, 0x514e28b7],
  [hex('ffffffff'), 0, 0x76293b50],
  [hex('21436587'), 0, 0xf55b516b],
  [hex('214365'), 0, 0x7e4a8634],
  [hex('2143'), 0, 0xa0f7b07a],
  [hex('21'), 0, 0x72661cf4],
  [ascii('aaaa'), 0x9747b28c, 0x5a97808a],
  [ascii('aaa'), 0x9747b28c, 0x283e0130],
  [ascii('aa'), 0x9747b28c, 0x5d211726],
  [ascii('a'), 0x9747b28c, 0x7fa09ea6],
  [ascii('abcd'), 0x9747b28c, 0xf0478627],
  [ascii('abc'), 0, 0xb3dd93fa],
  [ascii('Hello, world!'), 0x9747b28c, 0x24884cba],
  [ascii('The quick brown fox jumps over the lazy dog'), 0x9747b28c, 0x2fa826cd],
  [utf8.encode('ππππππππ'), 0x9747b28c, 0xd58063c1],
];

interface Fixture {
  readonly bytes: readonly [string, number, number][];
  readonly strings: readonly [string, number, number][];
}
const fixture = JSON.parse(readFileSync(new URL('./fixtures/murmur3-x86-32.json', import.meta.url), 'utf8')) as Fixture;

describe('murmur3', () => {
  test('matches the published vectors', () => {
    for (const [bytes, seed, expected] of PUBLISHED) {
      assert.equal(murmur3(bytes, seed), expected, `bytes ${Buffer.from(bytes).toString('hex')} seed ${seed}`);
    }
  });

  test('matches the C reference on random bytes (all tail lengths, long inputs)', () => {
    assert.ok(fixture.bytes.length > 250);
    for (const [h, seed, expected] of fixture.bytes) assert.equal(murmur3(hex(h), seed), expected, `bytes ${h} seed ${seed}`);
  });

  test('murmur3Range hashes a slice without copying it', () => {
    for (const [h, seed, expected] of fixture.bytes.slice(0, 80)) {
      const inner = hex(h);
      const padded = new Uint8Array(inner.length + 7).fill(0xab);
      padded.set(inner, 3);
      assert.equal(murmur3Range(padded, 3, 3 + inner.length, seed), expected);
    }
  });

  test('default seed is 0', () => {
    assert.equal(murmur3(ascii('abc')), 0xb3dd93fa);
    assert.equal(murmur3String('abc'), 0xb3dd93fa);
  });
});

describe('murmur3String', () => {
  test('ASCII strings match the published vectors', () => {
    assert.equal(murmur3String('', 1), 0x514e28b7);
    assert.equal(murmur3String('aaaa', 0x9747b28c), 0x5a97808a);
    assert.equal(murmur3String('a', 0x9747b28c), 0x7fa09ea6);
    assert.equal(murmur3String('aa', 0x9747b28c), 0x5d211726);
    assert.equal(murmur3String('aaa', 0x9747b28c), 0x283e0130);
    assert.equal(murmur3String('Hello, world!', 0x9747b28c), 0x24884cba);
    assert.equal(murmur3String('The quick brown fox jumps over the lazy dog', 0x9747b28c), 0x2fa826cd);
    assert.equal(murmur3String('\0\0\0\0'), 0x2362f9de);
  });

  test('multibyte strings hash their UTF-8 bytes (C reference)', () => {
    assert.equal(murmur3String('ππππππππ', 0x9747b28c), 0xd58063c1);
    assert.ok(fixture.strings.some(([s]) => /[^\u0000-\u007f]/.test(s)));
    assert.ok(fixture.strings.some(([s]) => /[\u{10000}-\u{10ffff}]/u.test(s)));
    for (const [s, seed, expected] of fixture.strings) assert.equal(murmur3String(s, seed), expected, `string ${JSON.stringify(s)} seed ${seed}`);
  });

  test('non-ASCII found late in the string still takes the UTF-8 path', () => {
    // 0x80..0xff are one UTF-16 unit but two UTF-8 bytes: hashing char codes would be wrong.
    for (const s of ['abcdefgh\u00e9', 'abcdefg\u00e9', 'abcdef\u00e9', 'abcde\u00e9x', '\u0080', 'xyz\u00ff']) {
      assert.equal(murmur3String(s, 7), murmur3(utf8.encode(s), 7), JSON.stringify(s));
    }
  });

  test('a lone surrogate hashes as U+FFFD, like TextEncoder', () => {
    assert.equal(murmur3String('a\ud800b'), murmur3(hex('61efbfbd62')));
    assert.equal(murmur3String('\udc00'), murmur3(hex('efbfbd')));
  });

  test('property: equals murmur3 over TextEncoder bytes for random strings, including past the scratch size', () => {
    const rnd = prng(42);
    const pools: readonly [number, number][] = [[0x20, 0x7e], [0x80, 0x7ff], [0x800, 0xffff], [0x10000, 0x10ffff]];
    const lengths = [0, 1, 2, 3, 4, 5, 17, 100, 300, 5000, 30_000];
    for (let iter = 0; iter < 600; iter++) {
      const len = lengths[iter % lengths.length]!;
      const asciiOnly = iter % 3 === 0;
      let s = '';
      for (let i = 0; i < len; i++) {
        const [lo, hi] = asciiOnly ? pools[0]! : pools[Math.floor(rnd() * pools.length)]!;
        s += String.fromCodePoint(lo + Math.floor(rnd() * (hi - lo + 1)));
      }
      const seed = Math.floor(rnd() * 2 ** 32);
      assert.equal(murmur3String(s, seed), murmur3(utf8.encode(s), seed), `iter ${iter} len ${len}`);
    }
  });
});

describe('shardOf', () => {
  test('is murmur3String(key) % shardCount', () => {
    for (const key of ['acct-1', 'acct-2', 'ππ', '']) {
      assert.equal(shardOf(key, 16), murmur3String(key) % 16);
      assert.equal(shardOf(key, 1), 0);
      assert.equal(shardOf(key, 0xffffffff), murmur3String(key) % 0xffffffff);
    }
  });

  test('spreads 100k keys over 16 shards within ±5% of uniform', () => {
    const counts = new Array<number>(16).fill(0);
    const n = 100_000;
    for (let i = 0; i < n; i++) counts[shardOf(`account-${i}`, 16)]! += 1;
    const expected = n / 16;
    for (const [shard, c] of counts.entries()) {
      assert.ok(Math.abs(c - expected) <= expected * 0.05, `shard ${shard} got ${c}, expected ${expected} ± 5%`);
    }
  });

  test('refuses a shard count that is not a positive integer', () => {
    for (const bad of [0, -1, 1.5, Number.NaN, 2 ** 32]) assert.throws(() => shardOf('k', bad), assert.AssertionError);
  });
});
