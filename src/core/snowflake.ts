/**
 * Snowflake ids (DESIGN §2): 64-bit, strictly increasing per generator,
 * roughly time-ordered across nodes.
 *
 *   bit 63      unused (0), so ids stay positive as signed int64
 *   bits 62..22 41-bit ms since SNOWFLAKE_EPOCH_MS (2024-06-01Z; lasts until 2094)
 *   bits 21..17 5-bit datacenter id  } together the 10-bit worker id,
 *   bits 16..12 5-bit machine id     } leased from etcd in a cluster
 *   bits 11..0  12-bit sequence within the ms
 *
 * Clock policy, in order:
 * - a new wall ms starts at sequence 0; within a ms the sequence counts up;
 * - 4096 ids in one ms: borrow the next ms logically (no busy-wait);
 * - wall clock stepped back by ≤ rollbackWaitMsMax: busy-wait it out (bounded);
 * - stepped back further: keep counting from the last timestamp (logical clock);
 * - whenever the last timestamp would run more than logicalDriftMsMax ahead
 *   of the wall clock: throw CLOCK_ROLLBACK. A refusal is loud; a duplicate
 *   id is never an option.
 *
 * Ids are built in two uint32 halves and read back as a bigint through a
 * BigUint64Array view, so issuing an id allocates no intermediate bigints
 * and a batch allocates none at all.
 */
import assert from 'node:assert/strict';
import type { Clock } from './clock.ts';
import { SluiceError } from './errors.ts';

/** Epoch of the timestamp field: 2024-06-01T00:00:00Z in epoch ms. */
export const SNOWFLAKE_EPOCH_MS = Date.UTC(2024, 5, 1);

const SEQUENCE_BITS = 12;
const SEQUENCE_COUNT = 1 << SEQUENCE_BITS;
const MACHINE_BITS = 5;
const ID_PART_MAX = 31;
const WORKER_ID_MAX = 1023;
/** Largest timestamp (ms since the epoch) that fits 41 bits. */
const TIMESTAMP_MAX = 2 ** 41 - 1;
const ID_MAX = (1n << 63n) - 1n;

/** Default `logicalDriftMsMax`: how far a generator's ids may run ahead of the wall clock. */
export const SNOWFLAKE_LOGICAL_DRIFT_MS_DEFAULT = 1000;
/** Upper bound on `rollbackWaitMsMax`: the wait blocks the event loop. */
const ROLLBACK_WAIT_MS_LIMIT = 1000;

// A Uint32Array over a BigUint64Array's buffer sees each 64-bit element as
// two platform-endian words; pick which one holds the low half.
const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;
const LO = LITTLE_ENDIAN ? 0 : 1;
const HI = 1 - LO;

/** What the generator did about the clock, for metrics and logs. */
export const CLOCK_EVENT_KINDS = ['wait', 'logical', 'refused'] as const;
export type ClockEventKind = (typeof CLOCK_EVENT_KINDS)[number];

/**
 * `wait`: a small backward step was busy-waited out. `logical`: a backward
 * step was bridged by counting on from the last timestamp. `refused`: the
 * drift exceeded `logicalDriftMsMax` and CLOCK_ROLLBACK was thrown.
 * Borrowing ms on sequence exhaustion is normal operation and emits nothing.
 */
export interface ClockEvent {
  readonly kind: ClockEventKind;
  /** How far the last issued timestamp was ahead of the wall clock, in ms. */
  readonly driftMs: number;
}

interface SnowflakeCommonOptions {
  readonly clock: Clock;
  /**
   * A backward clock step up to this many ms is busy-waited out (it blocks
   * the event loop for at most this long, so keep it small; ≤ 1000).
   * @default 5
   */
  readonly rollbackWaitMsMax?: number;
  /**
   * How far the logical clock may run ahead of the wall clock (after a
   * larger backward step, or from borrowing ms under load) before ids are
   * refused with CLOCK_ROLLBACK.
   * @default 1000
   */
  readonly logicalDriftMsMax?: number;
  /** Called synchronously on clock trouble, for metrics and logs. Must not throw. */
  readonly onClockEvent?: (event: ClockEvent) => void;
  /**
   * Epoch ms no id may pass (storage/time-ceiling.ts keeps it on disk, ahead
   * of the clock): an id past it is refused NOT_READY, so a restart that
   * issues above the bound written never issues an id twice.
   */
  readonly ceiling?: { readonly ms: number };
}

/** Worker identity: either the two 5-bit halves or the 10-bit worker id leased in a cluster. */
export type SnowflakeOptions = SnowflakeCommonOptions &
  ({ readonly datacenterId: number; readonly machineId: number } | { readonly workerId: number });

/** The fields of a snowflake id. */
export interface SnowflakeParts {
  /** Absolute epoch ms (not relative to SNOWFLAKE_EPOCH_MS). */
  readonly timestampMs: number;
  readonly datacenterId: number;
  readonly machineId: number;
  /** `datacenterId << 5 | machineId`. */
  readonly workerId: number;
  readonly sequence: number;
}

/** Issues strictly increasing 64-bit ids for one worker id. Not shared between threads. */
export class SnowflakeGenerator {
  /** The 10-bit worker id (datacenter << 5 | machine). */
  readonly workerId: number;
  readonly #clock: Clock;
  readonly #rollbackWaitMsMax: number;
  readonly #logicalDriftMsMax: number;
  readonly #onClockEvent: ((event: ClockEvent) => void) | undefined;
  readonly #ceiling: { readonly ms: number } | undefined;
  /** `workerId << 12`: the worker's bits in the low word. */
  readonly #workerBits: number;
  /** Timestamp (ms since the epoch) of the last issued id; -1 before the first. */
  #lastTs = -1;
  /** Sequence of the next id within #lastTs; SEQUENCE_COUNT when that ms is used up (as the -1 "ms" is). */
  #nextSeq = SEQUENCE_COUNT;
  /** Wall reading when the last id was issued: tells a clock step back from running ahead on borrowed ms. */
  #lastWall = -1;
  readonly #one = new BigUint64Array(1);
  readonly #oneWords = new Uint32Array(this.#one.buffer);
  /** The last `out` of nextBatch and its 32-bit view. */
  #batchOut: BigUint64Array = this.#one;
  #batchWords: Uint32Array = this.#oneWords;

  constructor(options: SnowflakeOptions) {
    let workerId: number;
    if ('workerId' in options) {
      assert(!('datacenterId' in options) && !('machineId' in options), 'give workerId or datacenterId+machineId, not both');
      workerId = options.workerId;
      assert(Number.isInteger(workerId) && workerId >= 0 && workerId <= WORKER_ID_MAX, `workerId must be 0..${WORKER_ID_MAX}`);
    } else {
      workerId = SnowflakeGenerator.workerIdOf(options.datacenterId, options.machineId);
    }
    const rollbackWaitMsMax = options.rollbackWaitMsMax ?? 5;
    const logicalDriftMsMax = options.logicalDriftMsMax ?? SNOWFLAKE_LOGICAL_DRIFT_MS_DEFAULT;
    assert(Number.isInteger(rollbackWaitMsMax) && rollbackWaitMsMax >= 0 && rollbackWaitMsMax <= ROLLBACK_WAIT_MS_LIMIT, `rollbackWaitMsMax must be 0..${ROLLBACK_WAIT_MS_LIMIT}`);
    assert(Number.isInteger(logicalDriftMsMax) && logicalDriftMsMax >= 0, 'logicalDriftMsMax must be a non-negative integer');
    this.workerId = workerId;
    this.#workerBits = workerId << SEQUENCE_BITS;
    this.#clock = options.clock;
    this.#rollbackWaitMsMax = rollbackWaitMsMax;
    this.#logicalDriftMsMax = logicalDriftMsMax;
    this.#onClockEvent = options.onClockEvent;
    this.#ceiling = options.ceiling;
  }

  /** The 10-bit worker id of a (datacenter, machine) pair, each 0..31. */
  static workerIdOf(datacenterId: number, machineId: number): number {
    assert(Number.isInteger(datacenterId) && datacenterId >= 0 && datacenterId <= ID_PART_MAX, `datacenterId must be 0..${ID_PART_MAX}`);
    assert(Number.isInteger(machineId) && machineId >= 0 && machineId <= ID_PART_MAX, `machineId must be 0..${ID_PART_MAX}`);
    return (datacenterId << MACHINE_BITS) | machineId;
  }

  /** The next id. Throws SluiceError CLOCK_ROLLBACK when the clock is too far behind. */
  next(): bigint {
    this.#reserve();
    const ts = this.#lastTs;
    const seq = this.#nextSeq++;
    const words = this.#oneWords;
    words[LO] = ((ts & 0x3ff) << 22) | this.#workerBits | seq;
    words[HI] = Math.floor(ts / 1024);
    return this.#one[0]!;
  }

  /**
   * `n` consecutive ids in one call, into `out` (reused by the caller) or a
   * new array. Ids within one ms are contiguous integers. Returns `out`, or
   * its first `n` elements when it is longer. Throws CLOCK_ROLLBACK like
   * `next()`; ids reserved before the throw are skipped, never reissued.
   */
  nextBatch(n: number, out?: BigUint64Array): BigUint64Array {
    assert(Number.isInteger(n) && n >= 0, 'n must be a non-negative integer');
    const dst = out ?? new BigUint64Array(n);
    this.nextInto(n, dst);
    return dst.length === n ? dst : dst.subarray(0, n);
  }

  /** `n` consecutive ids into the first `n` elements of `dst`, as nextBatch, without making a subarray. */
  nextInto(n: number, dst: BigUint64Array): void {
    assert(Number.isInteger(n) && n >= 0, 'n must be a non-negative integer');
    assert(dst.length >= n, 'out is shorter than n');
    const words = this.#wordsOf(dst);
    let i = 0;
    while (i < n) {
      this.#reserve();
      const ts = this.#lastTs;
      const seq = this.#nextSeq;
      const count = Math.min(n - i, SEQUENCE_COUNT - seq);
      const hi = Math.floor(ts / 1024);
      const loBase = ((ts & 0x3ff) << 22) | this.#workerBits | seq;
      for (let j = 0, w = i * 2; j < count; j++, w += 2) {
        words[w + LO] = loBase + j; // no carry: seq + j < 4096
        words[w + HI] = hi;
      }
      this.#nextSeq = seq + count;
      i += count;
    }
  }

  /** 32-bit halves of `dst`; the view of a reused `out` is kept: making one costs more than filling a small batch. */
  #wordsOf(dst: BigUint64Array): Uint32Array {
    if (dst !== this.#batchOut) {
      this.#batchOut = dst;
      this.#batchWords = new Uint32Array(dst.buffer, dst.byteOffset, dst.length * 2);
    }
    return this.#batchWords;
  }

  /**
   * The last id this generator issued or observed, 0n before any: what a
   * generator under another worker id must `observe` to stay above it.
   * Issues nothing, so it cannot fail on the clock (next() may throw
   * CLOCK_ROLLBACK).
   */
  lastIssued(): bigint {
    // Sequence 0 next means nothing was issued in #lastTs: the last slot is the end of the ms before.
    const ts = this.#nextSeq > 0 ? this.#lastTs : this.#lastTs - 1;
    const seq = this.#nextSeq > 0 ? this.#nextSeq - 1 : SEQUENCE_COUNT - 1;
    if (ts < 0) return 0n;
    const words = this.#oneWords;
    words[LO] = ((ts & 0x3ff) << 22) | this.#workerBits | seq;
    words[HI] = Math.floor(ts / 1024);
    return this.#one[0]!;
  }

  /**
   * Never issue an id ≤ `id` from now on. After WAL recovery the node calls
   * this with the largest id in its WAL, so a clock that went backwards while
   * the node was down cannot make it reissue ids (it issues logically ahead,
   * or refuses when that is more than logicalDriftMsMax ahead).
   */
  observe(id: bigint): void {
    assert(id >= 0n && id <= ID_MAX, 'id out of range');
    this.#one[0] = id;
    const lo = this.#oneWords[LO]!;
    const ts = this.#oneWords[HI]! * 1024 + (lo >>> 22);
    const seq = lo & (SEQUENCE_COUNT - 1);
    if (ts > this.#lastTs || (ts === this.#lastTs && seq >= this.#nextSeq)) {
      this.#lastTs = ts;
      this.#nextSeq = seq + 1;
      // That id was issued when the clock read (at least) ts, so a wall clock
      // now behind it is a backward step: waited out, bridged, or refused.
      this.#lastWall = ts;
    }
  }

  /** Make (#lastTs, #nextSeq) the next free id slot, reading the clock once on the usual path. */
  #reserve(): void {
    const now = this.#wallMs();
    if (now > this.#lastTs) {
      this.#startMs(now);
    } else if (now === this.#lastTs && this.#nextSeq < SEQUENCE_COUNT) {
      this.#lastWall = now;
    } else {
      this.#reserveSlow(now);
    }
  }

  /** The clock stepped back, or this ms is used up, or we are already ahead of the wall clock. */
  #reserveSlow(now: number): void {
    if (now < 0) this.#refuse(this.#lastTs - now, 'the clock reads before the snowflake epoch (2024-06-01Z)');
    let stepped = false;
    if (now < this.#lastWall) {
      const driftMs = this.#lastTs - now;
      if (driftMs <= this.#rollbackWaitMsMax) {
        now = this.#waitUntil(this.#lastTs);
        this.#emit('wait', driftMs);
        if (now > this.#lastTs) {
          this.#startMs(now);
          return;
        }
      }
      stepped = now < this.#lastTs;
    }
    // Logical clock: count on from the last timestamp, borrowing the next ms when it is used up.
    let ts = this.#lastTs;
    let seq = this.#nextSeq;
    if (seq >= SEQUENCE_COUNT) {
      ts += 1;
      seq = 0;
    }
    const driftMs = ts - now;
    if (driftMs > this.#logicalDriftMsMax) {
      this.#refuse(driftMs, `the clock is ${driftMs} ms behind the last issued id (logicalDriftMsMax ${this.#logicalDriftMsMax})`);
    }
    if (ts > TIMESTAMP_MAX) this.#overflow();
    this.#checkCeiling(ts);
    if (stepped) this.#emit('logical', driftMs);
    this.#lastTs = ts;
    this.#nextSeq = seq;
    this.#lastWall = now;
  }

  #startMs(now: number): void {
    if (now > TIMESTAMP_MAX) this.#overflow();
    this.#checkCeiling(now);
    this.#lastTs = now;
    this.#nextSeq = 0;
    this.#lastWall = now;
  }

  /** Busy-wait until the wall clock reaches `ts`, for at most rollbackWaitMsMax of monotonic time. */
  #waitUntil(ts: number): number {
    const deadline = performance.now() + this.#rollbackWaitMsMax;
    let now = this.#wallMs();
    while (now < ts && performance.now() < deadline) now = this.#wallMs();
    return now;
  }

  #wallMs(): number {
    return Math.floor(this.#clock.nowMs()) - SNOWFLAKE_EPOCH_MS;
  }

  #emit(kind: ClockEventKind, driftMs: number): void {
    this.#onClockEvent?.({ kind, driftMs });
  }

  #refuse(driftMs: number, reason: string): never {
    this.#emit('refused', driftMs);
    throw new SluiceError('CLOCK_ROLLBACK', `cannot issue ids: ${reason}`);
  }

  /** NOT_READY when `ts` (ms since the epoch) passes the ceiling written: issued, a restart could issue it again. */
  #checkCeiling(ts: number): void {
    const ceiling = this.#ceiling;
    if (ceiling !== undefined && ts + SNOWFLAKE_EPOCH_MS > ceiling.ms) {
      throw new SluiceError('NOT_READY', `cannot issue ids past the time ceiling written to disk (${ceiling.ms}); is the data dir's disk stalled?`);
    }
  }

  #overflow(): never {
    throw new SluiceError('INTERNAL', 'snowflake timestamp overflow: the clock reads past 2094, beyond 41 bits of ms since 2024-06-01Z');
  }
}

/** The highest id any worker can issue at epoch ms `ms`: a generator that observes it issues only later ms. */
export function snowflakeFloorAt(ms: number): bigint {
  const ts = Math.max(0, Math.floor(ms) - SNOWFLAKE_EPOCH_MS);
  return (BigInt(ts) << 22n) | 0x3fffffn;
}

/** Split an id into its fields. Throws INVALID_ARGUMENT for a value that is not a 63-bit non-negative integer. */
export function snowflakeParts(id: bigint): SnowflakeParts {
  if (id < 0n || id > ID_MAX) throw new SluiceError('INVALID_ARGUMENT', `not a snowflake id: ${id}`);
  const low = Number(id & 0x3fffffn);
  const workerId = low >>> SEQUENCE_BITS;
  return {
    timestampMs: Number(id >> 22n) + SNOWFLAKE_EPOCH_MS,
    datacenterId: workerId >>> MACHINE_BITS,
    machineId: workerId & ID_PART_MAX,
    workerId,
    sequence: low & (SEQUENCE_COUNT - 1),
  };
}

/** The worker id of the big-endian id at `offset` of `buf`, without building a bigint. */
export function workerIdAt(buf: Uint8Array, offset: number): number {
  // The worker bits sit in the low 32-bit word, above the sequence.
  const low = ((buf[offset + 4] as number) << 24) | ((buf[offset + 5] as number) << 16) | ((buf[offset + 6] as number) << 8) | (buf[offset + 7] as number);
  return (low >>> SEQUENCE_BITS) & WORKER_ID_MAX;
}

/** The worker id of an id. */
export function workerIdOfId(id: bigint): number {
  return Number((id >> BigInt(SEQUENCE_BITS)) & BigInt(WORKER_ID_MAX));
}
