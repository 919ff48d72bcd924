/**
 * Admission control: a bound on request bytes and requests in flight on the
 * write path (reading, decoding, waiting for the WAL and the index). Past
 * the bound a write is refused at once with 429 instead of queueing, so
 * memory stays bounded under any load.
 */

/** What one admitted request holds; release it exactly once (extra calls are no-ops). */
export interface AdmissionTicket {
  /** Adds bytes read so far; false (and nothing added) if that would pass the bound. */
  grow(bytes: number): boolean;
  readonly bytes: number;
  /** Gives back `bytes` of what is held (at most all of it): a request whose working set shrank. */
  shrink(bytes: number): void;
  release(): void;
}

/** Options of admission control. */
export interface AdmissionOptions {
  readonly inFlightBytesMax: number;
  readonly inFlightRequestsMax: number;
}

/** A counting semaphore over bytes and requests. */
export class Admission {
  private bytesInFlight = 0;
  private requestsInFlight = 0;
  private readonly options: AdmissionOptions;

  constructor(options: AdmissionOptions) {
    this.options = options;
  }

  get inFlightBytes(): number {
    return this.bytesInFlight;
  }

  get inFlightRequests(): number {
    return this.requestsInFlight;
  }

  /**
   * Admits a request expecting `bytes` (0 if unknown), or returns undefined.
   * A request is admitted when nothing else is in flight even if it alone
   * passes the byte bound, so one large body can never starve.
   */
  tryAcquire(bytes: number): AdmissionTicket | undefined {
    if (this.requestsInFlight >= this.options.inFlightRequestsMax) return undefined;
    if (!this.fits(bytes)) return undefined;
    this.requestsInFlight++;
    this.bytesInFlight += bytes;
    let held = bytes;
    let released = false;
    return {
      grow: (more: number): boolean => {
        if (released) return false;
        if (!this.fits(more, held)) return false;
        held += more;
        this.bytesInFlight += more;
        return true;
      },
      get bytes() {
        return held;
      },
      shrink: (less: number): void => {
        if (released) return;
        const freed = Math.min(Math.max(0, less), held);
        held -= freed;
        this.bytesInFlight -= freed;
      },
      release: (): void => {
        if (released) return;
        released = true;
        this.requestsInFlight--;
        this.bytesInFlight -= held;
      },
    };
  }

  /** True if `bytes` more fit, or if nobody but the asker (holding `own`) holds any. */
  private fits(bytes: number, own = 0): boolean {
    return this.bytesInFlight - own === 0 || this.bytesInFlight + bytes <= this.options.inFlightBytesMax;
  }
}
