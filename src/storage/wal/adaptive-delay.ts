/**
 * The flush delay of the adaptive group-commit mode, derived from the recent
 * append rate and always clamped to a configured range.
 *
 * Under a high append rate, waiting a little before a flush gathers more
 * frames per fdatasync (fewer IOPS, more throughput) at a small latency
 * cost. ClickHouse's adaptive insert timeout "drifts to extremes"
 * (ClickHouse#102232), so the delay here is never outside
 * [delayMsMin, delayMsMax], is 0 when the rate is too low to gather a batch
 * (a lone write is never held back), and is exposed for metrics.
 */

/**
 * Smoothing time constant of the rate estimate: long enough to ignore one
 * burst, short enough that a second of idleness brings the delay back to 0.
 */
const RATE_TIME_CONSTANT_MS = 1000;
/** Waiting only pays off if at least this many frames are expected during the longest wait. */
const FRAMES_WORTH_WAITING_FOR = 2;

export interface AdaptiveDelayOptions {
  readonly delayMsMin: number;
  readonly delayMsMax: number;
  /** Bytes one flush aims for: the delay is the time the current rate takes to buffer them. */
  readonly flushBytesMax: number;
}

export class AdaptiveDelay {
  readonly #options: AdaptiveDelayOptions;
  /** Exponentially decayed counters: frames and bytes per ms, as of `#lastMs`. */
  #framesPerMs = 0;
  #bytesPerMs = 0;
  #lastMs: number | undefined;

  constructor(options: AdaptiveDelayOptions) {
    this.#options = options;
  }

  /**
   * Records frames and bytes handed to a flush at `nowMs` (monotonic ms).
   * Each observation adds `count / τ` to a rate that decays with e^(-Δt/τ),
   * which converges to the true rate without dividing by tiny intervals.
   */
  observe(frames: number, bytes: number, nowMs: number): void {
    const decay = this.#decay(nowMs);
    this.#framesPerMs = this.#framesPerMs * decay + frames / RATE_TIME_CONSTANT_MS;
    this.#bytesPerMs = this.#bytesPerMs * decay + bytes / RATE_TIME_CONSTANT_MS;
    this.#lastMs = nowMs;
  }

  /** Estimated append rate in frames per second at `nowMs`. */
  framesPerSecond(nowMs: number): number {
    return this.#framesPerMs * this.#decay(nowMs) * 1000;
  }

  /** How long the oldest buffered frame may wait before a flush, in ms. */
  delayMs(nowMs: number): number {
    const { delayMsMin, delayMsMax, flushBytesMax } = this.#options;
    const decay = this.#decay(nowMs);
    const framesPerMs = this.#framesPerMs * decay;
    if (framesPerMs * delayMsMax < FRAMES_WORTH_WAITING_FOR) return 0;
    const fillMs = flushBytesMax / (this.#bytesPerMs * decay);
    return Math.min(delayMsMax, Math.max(delayMsMin, fillMs));
  }

  #decay(nowMs: number): number {
    if (this.#lastMs === undefined) return 0;
    return Math.exp(-Math.max(0, nowMs - this.#lastMs) / RATE_TIME_CONSTANT_MS);
  }
}
