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
import { SluiceError } from '../core/errors.ts';
import type { AppliedFrame } from './frame-types.ts';
import type { ApplyStats, IndexStore } from './index-store.ts';

/** Options of the applier. */
export interface ApplierOptions {
  /** Records per engine commit. @default 20_000 */
  readonly applyBatchRecordsMax: number;
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
  private running = false;
  private failed: unknown = undefined;
  private applied: bigint;
  private enqueued: bigint;
  private waiters: Waiter[] = [];
  private idle: (() => void)[] = [];

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
    if (!this.running) {
      this.running = true;
      setImmediate(() => void this.loop());
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
    if (!this.running) return Promise.resolve();
    return new Promise((resolve) => this.idle.push(resolve));
  }

  private async loop(): Promise<void> {
    while (this.head < this.queue.length && this.failed === undefined) {
      const taken = this.take();
      const started = performance.now();
      try {
        const stats = await this.index.apply(taken.map((q) => q.frame));
        const last = taken.at(-1);
        assert.ok(last !== undefined);
        this.applied = last.frame.lsn;
        this.options.onApplied?.({ ...stats, frames: taken.length, lsn: this.applied, ms: performance.now() - started });
      } catch (err) {
        this.failed = err;
        this.options.onFatal(err);
      }
      for (const q of taken) q.done?.();
      this.wake();
    }
    // A failed applier still releases what is queued so admission does not leak.
    if (this.failed !== undefined) for (const q of this.take(Number.POSITIVE_INFINITY)) q.done?.();
    this.running = false;
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
