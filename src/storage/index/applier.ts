/**
 * Applies durable WAL frames to the index off the acknowledgement path.
 * Frames arrive in LSN order right after their fsync; the applier gathers
 * whatever is queued (up to `applyBatchRecordsMax` records) into one engine
 * commit, so under load one index transaction covers many requests.
 *
 * Readers wait on `waitFor(lsn)`: that is the read barrier that makes a
 * read issued after an acknowledged write see it.
 */
import assert from 'node:assert/strict';
import { SluiceError } from '../../core/errors.ts';
import type { AppliedFrame } from '../frame-types.ts';
import type { ApplyStats, IndexStore } from './index-store.ts';

/** Options of the applier. */
export interface ApplierOptions {
  /** Records per engine commit. @default 20_000 */
  readonly applyBatchRecordsMax: number;
  /**
   * Engine commits in flight at once. LMDB fsyncs each commit on its write
   * thread, so overlapping commits (built in order, committed in order)
   * keep it busy. @default 4
   */
  readonly applyCommitsInFlightMax: number;
  /** Called after each commit (metrics). */
  readonly onApplied?: (info: ApplyStats & { frames: number; lsn: bigint; ms: number }) => void;
  /** Called once if applying fails: the index no longer follows the WAL and the node must stop serving. */
  readonly onFatal: (err: unknown) => void;
}

interface Queued {
  readonly frame: AppliedFrame;
  readonly records: number;
  readonly done: (() => void) | undefined;
}

interface Waiter {
  readonly lsn: bigint;
  readonly resolve: () => void;
  readonly reject: (err: unknown) => void;
  readonly timer: NodeJS.Timeout;
}

/** The asynchronous WAL → index apply loop. */
export class Applier {
  private readonly index: IndexStore;
  private readonly options: ApplierOptions;
  /** Taken entries are cleared so their payloads can be collected before the array is compacted. */
  private readonly queue: (Queued | undefined)[] = [];
  private head = 0;
  /** A pump is scheduled for the next turn. */
  private scheduled = false;
  private failed: unknown = undefined;
  private applied: bigint;
  private enqueued: bigint;
  private waiters: Waiter[] = [];
  private idle: (() => void)[] = [];
  private inFlight = 0;
  private queuedRecords = 0;
  /** Tail of the chain that handles apply results in start order. */
  private settled: Promise<void> = Promise.resolve();

  constructor(index: IndexStore, appliedLsn: bigint, options: ApplierOptions) {
    this.index = index;
    this.options = options;
    this.applied = appliedLsn;
    this.enqueued = appliedLsn;
  }

  /** LSN of the last frame in the index. */
  get appliedLsn(): bigint {
    return this.applied;
  }

  /** Frames queued and not yet applied. */
  get lagFrames(): number {
    return this.queue.length - this.head;
  }

  /** Queues a durable frame; `done` runs once it is in the index (or the applier failed). */
  enqueue(frame: AppliedFrame, records: number, done?: () => void): void {
    assert.ok(frame.lsn > this.enqueued, `frames must be enqueued in LSN order (${frame.lsn} after ${this.enqueued})`);
    this.enqueued = frame.lsn;
    if (this.failed !== undefined) {
      done?.();
      return;
    }
    this.queue.push({ frame, records, done });
    this.queuedRecords += records;
    if (!this.scheduled) {
      this.scheduled = true;
      // Next turn: frames made durable by the same fsync join one apply batch.
      setImmediate(() => {
        this.scheduled = false;
        this.pump();
        this.checkIdle();
      });
    }
  }

  /** Resolves once every frame up to `lsn` is applied; rejects with READ_TIMEOUT after `timeoutMs`. */
  waitFor(lsn: bigint, timeoutMs: number): Promise<void> {
    if (this.applied >= lsn) return Promise.resolve();
    if (this.failed !== undefined) return Promise.reject(this.failure());
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiters = this.waiters.filter((w) => w.timer !== timer);
        reject(new SluiceError('READ_TIMEOUT', `the index did not reach LSN ${lsn} within ${timeoutMs} ms`));
      }, timeoutMs);
      this.waiters.push({ lsn, resolve, reject, timer });
    });
  }

  /** Resolves when the queue is empty (used on shutdown). */
  drained(): Promise<void> {
    if (this.isIdle()) return Promise.resolve();
    return new Promise((resolve) => this.idle.push(resolve));
  }

  /**
   * Starts apply batches while fewer than `applyCommitsInFlightMax` are
   * running. Results are handled strictly in start order (the engine commits
   * in call order too), so `appliedLsn` only moves forward over a prefix.
   */
  private pump(): void {
    while (this.canStart()) {
      const taken = this.take();
      this.inFlight++;
      const started = performance.now();
      const applying = this.index.apply(taken.map((q) => q.frame));
      // Handled through the ordered chain below; this only keeps an early rejection from being "unhandled".
      applying.catch(() => undefined);
      this.settled = this.settled.then(async () => {
        try {
          const stats = await applying;
          const last = taken.at(-1);
          assert.ok(last !== undefined);
          if (this.failed === undefined) {
            this.applied = last.frame.lsn;
            this.options.onApplied?.({ ...stats, frames: taken.length, lsn: this.applied, ms: performance.now() - started });
          }
        } catch (err) {
          if (this.failed === undefined) {
            this.failed = err;
            this.options.onFatal(err);
          }
        }
        for (const q of taken) q.done?.();
        this.inFlight--;
        this.wake();
        this.pump();
        this.checkIdle();
      });
    }
  }

  /**
   * Another batch starts when nothing is in flight (a lone write is applied
   * at once), or when a full batch is queued and a commit slot is free (under
   * load, full batches overlap; partial ones wait to grow).
   */
  private canStart(): boolean {
    if (this.failed !== undefined || this.head >= this.queue.length) return false;
    if (this.inFlight === 0) return true;
    return this.inFlight < this.options.applyCommitsInFlightMax && this.queuedRecords >= this.options.applyBatchRecordsMax;
  }

  private isIdle(): boolean {
    return this.inFlight === 0 && this.head >= this.queue.length && !this.scheduled;
  }

  private checkIdle(): void {
    if (this.inFlight > 0) return;
    // A failed applier still releases what is queued so admission does not leak.
    if (this.failed !== undefined) for (const q of this.take(Number.POSITIVE_INFINITY)) q.done?.();
    if (!this.isIdle()) return;
    for (const resolve of this.idle.splice(0)) resolve();
  }

  private take(recordsMax = this.options.applyBatchRecordsMax): Queued[] {
    const taken: Queued[] = [];
    let records = 0;
    while (this.head < this.queue.length) {
      const q = this.queue[this.head] as Queued;
      if (taken.length > 0 && records + q.records > recordsMax) break;
      taken.push(q);
      records += q.records;
      this.queuedRecords -= q.records;
      this.queue[this.head] = undefined;
      this.head++;
    }
    if (this.head === this.queue.length) {
      this.queue.length = 0;
      this.head = 0;
    } else if (this.head > 1024 && this.head * 2 > this.queue.length) {
      // Compact now and then instead of shifting per frame.
      this.queue.splice(0, this.head);
      this.head = 0;
    }
    return taken;
  }

  private wake(): void {
    if (this.waiters.length === 0) return;
    const still: Waiter[] = [];
    for (const w of this.waiters) {
      if (this.failed !== undefined) {
        clearTimeout(w.timer);
        w.reject(this.failure());
      } else if (w.lsn <= this.applied) {
        clearTimeout(w.timer);
        w.resolve();
      } else {
        still.push(w);
      }
    }
    this.waiters = still;
  }

  private failure(): SluiceError {
    return new SluiceError('STORAGE_IO', 'the index failed to apply the WAL; the node must be restarted', [], { cause: this.failed });
  }
}
