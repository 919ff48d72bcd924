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
    return new Ticket(this, bytes);
  }

  /** Ticket's: `more` bytes for a holder of `held`, if they fit. */
  grant(more: number, held: number): boolean {
    if (!this.fits(more, held)) return false;
    this.bytesInFlight += more;
    return true;
  }

  /** Ticket's: `bytes` given back. */
  giveBack(bytes: number): void {
    this.bytesInFlight -= bytes;
  }

  /** Ticket's: a request and its `held` bytes gone. */
  leave(held: number): void {
    this.requestsInFlight--;
    this.bytesInFlight -= held;
  }

  /** True if `bytes` more fit, or if nobody but the asker (holding `own`) holds any. */
  private fits(bytes: number, own = 0): boolean {
    return this.bytesInFlight - own === 0 || this.bytesInFlight + bytes <= this.options.inFlightBytesMax;
  }
}

/** One admitted request's hold (a class, not closures: one is made per request). */
class Ticket implements AdmissionTicket {
  readonly #admission: Admission;
  #held: number;
  #released = false;

  constructor(admission: Admission, bytes: number) {
    this.#admission = admission;
    this.#held = bytes;
  }

  get bytes(): number {
    return this.#held;
  }

  grow(more: number): boolean {
    if (this.#released || !this.#admission.grant(more, this.#held)) return false;
    this.#held += more;
    return true;
  }

  shrink(less: number): void {
    if (this.#released) return;
    const freed = Math.min(Math.max(0, less), this.#held);
    this.#held -= freed;
    this.#admission.giveBack(freed);
  }

  release(): void {
    if (this.#released) return;
    this.#released = true;
    this.#admission.leave(this.#held);
  }
}
