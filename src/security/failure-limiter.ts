/**
 * Slows down guessing: an address with more than `perMinuteMax` failed
 * authentications in the current minute is refused (429) until the minute
 * ends, before its token is even checked. The table is bounded: past
 * `addressesMax` addresses the stale windows are dropped.
 */

interface Window {
  startMs: number;
  failures: number;
  /** The throttling of this window has been reported (one audit line per window). */
  reported: boolean;
}

const WINDOW_MS = 60_000;

/** Failed authentications per address, per minute. */
export class FailureLimiter {
  private readonly windows = new Map<string, Window>();
  private readonly perMinuteMax: number;
  private readonly addressesMax: number;

  constructor(perMinuteMax: number, addressesMax = 100_000) {
    this.perMinuteMax = perMinuteMax;
    this.addressesMax = addressesMax;
  }

  /** 'ok'; 'throttled' when the address is over its budget; 'throttled-first' the first time in a window (to report once). */
  check(address: string, nowMs = Date.now()): 'ok' | 'throttled' | 'throttled-first' {
    const w = this.windows.get(address);
    if (w === undefined || nowMs - w.startMs >= WINDOW_MS || w.failures <= this.perMinuteMax) return 'ok';
    if (w.reported) return 'throttled';
    w.reported = true;
    return 'throttled-first';
  }

  /** Counts a failure from `address`. */
  fail(address: string, nowMs = Date.now()): void {
    let w = this.windows.get(address);
    if (w === undefined || nowMs - w.startMs >= WINDOW_MS) {
      if (this.windows.size >= this.addressesMax) this.prune(nowMs);
      w = { startMs: nowMs, failures: 0, reported: false };
      this.windows.set(address, w);
    }
    w.failures++;
  }

  private prune(nowMs: number): void {
    for (const [address, w] of this.windows) if (nowMs - w.startMs >= WINDOW_MS) this.windows.delete(address);
    // Still full (a flood from many addresses in one minute): forget the oldest half rather than grow without bound.
    if (this.windows.size >= this.addressesMax) {
      let drop = Math.floor(this.windows.size / 2);
      for (const address of this.windows.keys()) {
        if (drop-- <= 0) break;
        this.windows.delete(address);
      }
    }
  }
}
