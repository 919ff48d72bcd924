import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { type Clock, ManualClock } from '../../src/core/clock.ts';
import { SluiceError } from '../../src/core/errors.ts';
import { HLC_MAX_OFFSET_MS_DEFAULT, Hlc, hlcFromParts, hlcParts } from '../../src/core/hlc.ts';
import { prng } from '../support/prng.ts';

const T0 = Date.UTC(2025, 2, 14, 12, 0, 0);


describe('Hlc', () => {
  test('now() is wall time with counter 0 in a fresh ms, counter +1 within a ms', () => {
    const clock = new ManualClock(T0);
    const hlc = new Hlc(clock);
    assert.deepEqual(hlcParts(hlc.now()), { physicalMs: T0, logical: 0 });
    assert.deepEqual(hlcParts(hlc.now()), { physicalMs: T0, logical: 1 });
    clock.advance(3);
    const v = hlc.now();
    assert.deepEqual(hlcParts(v), { physicalMs: T0 + 3, logical: 0 });
    assert.equal(v, (BigInt(T0 + 3) << 16n) | 0n);
    assert.equal(v, hlcFromParts(T0 + 3, 0));
  });

  test('stays monotonic when the clock steps back', () => {
    const clock = new ManualClock(T0);
    const hlc = new Hlc(clock);
    const a = hlc.now();
    clock.advance(-10_000);
    const b = hlc.now();
    const c = hlc.now();
    assert.ok(a < b && b < c);
    assert.deepEqual(hlcParts(c), { physicalMs: T0, logical: 2 });
  });

  test('a full logical counter carries into the physical part', () => {
    // Odd and even ms: a carry done with | instead of + only shows on odd ones.
    for (const start of [T0, T0 + 1]) {
      const hlc = new Hlc(new ManualClock(start));
      let prev = hlc.now();
      for (let i = 0; i < 70_000; i++) {
        const v = hlc.now();
        assert.ok(v > prev);
        prev = v;
      }
      assert.deepEqual(hlcParts(prev), { physicalMs: start + 1, logical: 70_000 - 65_536 });
    }
  });

  test('nowBatch(n) reserves n consecutive versions; first + i are all valid and unique', () => {
    const clock = new ManualClock(T0);
    const hlc = new Hlc(clock);
    const before = hlc.now();
    const first = hlc.nowBatch(100_000); // wraps the counter: spans T0 .. T0+1
    assert.equal(first, before + 1n);
    const lastOfBatch = first + 99_999n;
    assert.deepEqual(hlcParts(lastOfBatch), { physicalMs: T0 + 1, logical: 100_000 - 65_536 });
    const after = hlc.now();
    assert.equal(after, lastOfBatch + 1n);
    assert.throws(() => hlc.nowBatch(0), assert.AssertionError);
    assert.throws(() => hlc.nowBatch(2 ** 20 + 1), assert.AssertionError);
  });

  test('update() returns a version above both the remote and everything local', () => {
    const clock = new ManualClock(T0);
    const hlc = new Hlc(clock);
    const local = hlc.now();
    // Remote ahead (within maxOffsetMs): adopt its physical time, counter + 1.
    const remote = hlcFromParts(T0 + 500, 7);
    const merged = hlc.update(remote);
    assert.deepEqual(hlcParts(merged), { physicalMs: T0 + 500, logical: 8 });
    assert.ok(merged > local && merged > remote);
    assert.ok(hlc.now() > merged, 'later local versions stay above what was received');
    // Remote behind: local counter + 1.
    const m2 = hlc.update(hlcFromParts(T0 - 100, 3));
    assert.deepEqual(hlcParts(m2), { physicalMs: T0 + 500, logical: 10 });
    // Wall clock ahead of both: wall time, counter 0.
    clock.advance(1000);
    assert.deepEqual(hlcParts(hlc.update(hlcFromParts(T0 + 600, 9))), { physicalMs: T0 + 1000, logical: 0 });
  });

  test('update() with remote == local takes the larger counter + 1, carrying on overflow', () => {
    const clock = new ManualClock(T0);
    const hlc = new Hlc(clock);
    hlc.now();
    assert.deepEqual(hlcParts(hlc.update(hlcFromParts(T0, 40))), { physicalMs: T0, logical: 41 });
    assert.deepEqual(hlcParts(hlc.update(hlcFromParts(T0, 0xffff))), { physicalMs: T0 + 1, logical: 0 });
  });

  test('update() refuses a remote more than maxOffsetMs ahead with CLOCK_SKEW, leaving state alone', () => {
    const clock = new ManualClock(T0);
    const hlc = new Hlc(clock, { maxOffsetMs: 1000 });
    const before = hlc.now();
    assert.doesNotThrow(() => hlc.update(hlcFromParts(T0 + 1000, 0)));
    const mid = hlc.now();
    const err = (() => {
      try {
        hlc.update(hlcFromParts(T0 + 1001, 0));
      } catch (e) {
        return e;
      }
      return undefined;
    })();
    assert.ok(err instanceof SluiceError);
    assert.equal(err.code, 'CLOCK_SKEW');
    assert.match(err.message, /1001 ms ahead/);
    const after = hlc.now();
    assert.ok(after > mid && mid > before);
    assert.equal(hlcParts(after).physicalMs, T0 + 1000, 'the refused remote did not move the clock');
    // The default bound is the one the default clock offset gives (config.ts asserts it), not a minute.
    const dflt = new Hlc(clock);
    assert.equal(dflt.maxOffsetMs, HLC_MAX_OFFSET_MS_DEFAULT);
    assert.doesNotThrow(() => dflt.update(hlcFromParts(T0 + HLC_MAX_OFFSET_MS_DEFAULT, 0)));
    assert.throws(() => dflt.update(hlcFromParts(T0 + 30_000, 0)), SluiceError);
  });

  test('a refusal is told to onRefused with how far ahead the remote was, and carries its numbers in the details', () => {
    const clock = new ManualClock(T0);
    const told: [number, number][] = [];
    const hlc = new Hlc(clock, { maxOffsetMs: 1600, onRefused: (aheadMs, maxOffsetMs) => told.push([aheadMs, maxOffsetMs]) });
    hlc.update(hlcFromParts(T0 + 1600, 0));
    assert.deepEqual(told, [], 'at the bound: taken, nothing told');
    assert.throws(
      () => hlc.update(hlcFromParts(T0 + 30_000, 5)),
      (e: unknown) => e instanceof SluiceError && e.code === 'CLOCK_SKEW' && e.canRetry && /30000 ms ahead/.test(e.message) && e.details[0]?.code === 'REMOTE_VERSION_AHEAD' && /aheadMs=30000 maxOffsetMs=1600/.test(e.details[0].message),
    );
    assert.deepEqual(told, [[30_000, 1600]]);
  });

  test('update() refuses values that are not uint64', () => {
    const hlc = new Hlc(new ManualClock(T0));
    for (const bad of [-1n, 1n << 64n]) {
      assert.throws(() => hlc.update(bad), (e: unknown) => e instanceof SluiceError && e.code === 'INVALID_ARGUMENT');
    }
  });

  test('property: two nodes exchanging versions under jittery clocks stay monotonic and causal', () => {
    const rnd = prng(11);
    let base = T0;
    const jittery = (): Clock => ({ nowMs: () => base + Math.floor(rnd() * 401) - 200 });
    const nodes = [new Hlc(jittery()), new Hlc(jittery())];
    const last = [0n, 0n];
    for (let i = 0; i < 200_000; i++) {
      base += Math.floor(rnd() * 2);
      const from = i & 1;
      const to = 1 - from;
      const sender = nodes[from]!;
      const receiver = nodes[to]!;
      const roll = rnd();
      let sent: bigint;
      if (roll < 0.3) {
        const n = 1 + Math.floor(rnd() * 1000);
        const first = sender.nowBatch(n);
        assert.ok(first > last[from]!);
        sent = first + BigInt(n - 1);
      } else {
        sent = sender.now();
        assert.ok(sent > last[from]!);
      }
      last[from] = sent;
      const received = receiver.update(sent);
      assert.ok(received > sent, 'receive happens after send');
      assert.ok(received > last[to]!, 'receiver stays monotonic');
      last[to] = received;
    }
  });
});

describe('hlcParts / hlcFromParts', () => {
  test('round-trip at the edges of both fields', () => {
    for (const [pt, lc] of [[0, 0], [0, 0xffff], [2 ** 48 - 1, 0xffff], [T0, 12345]] as const) {
      assert.deepEqual(hlcParts(hlcFromParts(pt, lc)), { physicalMs: pt, logical: lc });
    }
    assert.equal(hlcFromParts(2 ** 48 - 1, 0xffff), (1n << 64n) - 1n);
    assert.throws(() => hlcFromParts(2 ** 48, 0), assert.AssertionError);
    assert.throws(() => hlcFromParts(0, 0x10000), assert.AssertionError);
  });
});

test('observe: no version at or below an observed floor, however far ahead of the wall clock it is', () => {
  const clock = new ManualClock(1_000_000);
  const hlc = new Hlc(clock, { maxOffsetMs: 10 });
  const floor = hlcFromParts(1_060_000, 5);
  hlc.observe(floor);
  assert.equal(hlc.now(), floor + 1n);
  hlc.observe(floor - 100n);
  assert.equal(hlc.now(), floor + 2n, 'a lower floor changes nothing');
  assert.throws(() => hlc.observe(-1n), { code: 'INVALID_ARGUMENT' });
});
