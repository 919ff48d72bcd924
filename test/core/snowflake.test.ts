import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { type Clock, ManualClock } from '../../src/core/clock.ts';
import { SluiceError } from '../../src/core/errors.ts';
import { type ClockEvent, SNOWFLAKE_EPOCH_MS, SnowflakeGenerator, snowflakeParts } from '../../src/core/snowflake.ts';
import { prng } from '../support/prng.ts';

const T0 = Date.UTC(2025, 2, 14, 12, 0, 0);


/** A clock that moves forward by `stepMs` on every read (a wall clock seen by a spinning reader). */
class TickingClock implements Clock {
  reads = 0;
  ms: number;
  stepMs: number;
  constructor(ms: number, stepMs: number) {
    this.ms = ms;
    this.stepMs = stepMs;
  }
  nowMs(): number {
    this.reads++;
    const ms = this.ms;
    this.ms += this.stepMs;
    return ms;
  }
}

function setup(clock: Clock, extra: { rollbackWaitMsMax?: number; logicalDriftMsMax?: number } = {}) {
  const events: ClockEvent[] = [];
  const gen = new SnowflakeGenerator({ datacenterId: 3, machineId: 7, clock, onClockEvent: (e) => events.push(e), ...extra });
  return { gen, events };
}

function assertIncreasing(ids: ArrayLike<bigint>, prev = -1n): bigint {
  for (let i = 0; i < ids.length; i++) {
    const id = ids[i]!;
    assert.ok(id > prev, `id #${i} ${id} not above ${prev}`);
    prev = id;
  }
  return prev;
}

describe('SnowflakeGenerator', () => {
  test('layout: timestamp, datacenter, machine and sequence land in their bits', () => {
    const clock = new ManualClock(T0);
    for (const [dc, m] of [[0, 0], [31, 0], [0, 31], [17, 9], [31, 31]] as const) {
      const gen = new SnowflakeGenerator({ datacenterId: dc, machineId: m, clock });
      const a = gen.next();
      const b = gen.next();
      assert.deepEqual(snowflakeParts(a), { timestampMs: T0, datacenterId: dc, machineId: m, workerId: (dc << 5) | m, sequence: 0 });
      assert.equal(snowflakeParts(b).sequence, 1);
      assert.equal(a, (BigInt(T0 - SNOWFLAKE_EPOCH_MS) << 22n) | (BigInt(dc) << 17n) | (BigInt(m) << 12n));
    }
  });

  test('a 10-bit worker id is the same as datacenter << 5 | machine', () => {
    const clock = new ManualClock(T0);
    assert.equal(SnowflakeGenerator.workerIdOf(21, 6), (21 << 5) | 6);
    const byWorker = new SnowflakeGenerator({ workerId: (21 << 5) | 6, clock }).next();
    const byParts = new SnowflakeGenerator({ datacenterId: 21, machineId: 6, clock }).next();
    assert.equal(byWorker, byParts);
    assert.equal(snowflakeParts(new SnowflakeGenerator({ workerId: 1023, clock }).next()).workerId, 1023);
  });

  test('refuses worker ids and limits out of range', () => {
    const clock = new ManualClock(T0);
    assert.throws(() => new SnowflakeGenerator({ datacenterId: 32, machineId: 0, clock }), assert.AssertionError);
    assert.throws(() => new SnowflakeGenerator({ datacenterId: 0, machineId: -1, clock }), assert.AssertionError);
    assert.throws(() => new SnowflakeGenerator({ workerId: 1024, clock }), assert.AssertionError);
    assert.throws(() => new SnowflakeGenerator({ workerId: 1, clock, rollbackWaitMsMax: 5000 }), assert.AssertionError);
  });

  test('ids exceed 2^53 and round-trip exactly as bigint, up to the last ms of 41 bits', () => {
    const clock = new ManualClock(T0);
    const gen = new SnowflakeGenerator({ workerId: 5, clock });
    const id = gen.next();
    assert.ok(id > 2n ** 53n);
    assert.equal(snowflakeParts(id).timestampMs, T0);
    const lastMs = SNOWFLAKE_EPOCH_MS + 2 ** 41 - 1; // 2094-02-14
    clock.set(lastMs);
    const [x, y] = gen.nextBatch(2);
    assert.deepEqual(snowflakeParts(x!), { timestampMs: lastMs, datacenterId: 0, machineId: 5, workerId: 5, sequence: 0 });
    assert.equal(y! - x!, 1n);
    assert.ok(x! < 2n ** 63n);
    clock.set(lastMs + 1);
    assert.throws(() => gen.next(), (e: unknown) => e instanceof SluiceError && e.code === 'INTERNAL');
  });

  test('normal operation: sequence counts up within a ms and restarts at 0 in the next', () => {
    const clock = new ManualClock(T0);
    const { gen } = setup(clock);
    const ids = [gen.next(), gen.next(), gen.next()];
    assert.deepEqual(ids.map((id) => snowflakeParts(id).sequence), [0, 1, 2]);
    assert.equal(ids[2]! - ids[0]!, 2n);
    clock.advance(1);
    const next = snowflakeParts(gen.next());
    assert.equal(next.timestampMs, T0 + 1);
    assert.equal(next.sequence, 0);
  });

  test('sequence exhaustion borrows the next ms without waiting for the clock', () => {
    const clock = new ManualClock(T0);
    const { gen, events } = setup(clock);
    const ids = gen.nextBatch(10_000);
    assertIncreasing(ids);
    const parts = Array.from(ids, snowflakeParts);
    assert.deepEqual(parts[4095], { ...parts[4095]!, timestampMs: T0, sequence: 4095 });
    assert.deepEqual(parts[4096], { ...parts[4096]!, timestampMs: T0 + 1, sequence: 0 });
    assert.deepEqual(parts[9999], { ...parts[9999]!, timestampMs: T0 + 2, sequence: 9999 - 8192 });
    // Contiguous within a ms.
    assert.equal(ids[4095]! - ids[0]!, 4095n);
    // The wall clock catching up continues from the borrowed ms, then moves on.
    clock.advance(1);
    assert.equal(snowflakeParts(gen.next()).timestampMs, T0 + 2);
    clock.advance(5);
    assert.deepEqual(snowflakeParts(gen.next()), { ...parts[0]!, timestampMs: T0 + 6, sequence: 0 });
    assert.deepEqual(events, [], 'borrowing is normal operation, not a clock event');
  });

  test('borrowing stops at logicalDriftMsMax with CLOCK_ROLLBACK', () => {
    const clock = new ManualClock(T0);
    const { gen, events } = setup(clock, { logicalDriftMsMax: 2 });
    const ok = gen.nextBatch(3 * 4096); // T0, T0+1, T0+2
    assert.equal(snowflakeParts(ok[ok.length - 1]!).timestampMs, T0 + 2);
    assert.throws(() => gen.next(), (e: unknown) => e instanceof SluiceError && e.code === 'CLOCK_ROLLBACK' && /3 ms/.test(e.message));
    assert.deepEqual(events, [{ kind: 'refused', driftMs: 3 }]);
    clock.advance(1);
    assert.ok(gen.next() > ok[ok.length - 1]!);
  });

  test('a small backward step is waited out by re-reading the clock', () => {
    const clock = new TickingClock(T0, 0);
    const { gen, events } = setup(clock);
    const before = gen.next();
    clock.ms = T0 - 3;
    clock.stepMs = 1; // every read moves the clock 1 ms forward
    const readsBefore = clock.reads;
    const after = gen.next();
    assert.ok(after > before);
    assert.ok(clock.reads - readsBefore >= 4, 'waited by re-reading the clock');
    assert.deepEqual(events, [{ kind: 'wait', driftMs: 3 }]);
    assert.ok(snowflakeParts(after).timestampMs >= T0);
  });

  test('the wait is bounded in time when the clock does not come back', () => {
    const clock = new ManualClock(T0);
    const { gen, events } = setup(clock, { rollbackWaitMsMax: 20 });
    const before = gen.next();
    clock.advance(-10);
    const started = performance.now();
    const after = gen.next();
    const waitedMs = performance.now() - started;
    assert.ok(waitedMs >= 19 && waitedMs < 500, `waited ${waitedMs} ms`);
    assert.ok(after > before);
    assert.deepEqual(snowflakeParts(after), { ...snowflakeParts(before), sequence: 1 });
    assert.deepEqual(events, [{ kind: 'wait', driftMs: 10 }, { kind: 'logical', driftMs: 10 }]);
  });

  test('a larger backward step continues as a logical clock: increasing, no duplicates', () => {
    const clock = new ManualClock(T0);
    const { gen, events } = setup(clock);
    const first = gen.nextBatch(100);
    clock.advance(-300);
    const during = gen.nextBatch(5000); // crosses a borrowed ms while the wall is 300 ms behind
    let last = assertIncreasing(first);
    last = assertIncreasing(during, last);
    assert.equal(snowflakeParts(during[0]!).timestampMs, T0);
    assert.equal(snowflakeParts(during[0]!).sequence, 100);
    assert.equal(snowflakeParts(during[4999]!).timestampMs, T0 + 1);
    assert.deepEqual(events, [{ kind: 'logical', driftMs: 300 }], 'one event per step, not per id');
    assert.equal(new Set([...first, ...during]).size, 5100);
    // The wall clock catches up: back to wall time.
    clock.advance(305);
    const later = gen.next();
    assert.ok(later > last);
    assert.equal(snowflakeParts(later).timestampMs, T0 + 5);
  });

  test('a step beyond logicalDriftMsMax throws CLOCK_ROLLBACK, emits refused, and recovers when the clock does', () => {
    const clock = new ManualClock(T0);
    const { gen, events } = setup(clock);
    const before = gen.next();
    clock.advance(-2000);
    const err = (() => {
      try {
        gen.nextBatch(10);
      } catch (e) {
        return e;
      }
      return undefined;
    })();
    assert.ok(err instanceof SluiceError);
    assert.equal(err.code, 'CLOCK_ROLLBACK');
    assert.equal(err.status, 503);
    assert.match(err.message, /2000 ms/);
    assert.deepEqual(events, [{ kind: 'refused', driftMs: 2000 }]);
    assert.throws(() => gen.next(), SluiceError, 'keeps refusing while the clock is behind');
    clock.advance(1500); // now 500 ms behind: within the logical bound
    const resumed = gen.next();
    assert.ok(resumed > before);
    assert.equal(snowflakeParts(resumed).timestampMs, T0);
  });

  test('a clock before the epoch is refused', () => {
    const { gen, events } = setup(new ManualClock(SNOWFLAKE_EPOCH_MS - 1));
    assert.throws(() => gen.next(), (e: unknown) => e instanceof SluiceError && e.code === 'CLOCK_ROLLBACK');
    assert.equal(events[0]?.kind, 'refused');
  });

  test('observe(): a restarted node whose clock went back never reissues an id', () => {
    const clock = new ManualClock(T0);
    const before = new SnowflakeGenerator({ workerId: 9, clock }).nextBatch(5000);
    const maxIdInWal = before[before.length - 1]!;

    // Restart with the clock 400 ms behind: issues logically after the WAL's max id.
    clock.set(T0 - 400);
    const events: ClockEvent[] = [];
    const fresh = new SnowflakeGenerator({ workerId: 9, clock, onClockEvent: (e) => events.push(e) });
    fresh.observe(maxIdInWal);
    fresh.observe(before[0]!); // observing an older id changes nothing
    const next = fresh.next();
    assert.ok(next > maxIdInWal);
    assert.equal(next - maxIdInWal, 1n, 'continues right after the last id in the WAL');
    // The WAL's last id was in a borrowed ms (5000 ids > 4096), so 401 ms ahead of the wall.
    assert.deepEqual(events, [{ kind: 'logical', driftMs: 401 }]);

    // Restart with the clock 5 s behind: refuses rather than risk a duplicate.
    clock.set(T0 - 5000);
    const far = new SnowflakeGenerator({ workerId: 9, clock });
    far.observe(maxIdInWal);
    assert.throws(() => far.next(), (e: unknown) => e instanceof SluiceError && e.code === 'CLOCK_ROLLBACK');

    // Without observe() the same restart would have reissued ids: the test can fail.
    clock.set(T0);
    const forgetful = new SnowflakeGenerator({ workerId: 9, clock });
    assert.equal(forgetful.next(), before[0]);
  });

  test('nextBatch writes into a caller buffer, returning a view when it is longer', () => {
    const clock = new ManualClock(T0);
    const { gen } = setup(clock);
    const out = new BigUint64Array(64);
    const a = gen.nextBatch(64, out);
    assert.equal(a, out);
    const firstOfA = a[0]!;
    const b = gen.nextBatch(10, out);
    assert.equal(b.length, 10);
    assert.equal(b.buffer, out.buffer);
    assert.equal(b[0]! - firstOfA, 64n, 'the second batch continues after the first');
    assert.equal(out[10], firstOfA + 10n, 'elements past n are left alone');
    assert.equal(gen.nextBatch(0).length, 0);
    assert.throws(() => gen.nextBatch(65, out), assert.AssertionError);
    // next() and nextBatch() share one sequence.
    const single = gen.next();
    assert.equal(single - out[9]!, 1n);
    // Another caller's array between two uses of `out` (the generator keeps the last one's 32-bit view).
    const other = new BigUint64Array(3);
    gen.nextInto(3, other);
    assert.equal(other[0]! - single, 1n);
    gen.nextInto(2, out);
    assert.deepEqual([out[0]! - other[2]!, out[1]! - other[2]!], [1n, 2n]);
    assert.equal(other[2]! - other[0]!, 2n, 'the other array is left as it was filled');
  });

  test('property: 1M ids under a jittery clock (random forward and backward steps) strictly increase', () => {
    const rnd = prng(7);
    let base = T0;
    // Wall = a slowly advancing base plus ±40 ms of jitter; reads go back up to 80 ms,
    // triggering waits (≤ 5 ms) and logical continuation, never the 1000 ms refusal.
    const clock: Clock = { nowMs: () => base + Math.floor(rnd() * 81) - 40 };
    const kinds = new Map<string, number>();
    const gen = new SnowflakeGenerator({
      workerId: 1023,
      clock,
      onClockEvent: (e) => kinds.set(e.kind, (kinds.get(e.kind) ?? 0) + 1),
    });
    const total = 1_000_000;
    const out = new BigUint64Array(5000);
    let prev = -1n;
    let issued = 0;
    while (issued < total) {
      base += Math.floor(rnd() * 3);
      if (rnd() < 0.2) {
        const id = gen.next();
        assert.ok(id > prev);
        prev = id;
        issued += 1;
      } else {
        const n = Math.min(total - issued, 1 + Math.floor(rnd() * 5000));
        const ids = gen.nextBatch(n, out);
        for (let i = 0; i < n; i++) {
          const id = ids[i]!;
          if (!(id > prev)) assert.fail(`id ${id} at ${issued + i} not above ${prev}`);
          prev = id;
        }
        issued += n;
      }
    }
    assert.equal(snowflakeParts(prev).workerId, 1023);
    assert.ok((kinds.get('wait') ?? 0) > 0, 'exercised waits');
    assert.ok((kinds.get('logical') ?? 0) > 0, 'exercised logical continuation');
    assert.equal(kinds.get('refused'), undefined);
  });
});

describe('snowflakeParts', () => {
  test('refuses values that are not 63-bit non-negative integers', () => {
    for (const bad of [-1n, 1n << 63n]) {
      assert.throws(() => snowflakeParts(bad), (e: unknown) => e instanceof SluiceError && e.code === 'INVALID_ARGUMENT');
    }
  });
});

test('lastIssued is the last id issued or observed, and issues nothing', () => {
  const clock = new ManualClock(T0);
  const { gen } = setup(clock);
  assert.equal(gen.lastIssued(), 0n);
  const a = gen.nextBatch(5).at(-1) as bigint;
  assert.equal(gen.lastIssued(), a);
  assert.equal(gen.lastIssued(), a, 'reading it twice issues nothing');
  assert.equal(gen.next(), a + 1n);
  const ahead = a + (50n << 22n);
  gen.observe(ahead);
  assert.equal(snowflakeParts(gen.lastIssued()).timestampMs, snowflakeParts(ahead).timestampMs);
  assert.equal(snowflakeParts(gen.lastIssued()).sequence, snowflakeParts(ahead).sequence);
});
