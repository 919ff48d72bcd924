import assert from 'node:assert/strict';
import { test } from 'node:test';
import { AdaptiveDelay } from '../../../src/storage/wal/adaptive-delay.ts';

const options = { delayMsMin: 2, delayMsMax: 20, flushBytesMax: 64 * 1024 };

/** Feeds a steady rate for `seconds` of synthetic time (one flush per `stepMs`); returns the end time. */
function feed(delay: AdaptiveDelay, framesPerSecond: number, frameBytes: number, seconds: number, startMs = 0, stepMs = 5): number {
  let now = startMs;
  const end = startMs + seconds * 1000;
  while (now < end) {
    now += stepMs;
    const frames = (framesPerSecond * stepMs) / 1000;
    delay.observe(frames, frames * frameBytes, now);
  }
  return now;
}

test('no history or a low rate: no delay (a lone write is never held back)', () => {
  const delay = new AdaptiveDelay(options);
  assert.equal(delay.delayMs(0), 0);
  const now = feed(delay, 50, 200, 5);
  assert.equal(delay.delayMs(now), 0);
});

test('the estimate converges to the real rate', () => {
  const delay = new AdaptiveDelay(options);
  const now = feed(delay, 10_000, 100, 10);
  const rate = delay.framesPerSecond(now);
  assert.ok(Math.abs(rate - 10_000) < 500, `estimated ${rate} frames/s`);
});

test('a high rate gives a delay clamped to [min, max], never beyond', () => {
  // 10k frames/s of 100 B = 1 MB/s: 64 KiB takes ~65 ms to gather -> clamped to max.
  const slow = new AdaptiveDelay(options);
  assert.equal(slow.delayMs(feed(slow, 10_000, 100, 10)), options.delayMsMax);
  // 200k frames/s of 1 KiB = 200 MB/s: 64 KiB takes ~0.3 ms -> clamped to min.
  const fast = new AdaptiveDelay(options);
  assert.equal(fast.delayMs(feed(fast, 200_000, 1024, 10)), options.delayMsMin);
  // 20k frames/s of 512 B = ~10 MB/s: ~6.4 ms, inside the range.
  const mid = new AdaptiveDelay(options);
  const d = mid.delayMs(feed(mid, 20_000, 512, 10));
  assert.ok(d > options.delayMsMin && d < options.delayMsMax, `delay ${d}`);
  // Absurd rates cannot push it out of range either way.
  const absurd = new AdaptiveDelay(options);
  absurd.observe(1e12, 1e15, 1);
  assert.equal(absurd.delayMs(1), options.delayMsMin);
});

test('after idleness the delay decays back to 0', () => {
  const delay = new AdaptiveDelay(options);
  const now = feed(delay, 10_000, 100, 5);
  assert.ok(delay.delayMs(now) > 0);
  assert.equal(delay.delayMs(now + 10_000), 0);
});
