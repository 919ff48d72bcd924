import { test } from 'node:test';
import assert from 'node:assert/strict';
import { intBelow, intBetween, pick, u32, unit } from '../../../src/loadgen/workload/prng.ts';

test('golden values: the same draws on every platform and version (verify replays old runs)', () => {
  assert.deepEqual([0, 1, 2, 3].map((j) => unit(42, 0, j)), [0.41909469734551097, 0.717740049856507, 0.719586678970492, 0.4703593342524749]);
  assert.deepEqual([0, 1, 2, 3].map((j) => u32(42, 1, j)), [86160935, 2486517243, 497560859, 2374368895]);
  // Negative seeds, counters past 2^32, seeds past 2^32.
  assert.equal(unit(-7, 3, 2 ** 40 + 5), 0.458074486420726);
  assert.equal(u32(2 ** 52 + 9, 99, 123456789), 1873589661);
  assert.equal(unit(0, 0, 0), 0.4811394493411463);
});

test('u32 never repeats within a stream for distinct counters (a bijection of the low word)', () => {
  const seen = new Set<number>();
  for (let j = 0; j < 200_000; j++) seen.add(u32(7, 5, j));
  assert.equal(seen.size, 200_000);
});

test('unit is in [0, 1), uniform in 16 buckets (chi-square), mean 1/2 within 6σ', () => {
  const n = 160_000;
  const buckets = new Array<number>(16).fill(0);
  let sum = 0;
  for (let j = 0; j < n; j++) {
    const u = unit(42, 9, j);
    assert.ok(u >= 0 && u < 1, `unit ${u}`);
    buckets[Math.floor(u * 16)]! += 1;
    sum += u;
  }
  const expected = n / 16;
  const chi2 = buckets.reduce((acc, b) => acc + (b - expected) ** 2 / expected, 0);
  // df 15: P(chi2 > 50) ≈ 1e-5.
  assert.ok(chi2 < 50, `chi-square ${chi2.toFixed(1)} over ${buckets.join(',')}`);
  assert.ok(Math.abs(sum / n - 0.5) < 6 * Math.sqrt(1 / 12 / n), `mean ${sum / n}`);
});

test('neighbouring counters, streams and seeds are uncorrelated (|r| < 6/√n)', () => {
  const n = 100_000;
  const corr = (a: (j: number) => number, b: (j: number) => number): number => {
    let sa = 0, sb = 0, sab = 0, saa = 0, sbb = 0;
    for (let j = 0; j < n; j++) {
      const x = a(j), y = b(j);
      sa += x; sb += y; sab += x * y; saa += x * x; sbb += y * y;
    }
    return (sab / n - (sa / n) * (sb / n)) / Math.sqrt((saa / n - (sa / n) ** 2) * (sbb / n - (sb / n) ** 2));
  };
  const bound = 6 / Math.sqrt(n);
  const pairs: [string, number][] = [
    ['j, j+1', corr((j) => unit(42, 0, j), (j) => unit(42, 0, j + 1))],
    ['stream 16, 17', corr((j) => unit(42, 16, j), (j) => unit(42, 17, j))],
    ['seed 42, 43', corr((j) => unit(42, 0, j), (j) => unit(43, 0, j))],
    ['high, low bits', corr((j) => unit(42, 0, j), (j) => (unit(42, 0, j) * 2 ** 32) % 1)],
  ];
  for (const [what, r] of pairs) assert.ok(Math.abs(r) < bound, `${what}: r = ${r}`);
});

test('integer helpers stay within their bounds and reach both ends', () => {
  const seen = new Set<number>();
  for (let j = 0; j < 10_000; j++) {
    const v = intBetween(1, 2, j, -3, 3);
    assert.ok(Number.isInteger(v) && v >= -3 && v <= 3);
    seen.add(v);
    const b = intBelow(1, 3, j, 10);
    assert.ok(Number.isInteger(b) && b >= 0 && b < 10);
  }
  assert.deepEqual([...seen].sort((a, b) => a - b), [-3, -2, -1, 0, 1, 2, 3]);
  const picked = new Set<string>();
  for (let j = 0; j < 1000; j++) picked.add(pick(['a', 'b', 'c'], 1, 4, j));
  assert.equal(picked.size, 3);
});
