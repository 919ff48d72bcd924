/**
 * Hybrid logical clock (Kulkarni et al., "Logical Physical Clocks", 2014):
 * the version that orders writes to one primary key (last-writer-wins,
 * DESIGN §3). A version is a 64-bit unsigned integer
 *
 *   bits 63..16  48-bit physical time, epoch ms (lasts until year 10889)
 *   bits 15..0   16-bit logical counter
 *
 * so versions compare as plain integers. Seen that way, the HLC rules reduce
 * to one line each:
 *   send/local event:  v = max(last + 1, wall << 16)
 *   receive(remote):   v = max(last + 1, remote + 1, wall << 16)
 * A logical counter that passes 0xffff carries into the physical part (the
 * clock runs a ms ahead of the wall), which is what makes `nowBatch` free:
 * n consecutive integers are n valid, increasing versions.
 *
 * State is kept as two numbers (physical ms, counter) rather than a bigint so
 * the hot path allocates only the returned bigint.
 */
import assert from 'node:assert/strict';
import type { Clock } from './clock.ts';
import { SluiceError } from './errors.ts';

/** Width of the logical counter. */
export const HLC_LOGICAL_BITS = 16;
const LOGICAL_COUNT = 1 << HLC_LOGICAL_BITS;
const PHYSICAL_MAX = 2 ** 48 - 1;
const VERSION_MAX = (1n << 64n) - 1n;
/**
 * Default `maxOffsetMs`: what config.ts's `hlcRemoteAheadMsMax` makes of the
 * default `maxClockOffsetMs` (500 ms), which config.ts asserts. A node
 * passes its configured bound; this default serves tests and tools.
 */
export const HLC_MAX_OFFSET_MS_DEFAULT = 1_600;
/** Largest `nowBatch`: 16 ms worth of counter, so one batch moves the clock at most 16 ms ahead. */
const BATCH_MAX = 1 << 20;

const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;
const LO = LITTLE_ENDIAN ? 0 : 1;
const HI = 1 - LO;

export interface HlcOptions {
  /**
   * `update()` refuses a remote version whose physical time is more than
   * this many ms ahead of the local wall clock (CLOCK_SKEW): accepting it
   * would drag every later local version that far into the future, where it
   * beats later writes of correct clocks. A node derives it from
   * `maxClockOffsetMs` (config.ts `hlcRemoteAheadMsMax`, decision 0052).
   * @default HLC_MAX_OFFSET_MS_DEFAULT (1_600)
   */
  readonly maxOffsetMs?: number;
  /** Told of each refused remote version, how far ahead of the wall clock it was (metrics, logs). */
  readonly onRefused?: (aheadMs: number, maxOffsetMs: number) => void;
}

/** The fields of an HLC version. */
export interface HlcParts {
  /** Epoch ms. */
  readonly physicalMs: number;
  readonly logical: number;
}

/** A hybrid logical clock issuing strictly increasing 64-bit versions. */
export class Hlc {
  readonly #clock: Clock;
  readonly #maxOffsetMs: number;
  readonly #onRefused: ((aheadMs: number, maxOffsetMs: number) => void) | undefined;
  /** Physical part of the last issued version. */
  #pt = 0;
  /** Logical part of the last issued version. */
  #lc = 0;
  readonly #one = new BigUint64Array(1);
  readonly #words = new Uint32Array(this.#one.buffer);

  constructor(clock: Clock, options: HlcOptions = {}) {
    const maxOffsetMs = options.maxOffsetMs ?? HLC_MAX_OFFSET_MS_DEFAULT;
    assert(Number.isInteger(maxOffsetMs) && maxOffsetMs >= 0, 'maxOffsetMs must be a non-negative integer');
    this.#clock = clock;
    this.#maxOffsetMs = maxOffsetMs;
    this.#onRefused = options.onRefused;
  }

  /** A version greater than every version this clock issued or received. */
  now(): bigint {
    return this.nowBatch(1);
  }

  /**
   * Reserve `n` consecutive versions (1 ≤ n ≤ 2^20) and return the first;
   * version i of the batch is `first + BigInt(i)`.
   */
  nowBatch(n: number): bigint {
    assert(Number.isInteger(n) && n >= 1 && n <= BATCH_MAX, `n must be 1..${BATCH_MAX}`);
    const wall = Math.floor(this.#clock.nowMs());
    let pt = this.#pt;
    let lc = this.#lc + 1;
    if (wall > pt) {
      pt = wall;
      lc = 0;
    } else if (lc === LOGICAL_COUNT) {
      pt += 1;
      lc = 0;
    }
    const first = this.#encode(pt, lc);
    this.#setLast(pt, lc + n - 1);
    return first;
  }

  /**
   * Merge a version received from a peer; returns a local version greater
   * than both it and everything issued before. Throws CLOCK_SKEW (state
   * unchanged) when the remote is more than maxOffsetMs ahead of the wall
   * clock, INVALID_ARGUMENT when it is not a uint64.
   */
  update(remote: bigint): bigint {
    if (remote < 0n || remote > VERSION_MAX) throw new SluiceError('INVALID_ARGUMENT', `not an HLC version: ${remote}`);
    this.#one[0] = remote;
    const rLo = this.#words[LO]!;
    const rPt = this.#words[HI]! * LOGICAL_COUNT + (rLo >>> HLC_LOGICAL_BITS);
    const rLc = rLo & (LOGICAL_COUNT - 1);
    const wall = Math.floor(this.#clock.nowMs());
    if (rPt - wall > this.#maxOffsetMs) throw this.#refuse(rPt - wall);
    let pt = this.#pt;
    let lc = this.#lc;
    if (rPt > pt || (rPt === pt && rLc > lc)) {
      pt = rPt;
      lc = rLc;
    }
    lc += 1;
    if (wall > pt) {
      pt = wall;
      lc = 0;
    }
    this.#setLast(pt, lc);
    return this.#encode(this.#pt, this.#lc);
  }

  /**
   * Never issue a version ≤ `version` from now on. For a floor the node
   * stored itself (a restart after the clock went back), so unlike
   * `update()` it is taken however far ahead of the wall clock it is.
   */
  observe(version: bigint): void {
    if (version < 0n || version > VERSION_MAX) throw new SluiceError('INVALID_ARGUMENT', `not an HLC version: ${version}`);
    this.#one[0] = version;
    const lo = this.#words[LO]!;
    const pt = this.#words[HI]! * LOGICAL_COUNT + (lo >>> HLC_LOGICAL_BITS);
    const lc = lo & (LOGICAL_COUNT - 1);
    if (pt > this.#pt || (pt === this.#pt && lc > this.#lc)) this.#setLast(pt, lc);
  }

  /** Bound on how far ahead of the wall clock `update()` takes a remote version, ms. */
  get maxOffsetMs(): number {
    return this.#maxOffsetMs;
  }

  /** The CLOCK_SKEW refusal of a remote version `aheadMs` ahead; tells `onRefused` first. */
  #refuse(aheadMs: number): SluiceError {
    this.#onRefused?.(aheadMs, this.#maxOffsetMs);
    const message = `a version from another node is ${aheadMs} ms ahead of this node's clock, past the ${this.#maxOffsetMs} ms allowed (--max-clock-offset-ms plus an HLC's own lead): one of the two clocks is off; check NTP on both`;
    return new SluiceError('CLOCK_SKEW', message, [{ code: 'REMOTE_VERSION_AHEAD', message: `aheadMs=${aheadMs} maxOffsetMs=${this.#maxOffsetMs}` }]);
  }

  /** Record (pt, lc) as the last issued version, carrying an overflowing counter into pt. */
  #setLast(pt: number, lc: number): void {
    if (lc >= LOGICAL_COUNT) {
      pt += Math.floor(lc / LOGICAL_COUNT);
      lc %= LOGICAL_COUNT;
    }
    if (pt > PHYSICAL_MAX) throw new SluiceError('INTERNAL', 'HLC physical time overflow: the clock reads past 48 bits of ms');
    this.#pt = pt;
    this.#lc = lc;
  }

  #encode(pt: number, lc: number): bigint {
    // pt < 2^48: the high word is pt / 2^16; the low word is pt's low 16 bits above the counter.
    this.#words[HI] = Math.floor(pt / LOGICAL_COUNT);
    this.#words[LO] = ((pt & (LOGICAL_COUNT - 1)) << HLC_LOGICAL_BITS) | lc;
    return this.#one[0]!;
  }
}

/** Split a version into physical ms and logical counter. */
export function hlcParts(version: bigint): HlcParts {
  return { physicalMs: Number(version >> 16n), logical: Number(version & 0xffffn) };
}

/** The version with the given parts (physicalMs < 2^48, logical < 2^16). */
export function hlcFromParts(physicalMs: number, logical: number): bigint {
  assert(Number.isInteger(physicalMs) && physicalMs >= 0 && physicalMs <= PHYSICAL_MAX, 'physicalMs out of range');
  assert(Number.isInteger(logical) && logical >= 0 && logical < LOGICAL_COUNT, 'logical out of range');
  return (BigInt(physicalMs) << 16n) | BigInt(logical);
}
