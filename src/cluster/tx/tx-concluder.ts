/**
 * Deletes decisions from etcd once every replica of an atomic batch has
 * applied it, in batches: a coordinator that committed a batch on every
 * replica hands the txid here, and one etcd transaction removes up to 128
 * decisions (etcd's default --max-txn-ops) every `flushMs`. A txid that does
 * not fit the bounded queue, or whose delete fails, stays in etcd for the
 * sweeper to conclude: conclusion is housekeeping, never correctness.
 */
import type { Logger } from 'pino';
import type { DecisionStore } from './tx-decisions.ts';

/** Decisions waiting to be deleted at most. */
const QUEUE_MAX = 100_000;

/** Batched deletion of concluded decisions. */
export class TxConcluder {
  private readonly decisions: DecisionStore;
  private readonly log: Logger;
  private readonly flushMs: number;
  private queue: bigint[] = [];
  private timer: NodeJS.Timeout | undefined;
  private flushing: Promise<void> = Promise.resolve();

  constructor(decisions: DecisionStore, log: Logger, flushMs = 50) {
    this.decisions = decisions;
    this.log = log;
    this.flushMs = flushMs;
  }

  /** Queues a concluded batch's decision for deletion. */
  add(txid: bigint): void {
    if (this.queue.length >= QUEUE_MAX) return;
    this.queue.push(txid);
    this.timer ??= setTimeout(() => {
      this.timer = undefined;
      this.flushing = this.flushing.then(() => this.flush());
    }, this.flushMs);
  }

  /** Deletes what is queued now and stops the timer. */
  async stop(): Promise<void> {
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
    await this.flushing;
    await this.flush();
  }

  private async flush(): Promise<void> {
    const batch = this.queue;
    this.queue = [];
    if (batch.length === 0) return;
    try {
      await this.decisions.conclude(batch);
    } catch (err) {
      this.log.warn({ event: 'tx_conclude_failed', decisions: batch.length, err: (err as Error).message }, 'deleting concluded decisions failed; the sweeper will');
    }
  }
}
