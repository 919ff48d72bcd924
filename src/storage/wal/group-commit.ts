/**
 * Group commit: assigns LSNs, buffers encoded frames and decides when to
 * hand them to the sink (one write + one fdatasync per flush).
 *
 * Flush policy (DESIGN §2), at most one flush in flight:
 * - bytes: buffered bytes >= flushBytesMax flushes at once (no waiting);
 * - idle: with no flush running, frames flush on the next setImmediate, so
 *   appends of the same tick share one fsync and a lone write is not held
 *   back. Frames that arrive during a flush go, all together, into the next
 *   one, started as soon as the running one ends (in the same turn, so its
 *   fdatasync overlaps the answers to the writers of the one that ended):
 *   splitting them would only add fsyncs, and their latency, when the disk
 *   is the bottleneck;
 * - adaptive (optional): under a high append rate the oldest frame waits
 *   AdaptiveDelay's clamped delay to gather a bigger batch, in steps of
 *   adaptiveDelayMsMin; a step with no new frame flushes at once;
 * - age: no buffered frame waits for us more than flushDelayMsMax (the wait
 *   for a running fdatasync is the disk's latency, not ours).
 *
 * Invariants: LSNs are assigned synchronously in call order and are dense;
 * promises resolve strictly in LSN order; a failed flush rejects every frame
 * not yet durable and rewinds the next LSN to the last durable one + 1, so no
 * LSN is ever skipped.
 */
import assert from 'node:assert/strict';
import { SluiceError } from '../../core/errors.ts';
import { AdaptiveDelay } from './adaptive-delay.ts';
import { encodeFrameInto, frameBytes } from './frame-v1.ts';

/** Where flushed frames go: the segment writer. */
export interface FrameSink {
  /**
   * Writes `bytes` (whole frames, the i-th ending at `frameEnds[i]`, the
   * first with LSN `firstLsn`) and makes them durable. Calls `onDurable(n)`
   * after each fdatasync covering the next n frames. Throws a SluiceError:
   * DISK_FULL (nothing partial was left, the sink stays usable) or WAL_IO.
   */
  write(bytes: Buffer, frameEnds: readonly number[], firstLsn: bigint, onDurable: (frames: number) => void): Promise<void>;
}

/** How the flush delay is chosen. */
export type FlushMode = 'idle' | 'adaptive';

export interface GroupCommitOptions {
  readonly flushMode: FlushMode;
  readonly flushBytesMax: number;
  readonly flushDelayMsMax: number;
  readonly adaptiveDelayMsMin: number;
  readonly adaptiveDelayMsMax: number;
  readonly frameBytesMax: number;
  readonly pendingBytesMax: number;
  /** A flushed batch's arena at most this big is reused by a later batch (wal-options.ts). */
  readonly arenaKeptBytesMax: number;
}

/** Lifecycle states. */
const State = { open: 'open', closing: 'closing', closed: 'closed', failed: 'failed' } as const;
type State = (typeof State)[keyof typeof State];

interface Settler {
  readonly resolve: (lsn: bigint) => void;
  readonly reject: (err: SluiceError) => void;
}

/** Frames buffered for one flush, encoded back to back into one arena buffer. */
interface Batch {
  arena: Buffer;
  bytes: number;
  readonly frameEnds: number[];
  readonly settlers: Settler[];
  firstLsn: bigint;
  firstAtMs: number;
}

export class GroupCommit {
  readonly #sink: FrameSink;
  readonly #options: GroupCommitOptions;
  readonly #adaptive: AdaptiveDelay | undefined;
  #nextLsn: bigint;
  #pending: Batch;
  #spareArena: Buffer | undefined;
  #inFlight: Promise<void> | undefined;
  #inFlightBytes = 0;
  #timer:
    | { readonly kind: 'immediate'; readonly handle: NodeJS.Immediate }
    | { readonly kind: 'timeout'; readonly handle: NodeJS.Timeout }
    | undefined;
  /** Frames buffered when the current adaptive wait step began. */
  #framesAtStep = 0;
  #state: State = State.open;
  #failure: SluiceError | undefined;
  #closing: Promise<void> | undefined;

  constructor(sink: FrameSink, lastLsn: bigint, options: GroupCommitOptions) {
    this.#sink = sink;
    this.#options = options;
    this.#nextLsn = lastLsn + 1n;
    this.#adaptive =
      options.flushMode === 'adaptive'
        ? new AdaptiveDelay({
            delayMsMin: options.adaptiveDelayMsMin,
            delayMsMax: options.adaptiveDelayMsMax,
            flushBytesMax: options.flushBytesMax,
          })
        : undefined;
    this.#pending = this.#newBatch();
  }

  /** Current adaptive flush delay in ms (0 in idle mode or at a low rate). */
  get adaptiveDelayMs(): number {
    return this.#adaptive?.delayMs(performance.now()) ?? 0;
  }

  /** Appends one frame; resolves with its LSN once it is durable. */
  append(type: number, payload: Uint8Array): Promise<bigint> {
    assert(Number.isInteger(type) && type >= 1 && type <= 255, 'frame type must be an integer in 1..255');
    const refusal = this.#refusal(frameBytes(payload.length));
    if (refusal !== undefined) return Promise.reject(refusal);
    const lsn = this.#nextLsn++;
    const batch = this.#pending;
    if (batch.settlers.length === 0) {
      batch.firstLsn = lsn;
      batch.firstAtMs = performance.now();
    }
    this.#reserve(batch, frameBytes(payload.length));
    batch.bytes += encodeFrameInto(batch.arena, batch.bytes, type, lsn, payload);
    batch.frameEnds.push(batch.bytes);
    const { promise, resolve, reject } = Promise.withResolvers<bigint>();
    batch.settlers.push({ resolve, reject });
    if (this.#inFlight === undefined) this.#schedule();
    return promise;
  }

  /** Flushes everything buffered, then refuses appends with SHUTTING_DOWN. Idempotent. */
  close(): Promise<void> {
    this.#closing ??= this.#drain();
    return this.#closing;
  }

  async #drain(): Promise<void> {
    if (this.#state === State.open) this.#state = State.closing;
    while (this.#inFlight !== undefined || this.#pending.settlers.length > 0) {
      if (this.#inFlight === undefined) this.#startFlush();
      await this.#inFlight;
    }
    this.#clearTimer();
    if (this.#state === State.closing) this.#state = State.closed;
  }

  #refusal(bytes: number): SluiceError | undefined {
    if (this.#closing !== undefined) return new SluiceError('SHUTTING_DOWN', 'the WAL is closing');
    if (this.#state === State.failed) {
      return new SluiceError('WAL_IO', `the WAL failed and refuses writes until restart: ${this.#failure?.message}`, [], {
        cause: this.#failure,
      });
    }
    if (bytes > this.#options.frameBytesMax) {
      return new SluiceError('PAYLOAD_TOO_LARGE', `WAL frame of ${bytes} bytes exceeds frameBytesMax ${this.#options.frameBytesMax}`);
    }
    if (this.#pending.bytes + this.#inFlightBytes + bytes > this.#options.pendingBytesMax) {
      const waiting = this.#pending.bytes + this.#inFlightBytes;
      return new SluiceError('OVERLOADED', `WAL has ${waiting} bytes waiting for fsync (pendingBytesMax ${this.#options.pendingBytesMax})`);
    }
    return undefined;
  }

  /** Grows the batch arena to hold `bytes` more (amortized doubling). */
  #reserve(batch: Batch, bytes: number): void {
    const need = batch.bytes + bytes;
    if (need <= batch.arena.length) return;
    const grown = Buffer.allocUnsafe(Math.max(need, batch.arena.length * 2, this.#options.flushBytesMax * 2));
    batch.arena.copy(grown, 0, 0, batch.bytes);
    batch.arena = grown;
  }

  /** Starts a flush now or arms the timer for the oldest buffered frame's deadline. */
  #schedule(): void {
    const batch = this.#pending;
    if (this.#inFlight !== undefined || batch.settlers.length === 0) return;
    if (this.#state !== State.open || batch.bytes >= this.#options.flushBytesMax) {
      this.#startFlush();
      return;
    }
    if (this.#timer !== undefined) return;
    const nowMs = performance.now();
    const delayMs = Math.min(this.#adaptive?.delayMs(nowMs) ?? 0, this.#options.flushDelayMsMax);
    const waitMs = batch.firstAtMs + delayMs - nowMs;
    if (waitMs <= 0) {
      this.#timer = { kind: 'immediate', handle: setImmediate(this.#onTimer) };
      return;
    }
    // Adaptive wait, in steps: a step in which no frame arrived ends it early.
    // Under closed-loop load (every client waiting for its ack) nothing more
    // can come, and waiting the full delay would only cap throughput.
    this.#framesAtStep = batch.settlers.length;
    const stepMs = Math.max(1, this.#options.adaptiveDelayMsMin);
    this.#timer = { kind: 'timeout', handle: setTimeout(this.#onStep, Math.ceil(Math.min(waitMs, stepMs))) };
  }

  readonly #onTimer = (): void => {
    this.#timer = undefined;
    if (this.#inFlight === undefined && this.#pending.settlers.length > 0) this.#startFlush();
  };

  readonly #onStep = (): void => {
    this.#timer = undefined;
    if (this.#inFlight !== undefined || this.#pending.settlers.length === 0) return;
    if (this.#pending.settlers.length === this.#framesAtStep) this.#startFlush();
    else this.#schedule();
  };

  #clearTimer(): void {
    if (this.#timer?.kind === 'immediate') clearImmediate(this.#timer.handle);
    else if (this.#timer?.kind === 'timeout') clearTimeout(this.#timer.handle);
    this.#timer = undefined;
  }

  #startFlush(): void {
    this.#clearTimer();
    const batch = this.#pending;
    this.#pending = this.#newBatch();
    this.#inFlightBytes = batch.bytes;
    this.#adaptive?.observe(batch.settlers.length, batch.bytes, performance.now());
    this.#inFlight = this.#runFlush(batch);
  }

  async #runFlush(batch: Batch): Promise<void> {
    let durable = 0;
    const onDurable = (frames: number): void => {
      for (let i = durable; i < durable + frames; i++) batch.settlers[i]!.resolve(batch.firstLsn + BigInt(i));
      durable += frames;
    };
    let failed = false;
    try {
      await this.#sink.write(batch.arena.subarray(0, batch.bytes), batch.frameEnds, batch.firstLsn, onDurable);
    } catch (err) {
      failed = true;
      this.#failFlush(batch, durable, err);
      // The sink maps every I/O error to a SluiceError; anything else is a
      // bug (a failed assert): after failing the WAL, let it crash the process.
      if (!(err instanceof SluiceError)) throw err;
    }
    assert(failed || durable === batch.settlers.length, 'sink returned before every frame was durable');
    this.#inFlightBytes = 0;
    // A bigger arena (a burst, a huge frame) is dropped rather than held.
    if (batch.arena.length <= this.#options.arenaKeptBytesMax) this.#spareArena = batch.arena;
    this.#inFlight = undefined;
    // Frames that arrived during the flush have waited for it: in idle mode they go now, their fdatasync
    // overlapping the answers to this flush's writers, instead of on the next turn after all of those.
    if (this.#adaptive === undefined && this.#state === State.open && this.#pending.settlers.length > 0) this.#startFlush();
    else this.#schedule();
  }

  /**
   * Rejects every frame not durable (this batch's rest and all buffered
   * after it: their LSNs are void) and rewinds the LSN counter.
   */
  #failFlush(batch: Batch, durable: number, err: unknown): void {
    const error =
      err instanceof SluiceError && (err.code === 'DISK_FULL' || err.code === 'WAL_IO')
        ? err
        : new SluiceError('WAL_IO', `WAL flush failed: ${String(err)}`, [], { cause: err });
    if (error.code === 'WAL_IO') {
      this.#state = State.failed;
      this.#failure = error;
    }
    const buffered = this.#pending;
    this.#nextLsn = batch.firstLsn + BigInt(durable);
    this.#pending = this.#newBatch();
    this.#clearTimer();
    for (let i = durable; i < batch.settlers.length; i++) batch.settlers[i]!.reject(error);
    for (const settler of buffered.settlers) settler.reject(error);
  }

  #newBatch(): Batch {
    const arena = this.#spareArena ?? Buffer.allocUnsafe(this.#options.flushBytesMax * 2);
    this.#spareArena = undefined;
    return { arena, bytes: 0, frameEnds: [], settlers: [], firstLsn: this.#nextLsn, firstAtMs: 0 };
  }
}
