/**
 * The participant side of atomic batches in one node's storage: PREPARE,
 * COMMIT and ABORT become WAL frames (durable before they are answered,
 * like any write) that the index applies in LSN order (index-store.ts):
 * a prepared batch is staged under a key no read path sees; its COMMIT
 * applies the staged records with their commit versions, deletes the
 * staged entry and puts a done marker, in one engine commit.
 *
 * The pending table (staged-txs.ts) follows from the moment a PREPARE is
 * durable until its outcome is applied; after a crash it is rebuilt from
 * the staged entries that WAL replay leaves.
 */
import { SluiceError } from '../../core/errors.ts';
import { RecordBatchReader } from '../../core/codec/record-batch-v1.ts';
import { FRAME_TYPES } from '../frame-types.ts';
import type { IndexStore } from '../index/index-store.ts';
import { StagedTxs, type PendingTx } from './staged-txs.ts';
import { decodePrepare, encodeAbort, encodeCommit, encodePrepare, type PrepareMeta, type TxOutcome } from './tx-frame-v1.ts';

/** Appends a frame to the WAL; resolves with its LSN once durable, then queues it for the index. */
export type AppendFrame = (type: number, payload: Uint8Array, records: number, onIndexed?: () => void) => Promise<bigint>;

/** What a replica knows of one atomic batch. */
export type TxState =
  | { readonly state: 'pending'; readonly tx: PendingTx }
  | { readonly state: TxOutcome; readonly cv: bigint }
  | { readonly state: 'unknown' };

/** Limits of the participant side. */
export interface TxLogOptions {
  /** Bytes staged at once on this node; a PREPARE past it is refused (429). */
  readonly pendingBytesMax: number;
}

/** PREPARE / COMMIT / ABORT on one node's WAL and index. */
export class TxLog {
  private readonly append: AppendFrame;
  private readonly index: IndexStore;
  private readonly options: TxLogOptions;
  readonly staged = new StagedTxs();
  /**
   * Outcomes appended for batches not pending here, until the index applied
   * them (then `txDone` holds them). COMMIT and ABORT travel on their own
   * connection and may overtake the PREPARE: accepted meanwhile, that
   * PREPARE would stage a payload after its outcome, which nothing would
   * ever apply or delete (decision 44).
   */
  private readonly outcomesUnindexed = new Map<bigint, TxOutcome>();

  constructor(append: AppendFrame, index: IndexStore, options: TxLogOptions) {
    this.append = append;
    this.index = index;
    this.options = options;
  }

  /** Rebuilds the pending table from the staged entries left after WAL replay. */
  async recover(lsn: bigint, nowMs: number): Promise<number> {
    for await (const payload of this.index.stagedTxs()) {
      const p = decodePrepare(payload);
      const reader = new RecordBatchReader(p.batch);
      this.staged.add({ ...p, tableId: reader.tableId, records: reader.count, bytes: payload.length, lsn, preparedAtMs: nowMs, recovered: true });
    }
    return this.staged.size;
  }

  /**
   * Stages `batch` (ids stamped, version provisional) as prepared; resolves
   * with the PREPARE frame's LSN and the prepare time once durable. A second
   * PREPARE of a batch pending here answers the first's; one of a batch
   * already decided is refused (a late or replayed request).
   *
   * `choosePt` gives the prepare time. It is called, and the batch enters
   * the pending table, in one synchronous step before the WAL append: a
   * snapshot read that arrives while the frame is being fsync'd must
   * already see the batch it would have to wait for.
   */
  async prepare(meta: Omit<PrepareMeta, 'pt'>, batch: Buffer, choosePt: () => bigint, onIndexed?: () => void): Promise<{ lsn: bigint; pt: bigint }> {
    const early = this.staged.get(meta.txid);
    if (early !== undefined) {
      onIndexed?.();
      return { lsn: early.lsn, pt: early.pt };
    }
    this.refuseDecided(meta.txid, undefined, onIndexed);
    const done = await this.index.txDone(meta.txid);
    const pending = this.staged.get(meta.txid);
    if (pending !== undefined) {
      onIndexed?.();
      return { lsn: pending.lsn, pt: pending.pt };
    }
    this.refuseDecided(meta.txid, done?.outcome, onIndexed);
    const pt = choosePt();
    const payload = encodePrepare({ ...meta, pt }, batch);
    if (this.staged.size > 0 && this.staged.bytes + payload.length > this.options.pendingBytesMax) {
      onIndexed?.();
      throw new SluiceError('OVERLOADED', `${this.staged.bytes} bytes of atomic batches are staged on this node (--tx-pending-bytes-max ${this.options.pendingBytesMax})`);
    }
    const reader = new RecordBatchReader(batch);
    const entry = { ...meta, pt, tableId: reader.tableId, records: reader.count, bytes: payload.length, lsn: 0n, preparedAtMs: Date.now() };
    this.staged.add(entry);
    let lsn: bigint;
    try {
      lsn = await this.append(FRAME_TYPES.TX_PREPARE, payload, 1, onIndexed);
    } catch (err) {
      this.staged.remove(meta.txid);
      throw err;
    }
    this.staged.setLsn(meta.txid, lsn);
    return { lsn, pt };
  }

  /**
   * Commits a batch with commit version base `cv`. Resolves with the COMMIT
   * frame's LSN once durable; or, when `early` and the batch's PREPARE is
   * durable here, at once with the PREPARE's LSN and `durable: false`: the
   * outcome is claimed (no ABORT can follow), plain reads of its shards wait
   * for it to be applied (StagedTxs.committedUnapplied), and a crash before
   * the COMMIT's fsync leaves it pending, settled from etcd's decision,
   * which stays there until this replica reports the COMMIT durable.
   */
  async commit(txid: bigint, cv: bigint, early = false): Promise<{ lsn: bigint; durable: boolean }> {
    const pending = this.staged.get(txid);
    if (pending?.decided?.outcome === 'aborted') throw new SluiceError('INTERNAL', `atomic batch ${txid} was aborted here; it cannot commit`);
    this.staged.decide(txid, 'committed', cv);
    const indexed = this.outcomeIndexed(txid, pending === undefined ? 'committed' : undefined);
    const appended = this.durably(txid, this.append(FRAME_TYPES.TX_COMMIT, encodeCommit(txid, cv), pending?.records ?? 1, indexed));
    if (early && pending !== undefined && pending.lsn > 0n) {
      // A failed append makes it undecided again (durably()); the resolver settles it then.
      appended.catch(() => undefined);
      return { lsn: pending.lsn, durable: false };
    }
    return { lsn: await appended, durable: true };
  }

  /** Aborts a batch (known here or not: a PREPARE arriving later is then refused); resolves once durable. */
  async abort(txid: bigint): Promise<bigint> {
    const pending = this.staged.get(txid);
    if (pending?.decided?.outcome === 'committed') throw new SluiceError('INTERNAL', `atomic batch ${txid} was committed here; it cannot abort`);
    this.staged.decide(txid, 'aborted', 0n);
    return this.durably(txid, this.append(FRAME_TYPES.TX_ABORT, encodeAbort(txid), 1, this.outcomeIndexed(txid, pending === undefined ? 'aborted' : undefined)));
  }

  /**
   * What to do once an outcome frame is applied: the pending entry goes; an
   * outcome for a batch not pending here (`unknown`) is remembered until then,
   * so that a PREPARE overtaken by it is refused.
   */
  private outcomeIndexed(txid: bigint, unknown: TxOutcome | undefined): () => void {
    if (unknown === undefined) return () => this.staged.remove(txid);
    this.outcomesUnindexed.set(txid, unknown);
    return () => {
      this.outcomesUnindexed.delete(txid);
      this.staged.remove(txid);
    };
  }

  /** Throws TX_ABORTED when `txid` is decided here: its outcome applied (`done`) or on its way to the index. */
  private refuseDecided(txid: bigint, done: TxOutcome | undefined, onIndexed: (() => void) | undefined): void {
    const outcome = done ?? this.outcomesUnindexed.get(txid);
    if (outcome === undefined) return;
    onIndexed?.();
    throw new SluiceError('TX_ABORTED', `atomic batch ${txid} is already ${outcome} on this replica`);
  }

  /**
   * The outcome frame's append, settling the pending entry: its outcome is
   * reported (TxStatus) only once durable, since the sweeper deletes the
   * decision in etcd when every participant reports it, and a replica that
   * crashed before the fsync would find neither outcome nor decision.
   */
  private async durably(txid: bigint, appended: Promise<bigint>): Promise<bigint> {
    try {
      const lsn = await appended;
      this.staged.settle(txid, true);
      return lsn;
    } catch (err) {
      this.staged.settle(txid, false);
      this.outcomesUnindexed.delete(txid);
      throw err;
    }
  }

  /** What this replica knows of `txid`: pending (maybe decided, not applied), its outcome, or nothing. */
  async state(txid: bigint): Promise<TxState> {
    const pending = this.staged.get(txid);
    if (pending?.decided?.durable === true) return { state: pending.decided.outcome, cv: pending.decided.cv };
    if (pending !== undefined) return { state: 'pending', tx: pending };
    const done = await this.index.txDone(txid);
    return done === undefined ? { state: 'unknown' } : { state: done.outcome, cv: done.cv };
  }
}
