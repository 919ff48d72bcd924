/** The schedule: due times of constant and Poisson arrivals, batch sizes, record numbering. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Schedule, requestsPerSecond } from '../../src/loadgen/schedule.ts';

function all(s: Schedule) {
  const out = [];
  for (let r = s.next(); r !== undefined; r = s.next()) out.push(r);
  return out;
}

test('constant arrivals fall due every 1/R seconds, records numbered without gaps', () => {
  const spec = { recordsPerSecond: 2000, batchMin: 1, batchMax: 39, arrival: 'constant' as const, seed: 3, durationUs: 10_000_000 };
  const reqs = all(new Schedule(spec));
  const gap = 1e6 / requestsPerSecond(spec);
  assert.equal(requestsPerSecond(spec), 100);
  assert.equal(reqs.length, 1000);
  let j = 0;
  for (const [i, r] of reqs.entries()) {
    assert.equal(r.r, i);
    assert.ok(Math.abs(r.dueUs - i * gap) < 1e-3, `request ${i} due at ${r.dueUs}`);
    assert.equal(r.firstJ, j);
    assert.ok(r.count >= 1 && r.count <= 39);
    j += r.count;
  }
  // The mean batch is 20, so the records offered match the rate within 6σ of the uniform batch sizes.
  const sd = Math.sqrt((39 ** 2 - 1) / 12) * Math.sqrt(1000);
  assert.ok(Math.abs(j - 20_000) < 6 * sd, `${j} records`);
});

test('Poisson arrivals have the same mean rate with exponential gaps, and are seeded', () => {
  const spec = { recordsPerSecond: 1000, batchMin: 1, batchMax: 1, arrival: 'poisson' as const, seed: 11, durationUs: 20_000_000 };
  const a = all(new Schedule(spec));
  const b = all(new Schedule(spec));
  assert.deepEqual(a, b, 'the same seed gives the same schedule');
  // 20,000 expected: a Poisson count has sd √20,000 ≈ 141.
  assert.ok(Math.abs(a.length - 20_000) < 6 * 142, `${a.length} requests`);
  const gaps = a.slice(1).map((r, i) => r.dueUs - (a[i] as { dueUs: number }).dueUs);
  const cv = Math.sqrt(gaps.reduce((s, g) => s + (g - 1000) ** 2, 0) / gaps.length) / 1000;
  assert.ok(cv > 0.9 && cv < 1.1, `an exponential gap has a coefficient of variation of 1, got ${cv}`);
  const other = all(new Schedule({ ...spec, seed: 12 }));
  assert.notDeepEqual(other.slice(0, 10), a.slice(0, 10));
});

test('a schedule refuses a zero rate and inverted batch bounds', () => {
  assert.throws(() => new Schedule({ recordsPerSecond: 0, batchMin: 1, batchMax: 1, arrival: 'constant', seed: 1, durationUs: 1 }), /rate/);
  assert.throws(() => new Schedule({ recordsPerSecond: 1, batchMin: 5, batchMax: 2, arrival: 'constant', seed: 1, durationUs: 1 }), /batch/);
});
