/**
 * A token bucket (the limiter of Loki's and Mimir's distributors, and of
 * golang.org/x/time/rate): tokens accrue at `ratePerSecond` up to `burst`;
 * taking n tokens needs n in the bucket. Pure: the caller passes the time,
 * so tests drive it with a fake clock.
 *
 * Invariants:
 * - tokens <= burst, always; tokens < 0 only after `reserve` (a waiting
 *   source took tokens ahead, and pays them back before anyone else gets any).
 * - `tryTake` never leaves the bucket below zero and takes nothing when it refuses.
 * - time going backwards (a clock step) adds no tokens.
 */

/** The outcome of `tryTake`: taken, or how long until the same request would fit. */
export type TakeResult = { readonly ok: true } | { readonly ok: false; readonly retryAfterMs: number };

/** One rate and burst, refilled lazily on each call. */
export class TokenBucket {
  private rate: number;
  private burstValue: number;
  private tokens: number;
  private lastMs: number;
  /** Tokens refills have added since the bucket was made: a reservation is paid once this reaches its mark, at whatever rate. */
  private credited = 0;

  /** A full bucket at `nowMs`: a new limit starts with its whole burst, as Loki's does. */
  constructor(ratePerSecond: number, burst: number, nowMs: number) {
    assertLimit(ratePerSecond, burst);
    this.rate = ratePerSecond;
    this.burstValue = burst;
    this.tokens = burst;
    this.lastMs = nowMs;
  }

  /** Largest number of tokens the bucket holds. */
  get burst(): number {
    return this.burstValue;
  }

  /** Tokens per second. */
  get ratePerSecond(): number {
    return this.rate;
  }

  /** Tokens in the bucket at `nowMs` (negative while a reservation is being paid back). */
  available(nowMs: number): number {
    this.refill(nowMs);
    return this.tokens;
  }

  /** Takes `n` tokens if the bucket holds them; otherwise takes nothing and says how long until it would. */
  tryTake(n: number, nowMs: number): TakeResult {
    const wait = this.waitMs(n, nowMs);
    if (wait > 0) return { ok: false, retryAfterMs: wait };
    this.tokens -= n;
    return { ok: true };
  }

  /**
   * Ms until `n` tokens are in the bucket (0: now); Infinity when `n` is
   * more than the burst: such a request can never fit.
   */
  waitMs(n: number, nowMs: number): number {
    if (n > this.burstValue) return Number.POSITIVE_INFINITY;
    this.refill(nowMs);
    if (this.tokens >= n) return 0;
    return Math.ceil(((n - this.tokens) * 1000) / this.rate);
  }

  /**
   * Takes `n` tokens now, going into debt if needed, and returns how long
   * the caller must wait before using them (0: at once). For sources that
   * wait instead of failing: reservations queue in arrival order, and `n`
   * past the burst is allowed (it waits for a full bucket's worth and more).
   */
  reserve(n: number, nowMs: number): number {
    return this.msUntil(this.reserveMark(n, nowMs), nowMs);
  }

  /**
   * `reserve`, returning the reservation's mark instead of its wait: it is
   * paid once the refills reach the mark (`msUntil`), so a rate raised
   * while it waits shortens the wait.
   */
  reserveMark(n: number, nowMs: number): number {
    this.refill(nowMs);
    this.tokens -= n;
    return this.credited + Math.max(0, -this.tokens);
  }

  /** Ms until the refills reach `mark` (a `reserveMark`), at the present rate (0: reached). */
  msUntil(mark: number, nowMs: number): number {
    this.refill(nowMs);
    const owed = mark - this.credited;
    return owed <= 0 ? 0 : Math.ceil((owed * 1000) / this.rate);
  }

  /** Changes the rate and burst, keeping the tokens held (capped at the new burst). */
  reconfigure(ratePerSecond: number, burst: number, nowMs: number): void {
    assertLimit(ratePerSecond, burst);
    this.refill(nowMs);
    this.rate = ratePerSecond;
    this.burstValue = burst;
    this.tokens = Math.min(this.tokens, burst);
  }

  private refill(nowMs: number): void {
    const elapsedMs = nowMs - this.lastMs;
    if (elapsedMs <= 0) return;
    this.lastMs = nowMs;
    const next = Math.min(this.burstValue, this.tokens + (elapsedMs * this.rate) / 1000);
    if (next > this.tokens) this.credited += next - this.tokens;
    this.tokens = next;
  }
}

function assertLimit(ratePerSecond: number, burst: number): void {
  // Programmer errors: the table settings are checked before they reach a bucket.
  if (!(Number.isFinite(ratePerSecond) && ratePerSecond > 0)) throw new Error(`token bucket rate must be a positive number, got ${ratePerSecond}`);
  if (!(Number.isFinite(burst) && burst > 0)) throw new Error(`token bucket burst must be a positive number, got ${burst}`);
}
