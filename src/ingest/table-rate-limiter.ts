/**
 * Per-table rate limits on the write path: one token bucket of records and
 * one of bytes per limited table, on this node (core/token-bucket.ts).
 *
 * In a cluster every node takes writes, so each node enforces the table's
 * rate divided by the number of registered nodes, and the whole burst:
 * Loki's `global` strategy (docs/decisions/0024-table-rate-limits.md). The
 * share is read on each request, so a node joining or leaving changes every
 * node's part at once.
 *
 * Request/response sources are refused (`take`): RATE_LIMITED with the
 * time until this request would fit, or RATE_LIMIT_BURST_EXCEEDED when it
 * never can. Streaming sources wait (`reserve`): they take their tokens in
 * arrival order, into debt if need be, and sleep the debt off.
 */
import { SluiceError } from '../core/errors.ts';
import { TokenBucket } from '../core/token-bucket.ts';
import { effectiveLimits, type EffectiveLimits, type TableLimits } from '../core/schema/table-limits.ts';
import type { TableEntry } from '../storage/catalog.ts';

/** Why a write was refused by a table's rate limits (a metric label). */
export type RateRefusal = 'records_rate' | 'bytes_rate' | 'records_burst' | 'bytes_burst';

/** What the limiter needs from the node. */
export interface RateLimiterOptions {
  /** Nodes sharing each table's rate: 1 on a single node, the registered nodes of a cluster. */
  readonly share: () => number;
  /** The node's event-time bound for tables that set none, ms. */
  readonly eventTimeAheadMsMax: number;
  /** Wall-clock ms (tests pass a fake one). @default Date.now */
  readonly clock?: () => number;
  readonly onRefused?: (table: string, reason: RateRefusal) => void;
}

/** A waiting source's tokens, taken from the bucket it took them from: paid once the bucket's refills reach the mark. */
interface Turn {
  readonly bucket: TokenBucket;
  readonly mark: number;
}

/** What a waiting source took (`reserveTurn`), to ask how long until it is paid (`remainingMs`). */
export interface RateReservation {
  readonly records?: Turn;
  readonly bytes?: Turn;
}

/** The buckets of one table, and the limits and share they were built from. */
interface TableBuckets {
  readonly limits: TableLimits | undefined;
  readonly share: number;
  readonly records: TokenBucket | undefined;
  readonly bytes: TokenBucket | undefined;
}

/** Token buckets of every limited table of this node. */
export class TableRateLimiter {
  private readonly options: RateLimiterOptions;
  private readonly clock: () => number;
  private readonly tables = new Map<number, TableBuckets>();
  /** Effective limits by the stored limits object: computed once per change, not per request. */
  private readonly effective = new WeakMap<TableLimits, EffectiveLimits>();
  private readonly defaults: EffectiveLimits;

  constructor(options: RateLimiterOptions) {
    this.options = options;
    this.clock = options.clock ?? Date.now;
    this.defaults = effectiveLimits(undefined, options.eventTimeAheadMsMax);
  }

  /** The limits that apply to `entry` (defaults filled in). */
  limitsOf(entry: TableEntry): EffectiveLimits {
    const stored = entry.limits;
    if (stored === undefined) return this.defaults;
    let e = this.effective.get(stored);
    if (e === undefined) {
      e = effectiveLimits(stored, this.options.eventTimeAheadMsMax);
      this.effective.set(stored, e);
    }
    return e;
  }

  /**
   * Before decoding: refuses a body whose bytes cannot fit now (or ever),
   * taking nothing, so an over-limit client costs no decode work.
   */
  precheckBytes(entry: TableEntry, bytes: number): void {
    const b = this.bucketsOf(entry)?.bytes;
    if (b === undefined) return;
    const wait = b.waitMs(bytes, this.clock());
    if (wait > 0) throw this.refusal(entry, wait === Number.POSITIVE_INFINITY ? 'bytes_burst' : 'bytes_rate', bytes, b, wait);
  }

  /** Takes `records` and `bytes` tokens together, or none: throws RATE_LIMITED or RATE_LIMIT_BURST_EXCEEDED. */
  take(entry: TableEntry, records: number, bytes: number): void {
    const buckets = this.bucketsOf(entry);
    if (buckets === undefined) return;
    const now = this.clock();
    const r = buckets.records?.waitMs(records, now) ?? 0;
    const b = buckets.bytes?.waitMs(bytes, now) ?? 0;
    if (r === Number.POSITIVE_INFINITY) throw this.refusal(entry, 'records_burst', records, buckets.records as TokenBucket, r);
    if (b === Number.POSITIVE_INFINITY) throw this.refusal(entry, 'bytes_burst', bytes, buckets.bytes as TokenBucket, b);
    if (r > 0 || b > 0) {
      // The longer wait is the one the client must sit out; both buckets are named by the larger.
      throw r >= b ? this.refusal(entry, 'records_rate', records, buckets.records as TokenBucket, Math.max(r, b)) : this.refusal(entry, 'bytes_rate', bytes, buckets.bytes as TokenBucket, b);
    }
    buckets.records?.tryTake(records, now);
    buckets.bytes?.tryTake(bytes, now);
  }

  /** Takes the tokens now, into debt if need be; returns the ms the caller must wait before writing (0: at once). */
  reserve(entry: TableEntry, records: number, bytes: number): number {
    return this.remainingMs(entry, this.reserveTurn(entry, records, bytes));
  }

  /** `reserve`, returning what was taken: a waiting source asks `remainingMs` again as it waits. */
  reserveTurn(entry: TableEntry, records: number, bytes: number): RateReservation {
    const buckets = this.bucketsOf(entry);
    if (buckets === undefined) return {};
    const now = this.clock();
    return {
      ...(buckets.records === undefined ? {} : { records: { bucket: buckets.records, mark: buckets.records.reserveMark(records, now) } }),
      ...(buckets.bytes === undefined ? {} : { bytes: { bucket: buckets.bytes, mark: buckets.bytes.reserveMark(bytes, now) } }),
    };
  }

  /**
   * Ms until `reservation` is paid under `entry`'s present limits (0: now).
   * A raised rate shortens the wait; a limit removed (or made anew, with a
   * full bucket) owes nothing.
   */
  remainingMs(entry: TableEntry, reservation: RateReservation): number {
    const buckets = this.bucketsOf(entry);
    const now = this.clock();
    const owed = (current: TokenBucket | undefined, turn: Turn | undefined): number => (turn === undefined || current !== turn.bucket ? 0 : turn.bucket.msUntil(turn.mark, now));
    return Math.max(owed(buckets?.records, reservation.records), owed(buckets?.bytes, reservation.bytes));
  }

  /** The table's buckets, rebuilt when its limits or the share changed; undefined when it has no rate limit. */
  private bucketsOf(entry: TableEntry): TableBuckets | undefined {
    const limits = entry.limits;
    if (limits === undefined || (limits.recordsPerSecond === undefined && limits.bytesPerSecond === undefined)) {
      if (this.tables.size > 0) this.tables.delete(entry.id);
      return undefined;
    }
    const share = Math.max(1, this.options.share());
    const held = this.tables.get(entry.id);
    if (held !== undefined && held.limits === limits && held.share === share) return held;
    const e = this.limitsOf(entry);
    const now = this.clock();
    const next: TableBuckets = {
      limits,
      share,
      records: e.records === undefined ? undefined : bucket(held?.records, e.records.perSecond / share, e.records.burst, now),
      bytes: e.bytes === undefined ? undefined : bucket(held?.bytes, e.bytes.perSecond / share, e.bytes.burst, now),
    };
    this.tables.set(entry.id, next);
    return next;
  }

  private refusal(entry: TableEntry, reason: RateRefusal, amount: number, b: TokenBucket, waitMs: number): SluiceError {
    this.options.onRefused?.(entry.name, reason);
    const unit = reason.startsWith('records') ? 'records' : 'bytes';
    const setting = `${unit}PerSecond`;
    const limit = `${round(b.ratePerSecond)} ${unit}/s on this node${this.options.share() > 1 ? ` (the table's ${setting} shared by ${Math.max(1, this.options.share())} nodes)` : ''}, burst ${b.burst}`;
    if (waitMs === Number.POSITIVE_INFINITY) {
      return new SluiceError(
        'RATE_LIMIT_BURST_EXCEEDED',
        `this request has ${amount} ${unit}, more than table ${entry.name}'s ${unit}Burst (${b.burst}): it can never fit; send smaller requests or raise the burst (PATCH /v1/tables/${entry.name}); nothing was written`,
        [{ path: `/limits/${unit}Burst`, message: `${amount} > ${b.burst}` }],
      );
    }
    return new SluiceError(
      'RATE_LIMITED',
      `table ${entry.name} is limited to ${limit}: this request of ${amount} ${unit} fits in ${(waitMs / 1000).toFixed(3)} s; nothing was written`,
      [{ path: `/limits/${setting}`, message: limit }],
      { retryAfterMs: waitMs },
    );
  }
}

/** A bucket at the new rate and burst: the old one reconfigured (its tokens kept), or a new, full one. */
function bucket(old: TokenBucket | undefined, ratePerSecond: number, burst: number, nowMs: number): TokenBucket {
  if (old === undefined) return new TokenBucket(ratePerSecond, burst, nowMs);
  old.reconfigure(ratePerSecond, burst, nowMs);
  return old;
}

function round(n: number): string {
  return Number.isInteger(n) ? String(n) : n.toPrecision(4);
}
