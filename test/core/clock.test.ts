import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ManualClock, systemClock } from '../../src/core/clock.ts';

test('systemClock reads Date.now()', () => {
  const before = Date.now();
  const ms = systemClock.nowMs();
  assert.ok(ms >= before && ms <= Date.now());
});

test('ManualClock moves only when told, in both directions', () => {
  const clock = new ManualClock(1000);
  assert.equal(clock.nowMs(), 1000);
  assert.equal(clock.nowMs(), 1000);
  clock.advance(25);
  assert.equal(clock.nowMs(), 1025);
  clock.advance(-50);
  assert.equal(clock.nowMs(), 975);
  clock.set(5);
  assert.equal(clock.nowMs(), 5);
});
