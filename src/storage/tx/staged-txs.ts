/**
 * The pending table of a participant replica: every atomic batch prepared
 * here whose COMMIT or ABORT is not yet applied to the index. It is what
 * snapshot reads wait on (a batch prepared at or below a snapshot may
 * still commit at or below it), what the resolver walks, and what bounds
 * the bytes staged on this node. It lives in memory and is rebuilt at
 * open from the staged entries (`T | txid`) that WAL replay leaves.
 */
import { SluiceError } from '../../core/errors.ts';
import type { PrepareMeta, TxOutcome } from './tx-frame-v1.ts';

/** One prepared, not yet applied, atomic batch. */
export interface PendingTx extends PrepareMeta {
  readonly tableId: number;
  readonly records: number;
  readonly bytes: number;
  /** LSN of its PREPARE frame here (0 while the frame is being made durable). */
  lsn: bigint;
  /** When this replica prepared it (or found it at open), epoch ms. */
  readonly preparedAtMs: number;
  /**
   * Found pending when the node opened: it may have been committed here
   * before the crash (a COMMIT answered before its fsync), so plain reads
   * wait for it as for a decided one until the resolver settles it.
   */
  readonly recovered?: boolean;
  /**
   * Set when its COMMIT or ABORT is being written (a claim: the other
   * outcome is refused from then on); `durable` once that frame is fsync'd.
   * It leaves the table when the outcome is applied.
   */
  decided?: { readonly outcome: TxOutcome; readonly cv: bigint; durable: boolean };
}

interface Waiter {
  /** Whether the reader may go on. */
  readonly clear: () => boolean;
  readonly resolve: () => void;
}

/** The prepared atomic batches of one node. */
export class StagedTxs {
  private readonly byId = new Map<bigint, PendingTx>();
  private bytesValue = 0;
  private waiters: Waiter[] = [];

  /** Staged bytes. */
  get bytes(): number {
    return this.bytesValue;
  }

  /** Pending batches. */
  get size(): number {
    return this.byId.size;
  }

  /** The pending batch `txid`, or undefined. */
  get(txid: bigint): PendingTx | undefined {
    return this.byId.get(txid);
  }

  /** Every pending batch. */
  list(): PendingTx[] {
    return [...this.byId.values()];
  }

  /** Adds a prepared batch (a second add of the same txid is ignored). */
  add(tx: PendingTx): void {
    if (this.byId.has(tx.txid)) return;
    this.byId.set(tx.txid, tx);
    this.bytesValue += tx.bytes;
  }

  /** Its PREPARE frame is durable at `lsn`. */
  setLsn(txid: bigint, lsn: bigint): void {
    const tx = this.byId.get(txid);
    if (tx !== undefined) tx.lsn = lsn;
  }

  /** Its COMMIT or ABORT is being written; it still blocks snapshots until applied. */
  decide(txid: bigint, outcome: TxOutcome, cv: bigint): void {
    const tx = this.byId.get(txid);
    if (tx !== undefined && tx.decided === undefined) tx.decided = { outcome, cv, durable: false };
  }

  /** Its COMMIT or ABORT frame is durable (true) or could not be written (false: undecided again). */
  settle(txid: bigint, durable: boolean): void {
    const tx = this.byId.get(txid);
    if (tx?.decided === undefined) return;
    if (durable) tx.decided.durable = true;
    else delete tx.decided;
  }

  /** Its outcome is applied to the index: it leaves the table and snapshot readers may go on. */
  remove(txid: bigint): void {
    const tx = this.byId.get(txid);
    if (tx === undefined) return;
    this.byId.delete(txid);
    this.bytesValue -= tx.bytes;
    const still: Waiter[] = [];
    for (const w of this.waiters) {
      if (w.clear()) w.resolve();
      else still.push(w);
    }
    this.waiters = still;
  }

  /** Pending batches prepared at or below `snapshot`: they may commit at or below it. */
  blocking(snapshot: bigint): PendingTx[] {
    return this.list().filter((tx) => tx.pt <= snapshot);
  }

  /**
   * Resolves once no batch prepared at or below `snapshot` is pending;
   * READ_TIMEOUT after `timeoutMs`, naming those still undecided.
   */
  waitClear(snapshot: bigint, timeoutMs: number): Promise<void> {
    return this.waitUntil(() => this.blocking(snapshot), timeoutMs, 'prepared at or below the snapshot are still undecided');
  }

  /**
   * Batches of `tableId` (touching `shard`, when given) that a plain read
   * must not pass: committed here but not yet applied (a COMMIT is
   * answered once claimed over a durable PREPARE, before its own fsync),
   * or found pending at open (they may have been such before a crash).
   * Undecided ones are not in the way: no client was told they committed
   * before W replicas per shard had claimed the COMMIT, and a quorum read
   * meets one of those.
   */
  committedUnapplied(tableId: number, shard: number | undefined): PendingTx[] {
    const out: PendingTx[] = [];
    for (const tx of this.byId.values()) {
      if (tx.tableId !== tableId || (shard !== undefined && !tx.shards.includes(shard))) continue;
      if (tx.decided?.outcome === 'committed' || (tx.recovered === true && tx.decided === undefined)) out.push(tx);
    }
    return out;
  }

  /** Resolves once the batches `committedUnapplied` names now are applied; READ_TIMEOUT after `timeoutMs`. */
  waitCommitted(tableId: number, shard: number | undefined, timeoutMs: number): Promise<void> {
    if (this.byId.size === 0) return Promise.resolve();
    const ahead = new Set(this.committedUnapplied(tableId, shard).map((tx) => tx.txid));
    return this.waitUntil(() => [...ahead].flatMap((txid) => this.byId.get(txid) ?? []), timeoutMs, 'committed here are not applied yet');
  }

  /** Resolves once `inTheWay()` is empty (checked as batches leave); READ_TIMEOUT naming them after `timeoutMs`. */
  private waitUntil(inTheWay: () => PendingTx[], timeoutMs: number, what: string): Promise<void> {
    if (inTheWay().length === 0) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const waiter: Waiter = {
        clear: () => inTheWay().length === 0,
        resolve: () => {
          clearTimeout(timer);
          resolve();
        },
      };
      const timer = setTimeout(() => {
        this.waiters = this.waiters.filter((w) => w !== waiter);
        const ids = inTheWay().map((tx) => String(tx.txid));
        reject(new SluiceError('READ_TIMEOUT', `atomic batches ${ids.join(', ')} ${what} after ${timeoutMs} ms`, ids.map((id) => ({ path: 'tx_id', message: id }))));
      }, timeoutMs);
      this.waiters.push(waiter);
    });
  }
}
