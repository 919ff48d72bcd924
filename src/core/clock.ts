/**
 * The one source of wall-clock time. Everything time-dependent (ids, HLC
 * versions, flush ages, lease expiry) takes a `Clock` instead of calling
 * `Date.now()`, so tests can step time forwards and backwards on purpose.
 */

/** A wall clock in epoch milliseconds. It may jump backwards (NTP steps, VM pauses). */
export interface Clock {
  /** Milliseconds since 1970-01-01T00:00:00Z. */
  nowMs(): number;
}

/** The process wall clock (`Date.now`). */
export const systemClock: Clock = {
  nowMs: () => Date.now(),
};

/**
 * A clock that only moves when told to. For tests and simulations; it is a
 * real `Clock`, not a mock, so code under test cannot tell the difference.
 */
export class ManualClock implements Clock {
  #ms: number;

  constructor(startMs: number) {
    this.#ms = startMs;
  }

  /** The current reading. */
  nowMs(): number {
    return this.#ms;
  }

  /** Set the reading (may go backwards). */
  set(ms: number): void {
    this.#ms = ms;
  }

  /** Move the reading by `deltaMs` (negative steps backwards). */
  advance(deltaMs: number): void {
    this.#ms += deltaMs;
  }
}
