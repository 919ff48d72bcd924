/**
 * The token bucket with a fake clock: the burst is available at once, the
 * rate refills it, Retry-After is the time until a refused request would
 * fit (and it does fit then, not a millisecond later), a request past the
 * burst never fits, reservations go into debt in arrival order.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { TokenBucket } from '../../src/core/token-bucket.ts';

test('a new bucket holds its burst; taking past it is refused and takes nothing', () => {
  const b = new TokenBucket(10, 20, 0);
  assert.deepEqual(b.tryTake(15, 0), { ok: true });
  assert.equal(b.available(0), 5);
  const refused = b.tryTake(6, 0);
  assert.equal(refused.ok, false);
  assert.equal(b.available(0), 5, 'a refusal takes nothing');
  assert.deepEqual(b.tryTake(5, 0), { ok: true });
  assert.equal(b.available(0), 0);
});

test('the rate refills the bucket, never past the burst', () => {
  const b = new TokenBucket(10, 20, 1_000);
  b.tryTake(20, 1_000);
  assert.equal(b.available(1_500), 5, 'half a second at 10/s');
  assert.equal(b.available(2_000), 10);
  assert.equal(b.available(60_000), 20, 'capped at the burst');
});

test('Retry-After is the time until this request fits, and it fits then', () => {
  const b = new TokenBucket(4, 8, 0);
  b.tryTake(8, 0);
  const r = b.tryTake(3, 0);
  assert.ok(!r.ok);
  assert.equal(r.retryAfterMs, 750, '3 tokens at 4/s');
  assert.equal(b.tryTake(3, 749).ok, false, 'not a millisecond early');
  assert.deepEqual(b.tryTake(3, 750), { ok: true });
  // A fractional rate: one token every 10 s.
  const slow = new TokenBucket(0.1, 1, 0);
  slow.tryTake(1, 0);
  const s = slow.tryTake(1, 2_500);
  assert.ok(!s.ok);
  assert.equal(s.retryAfterMs, 7_500);
});

test('a request bigger than the burst can never fit: Infinity, not a wait', () => {
  const b = new TokenBucket(1_000, 100, 0);
  assert.equal(b.waitMs(101, 0), Number.POSITIVE_INFINITY);
  const r = b.tryTake(101, 3_600_000);
  assert.ok(!r.ok);
  assert.equal(r.retryAfterMs, Number.POSITIVE_INFINITY);
  assert.equal(b.available(3_600_000), 100, 'nothing taken');
  assert.deepEqual(b.tryTake(100, 3_600_000), { ok: true }, 'exactly the burst fits');
});

test('a clock that steps back adds no tokens and takes none', () => {
  const b = new TokenBucket(10, 10, 10_000);
  b.tryTake(10, 10_000);
  assert.equal(b.available(5_000), 0);
  assert.equal(b.available(10_500), 5, 'refill resumes from the latest time seen');
});

test('reserve: waiting sources go into debt in arrival order, and a batch past the burst waits its turn', () => {
  const b = new TokenBucket(10, 10, 0);
  assert.equal(b.reserve(10, 0), 0, 'the burst is there');
  assert.equal(b.reserve(5, 0), 500, '5 tokens of debt at 10/s');
  assert.equal(b.reserve(30, 0), 3_500, 'queued behind the first: 35 of debt');
  assert.equal(b.tryTake(1, 1_000).ok, false, 'a refusing client waits behind the debt');
  const r = b.tryTake(1, 1_000);
  assert.ok(!r.ok && r.retryAfterMs === 2_600, 'debt 25 at 1 s, plus its own token');
  assert.equal(b.available(3_500), 0, 'paid back');
});

test('a reservation is paid when the refills reach its mark, at the rate of the moment', () => {
  const b = new TokenBucket(10, 10, 0);
  b.reserve(10, 0);
  const first = b.reserveMark(5, 0);
  const second = b.reserveMark(30, 0);
  assert.equal(b.msUntil(first, 0), 500);
  assert.equal(b.msUntil(second, 0), 3_500);
  // At 1 s, 10 of the 35 are paid; the rate goes up tenfold: the other 25 take 250 ms, not 2.5 s.
  b.reconfigure(100, 10, 1_000);
  assert.equal(b.msUntil(first, 1_000), 0);
  assert.equal(b.msUntil(second, 1_000), 250);
  assert.equal(b.msUntil(second, 1_250), 0);
});

test('reconfigure keeps the tokens held, capped at the new burst', () => {
  const b = new TokenBucket(10, 100, 0);
  b.tryTake(40, 0);
  b.reconfigure(1, 30, 0);
  assert.equal(b.available(0), 30);
  assert.equal(b.ratePerSecond, 1);
  assert.equal(b.burst, 30);
  b.reconfigure(100, 1_000, 0);
  assert.equal(b.available(1_000), 130, 'a larger burst fills at the new rate');
});

test('a rate or burst that is not a positive number is a programmer error', () => {
  assert.throws(() => new TokenBucket(0, 1, 0), /rate/);
  assert.throws(() => new TokenBucket(1, 0, 0), /burst/);
  assert.throws(() => new TokenBucket(Number.NaN, 1, 0), /rate/);
  assert.throws(() => new TokenBucket(1, Number.POSITIVE_INFINITY, 0), /burst/);
});
