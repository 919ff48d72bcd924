/**
 * Deletes decisions from etcd once every replica of an atomic batch holds
 * its COMMIT durably, in batches: a coordinator that committed a batch on
 * every replica hands the txid here, and one etcd transaction removes up to
 * 128 decisions (etcd's default --max-txn-ops) every `flushMs`. Replicas
 * answer COMMIT before its fsync (tx-endpoint.ts), so such a batch is
 * first confirmed: one TxStatus call per node per flush for all the batches
 * waiting, until every replica reports it committed (durable). A txid that
 * does not fit the bounded queue, is not confirmed after CONFIRM_TRIES
 * flushes, or whose delete fails, stays in etcd for the sweeper to conclude:
 * conclusion is housekeeping, never correctness, but a decision deleted
 * before a replica's COMMIT is durable would turn into an abort there.
 */
import type { Logger } from 'pino';
import type { DecisionStore } from './tx-decisions.ts';

/** Decisions waiting to be deleted at most. */
const QUEUE_MAX = 100_000;

/** Flushes a batch waits for its replicas to report the COMMIT durable before the sweeper is left to conclude it. */
const CONFIRM_TRIES = 25;

/** What `node` reports of `txids` (the TxStatus call): state by txid. */
export type TxStatusOf = (node: string, txids: readonly bigint[]) => Promise<ReadonlyMap<bigint, string>>;

/** A batch whose replicas answered COMMIT before its fsync. */
interface Unconfirmed {
  readonly txid: bigint;
  readonly nodes: readonly string[];
  tries: number;
}

/** Batched deletion of concluded decisions. */
export class TxConcluder {
  private readonly decisions: DecisionStore;
  private readonly log: Logger;
  private readonly flushMs: number;
  private readonly status: TxStatusOf | undefined;
  private queue: bigint[] = [];
  private unconfirmed: Unconfirmed[] = [];
  private timer: NodeJS.Timeout | undefined;
  private flushing: Promise<void> = Promise.resolve();
  private stopped = false;

  /** Without `status`, batches handed to `confirm` are left to the sweeper. */
  constructor(decisions: DecisionStore, log: Logger, flushMs = 200, status?: TxStatusOf) {
    this.decisions = decisions;
    this.log = log;
    this.flushMs = flushMs;
    this.status = status;
  }

  /** Queues a concluded batch's decision for deletion. */
  add(txid: bigint): void {
    if (this.queue.length >= QUEUE_MAX) return;
    this.queue.push(txid);
    this.schedule();
  }

  /** Queues a batch every replica (`nodes`) committed, once they all report the COMMIT durable. */
  confirm(txid: bigint, nodes: readonly string[]): void {
    if (this.status === undefined || this.unconfirmed.length + this.queue.length >= QUEUE_MAX) return;
    this.unconfirmed.push({ txid, nodes, tries: 0 });
    this.schedule();
  }

  private schedule(): void {
    if (this.stopped) return;
    this.timer ??= setTimeout(() => {
      this.timer = undefined;
      this.flushing = this.flushing.then(() => this.flush());
    }, this.flushMs);
  }

  /** Deletes what is queued now and stops the timer. */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
    await this.flushing;
    await this.flush();
  }

  private async flush(): Promise<void> {
    const confirmed = await this.confirmed();
    const batch = [...this.queue, ...confirmed];
    this.queue = [];
    if (batch.length === 0) return;
    try {
      await this.decisions.conclude(batch);
    } catch (err) {
      this.log.warn({ event: 'tx_conclude_failed', decisions: batch.length, err: (err as Error).message }, 'deleting concluded decisions failed; the sweeper will');
    }
  }

  /** The waiting batches every replica now reports committed; the others wait for the next flush (or the sweeper). */
  private async confirmed(): Promise<bigint[]> {
    const waiting = this.unconfirmed;
    this.unconfirmed = [];
    if (waiting.length === 0 || this.status === undefined) return [];
    const byNode = new Map<string, bigint[]>();
    for (const u of waiting) {
      for (const n of u.nodes) {
        const txids = byNode.get(n);
        if (txids === undefined) byNode.set(n, [u.txid]);
        else txids.push(u.txid);
      }
    }
    const status = this.status;
    const reports = new Map<string, ReadonlyMap<bigint, string>>();
    await Promise.all(
      [...byNode].map(([node, txids]) =>
        status(node, txids).then(
          (states) => void reports.set(node, states),
          () => undefined,
        ),
      ),
    );
    const done: bigint[] = [];
    for (const u of waiting) {
      if (u.nodes.every((n) => reports.get(n)?.get(u.txid) === 'committed')) done.push(u.txid);
      else if (++u.tries < CONFIRM_TRIES) this.unconfirmed.push(u);
    }
    if (this.unconfirmed.length > 0) this.schedule();
    return done;
  }
}
