/**
 * The storage of one node: WAL (source of truth) + index (materialized
 * view). Opening it takes the data dir's lock and runs crash recovery: the
 * WAL repairs a torn tail, then every frame after the index's checkpoint
 * is replayed in bounded batches. Writes are appended to the WAL (group
 * commit, fdatasync) and applied to the index asynchronously;
 * `readBarrier` lets a read wait for every acknowledged write.
 *
 * Callers drive it through its methods only: writes, the read barrier,
 * reads that return stored records, primary-key claims, and the range
 * drops of cleanup. The index and the primary-key resolver stay inside.
 */
import { TimeCeiling } from './time-ceiling.ts';
import { systemClock } from '../core/clock.ts';
import { snowflakeFloorAt } from '../core/snowflake.ts';
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import type { Logger } from 'pino';
import { HIGHEST_PK_SEEKS_PARALLEL, walFrameBytesMax, type NodeConfig } from '../config.ts';
import type { RecordBatchReader } from '../core/codec/record-batch-v1.ts';
import { SluiceError } from '../core/errors.ts';
import { storageError } from './engine/engine-errors.ts';
import { NODE_META_FORMAT, checkNodeMeta } from './node-meta.ts';
import { upgradeIndexFormat } from './index/index-format.ts';
import { lockDataDir, type DirLock } from './dir-lock.ts';
import { openEngine } from './engine/open-engine.ts';
import type { StorageEngine } from './engine/storage-engine.ts';
import { IndexStore, type ApplyStats, type IndexedRecord, type KeyRangeQuery, type ShardScan, type TableShard } from './index/index-store.ts';
import type { PkEntry } from './index/key-layout.ts';
import { Applier } from './index/applier.ts';
import { RangeFence } from './range-fence.ts';
import { PkResolver, type PkClaim } from './index/pk-resolver.ts';
import { FRAME_TYPES, type AppliedFrame } from './frame-types.ts';
import { failpoint } from '../core/failpoint.ts';
import { TxLog, type TxState } from './tx/tx-log.ts';
import type { PendingTx } from './tx/staged-txs.ts';
import type { PrepareMeta } from './tx/tx-frame-v1.ts';
import { Wal } from './wal/wal.ts';
import type { PreallocationStatus } from './wal/preallocator.ts';
import { SingleFlight } from '../core/single-flight.ts';

/** Observers the node wires to metrics; storage never imports the API layer. */
export interface StoreHooks {
  readonly onWalFlush?: (info: { bytes: number; frames: number; fsyncMs: number }) => void;
  readonly onApplied?: (info: ApplyStats & { frames: number; lsn: bigint; ms: number }) => void;
  /** Fatal storage failure: the node stops taking writes. */
  readonly onFatal?: (err: unknown) => void;
}

/** What recovery did at open. */
export interface ReplayReport {
  readonly fromLsn: bigint;
  readonly toLsn: bigint;
  readonly frames: number;
  readonly records: number;
  readonly ms: number;
}

type StoreConfig = Pick<
  NodeConfig,
  | 'dataDir'
  | 'engine'
  | 'shards'
  | 'walSegmentBytesMax'
  | 'walPreallocSegmentsAhead'
  | 'walFlushBytesMax'
  | 'walFlushDelayMsMax'
  | 'walFlushMode'
  | 'walAdaptiveDelayMsMin'
  | 'walAdaptiveDelayMsMax'
  | 'walRecovery'
  | 'diskFreeBytesMin'
  | 'applyBatchRecordsMax'
  | 'applyCommitsInFlightMax'
  | 'indexSyncIntervalMs'
  | 'replayBatchBytesMax'
  | 'bodyBytesMax'
  | 'txPendingBytesMax'
  | 'txDoneRetentionMs'
>;

/** Longest interval between two sweeps of expired done markers. */
const DONE_SWEEP_INTERVAL_MS_MAX = 60_000;

/** WAL + index of one node. */
export class LocalStore {
  readonly replay: ReplayReport;
  /** Largest id found in the index after recovery. */
  readonly maxIdAtOpen: bigint;
  /** The bound on disk above every id this node issues (storage/time-ceiling.ts); id generators are bounded by it. */
  readonly timeCeiling: TimeCeiling;
  private readonly index: IndexStore;
  private readonly pks: PkResolver;
  private readonly tx: TxLog;
  private readonly wal: Wal;
  private readonly engine: StorageEngine;
  private readonly shards: number;
  private readonly applier: Applier;
  /** Ranges cleanup is handing off and dropping: appends into them are refused meanwhile. */
  private readonly fence = new RangeFence();
  private readonly log: Logger;
  private ackedLsn: bigint;
  private syncTimer: NodeJS.Timeout | undefined;
  private readonly sweepTimer: NodeJS.Timeout;
  /** Index syncs, one at a time (a timer tick joins the one running; `syncIndex` gets one that starts after it). */
  private readonly syncs = new SingleFlight(() => this.syncOnce());
  private closed = false;
  private readonly lock: DirLock;

  private constructor(parts: {
    engine: StorageEngine;
    index: IndexStore;
    wal: Wal;
    replay: ReplayReport;
    maxId: bigint;
    timeCeiling: TimeCeiling;
    config: StoreConfig;
    hooks: StoreHooks;
    log: Logger;
    lock: DirLock;
  }) {
    this.lock = parts.lock;
    this.shards = parts.config.shards;
    this.engine = parts.engine;
    this.index = parts.index;
    this.wal = parts.wal;
    this.replay = parts.replay;
    this.maxIdAtOpen = parts.maxId;
    this.timeCeiling = parts.timeCeiling;
    this.log = parts.log;
    this.ackedLsn = parts.wal.lastLsn;
    this.applier = new Applier(parts.index, parts.wal.lastLsn, {
      applyBatchRecordsMax: parts.config.applyBatchRecordsMax,
      applyCommitsInFlightMax: parts.config.applyCommitsInFlightMax,
      onApplied: (info) => {
        this.pks.prune();
        parts.hooks.onApplied?.(info);
      },
      onFatal: (err) => {
        this.log.fatal({ err }, 'index apply failed');
        parts.hooks.onFatal?.(err);
      },
    });
    this.pks = new PkResolver(parts.index, () => this.applier.appliedLsn);
    this.tx = new TxLog((type, payload, records, onIndexed) => this.appendFrame(type, payload, records, onIndexed), parts.index, { pendingBytesMax: parts.config.txPendingBytesMax });
    // Done markers answer "what became of batch X" for a while after the outcome; then they go.
    const retentionMs = parts.config.txDoneRetentionMs;
    this.sweepTimer = setInterval(() => void this.index.sweepDone(Date.now() - retentionMs).catch((err: unknown) => this.log.warn({ err }, 'sweeping done markers failed')), Math.min(retentionMs, DONE_SWEEP_INTERVAL_MS_MAX));
    this.sweepTimer.unref();
    // A periodic sync that fails was logged by syncOnce; the next tick tries again.
    this.syncTimer = setInterval(() => void this.syncs.run().catch(() => undefined), parts.config.indexSyncIntervalMs);
    this.syncTimer.unref();
  }

  /** Locks the data dir at `config.dataDir` and opens (and recovers) its storage. */
  static async open(config: StoreConfig, hooks: StoreHooks, log: Logger): Promise<LocalStore> {
    await mkdir(config.dataDir, { recursive: true });
    const lock = await lockDataDir(config.dataDir);
    // The closes of what is open so far: a failed step runs them in reverse, so no timer outlives the failed open.
    const opened: (() => unknown)[] = [() => lock.release()];
    try {
      const meta = await checkNodeMeta(config.dataDir, { shards: config.shards, engine: config.engine }, Date.now());
      const engine = await openEngine(meta.engine, { dir: path.join(config.dataDir, 'index', meta.engine) });
      opened.push(() => engine.close());
      if (meta.format !== NODE_META_FORMAT) {
        const { moved } = await upgradeIndexFormat(config.dataDir, meta, engine);
        log.info({ event: 'index_migrated', from: meta.format, format: NODE_META_FORMAT, idBlocks: moved }, 'index brought to the current format');
      }
      const index = new IndexStore(engine);
      const checkpoint = await engine.checkpointLsn();
      const wal = await Wal.open({
        dir: path.join(config.dataDir, 'wal'),
        segmentBytesMax: config.walSegmentBytesMax,
        preallocSegmentsAhead: config.walPreallocSegmentsAhead,
        flushBytesMax: config.walFlushBytesMax,
        flushDelayMsMax: config.walFlushDelayMsMax,
        flushMode: config.walFlushMode,
        adaptiveDelayMsMin: config.walAdaptiveDelayMsMin,
        adaptiveDelayMsMax: config.walAdaptiveDelayMsMax,
        recovery: config.walRecovery,
        // After a truncating recovery the index may hold frames the WAL lost: never reuse their LSNs.
        ...(config.walRecovery === 'truncate' ? { nextLsnMin: checkpoint + 1n } : {}),
        diskFreeBytesMin: config.diskFreeBytesMin,
        replayBatchBytesMax: config.replayBatchBytesMax,
        // A batch of tiny records encodes to a few times its JSON size (fixed per-entry header).
        frameBytesMax: walFrameBytesMax(config),
        ...(hooks.onWalFlush ? { onFlush: hooks.onWalFlush } : {}),
        // Appends go on in a plain segment; the operator should still learn why the spare is missing.
        onPreallocationError: (err) => log.warn({ event: 'wal_preallocation_failed', error: err.message }, 'WAL segment preallocation failed; segments grow by appending until it succeeds'),
      });
      opened.push(() => wal.close());
      const recovered = { event: 'wal_recovered', ...jsonSafe(wal.recovery), indexCheckpoint: String(checkpoint) };
      if (wal.recovery.corruption !== null) log.error(recovered, 'WAL recovered by discarding corrupt frames: data after the cut is lost');
      else log.info(recovered, 'WAL recovered');
      // Prepared batches held only in memory (staged-payloads.ts) come back from the WAL: replay from the floor when it is older.
      const floor = await index.replayFloor();
      const from = floor !== undefined && floor <= checkpoint ? floor : checkpoint + 1n;
      const replay = await replayWal(wal, index, from, checkpoint, config.applyCommitsInFlightMax, log);
      const maxId = await index.maxId();
      const timeCeiling = await TimeCeiling.open(config.dataDir, systemClock, log);
      opened.push(() => timeCeiling.close());
      const store = new LocalStore({ engine, index, wal, replay, maxId, timeCeiling, config, hooks, log, lock });
      opened.push(() => store.stopTimers());
      const pending = await store.tx.recover(store.appliedLsn, Date.now());
      if (pending > 0) log.info({ event: 'tx_pending_recovered', pending }, 'atomic batches prepared before the restart are pending');
      return store;
    } catch (err) {
      await closeAll(opened, log);
      throw err;
    }
  }

  /** Stops the store's own timers (index sync, done sweep) and waits for a sync under way; the parts stay open. */
  private async stopTimers(): Promise<void> {
    if (this.syncTimer !== undefined) clearInterval(this.syncTimer);
    clearInterval(this.sweepTimer);
    await this.syncs.idle();
  }

  /** The index engine this data dir uses. */
  get engineKind(): StorageEngine['kind'] {
    return this.engine.kind;
  }

  /** LSN of the last acknowledged (durable) write. */
  get lastAckedLsn(): bigint {
    return this.ackedLsn;
  }

  /** LSN of the last frame in the index. */
  get appliedLsn(): bigint {
    return this.applier.appliedLsn;
  }

  /** What the WAL's segment preallocation did so far; undefined when it is off. */
  get walPreallocation(): PreallocationStatus | undefined {
    return this.wal.preallocation;
  }

  /** Frames durable but not yet in the index. */
  get applyLagFrames(): number {
    return this.applier.lagFrames;
  }

  /**
   * Appends a stamped record batch to the WAL; resolves with its LSN once it
   * is fsync'd. The batch is then applied to the index; `onIndexed` runs when
   * it is (so callers can hold admission until then). Refused with
   * NOT_READY, nothing written, when a record falls in a range being dropped
   * (`closeRanges`).
   */
  appendRecords(batch: Uint8Array, records: number, onIndexed?: () => void): Promise<bigint> {
    try {
      this.fence.check(batch);
    } catch (err) {
      onIndexed?.();
      return Promise.reject(err);
    }
    const append = this.appendFrame(FRAME_TYPES.RECORDS, batch, records, onIndexed);
    this.fence.track(append);
    return append;
  }

  /**
   * Refuses record appends into `ranges` until the returned release is
   * called; resolves once every append issued before is durable and queued
   * for the index (a read barrier then sees it). Cleanup closes a range
   * before it compares it with its replicas, and opens it after the drop,
   * so no record reaches it in between unhanded (range-fence.ts).
   */
  closeRanges(ranges: readonly TableShard[]): Promise<() => void> {
    return this.fence.close(ranges);
  }

  /** Appends a frame of any type: durable when it resolves, then queued for the index. */
  private async appendFrame(type: number, payload: Uint8Array, records: number, onIndexed?: () => void): Promise<bigint> {
    let lsn: bigint;
    try {
      lsn = await this.wal.append(type, payload);
    } catch (err) {
      onIndexed?.();
      throw err;
    }
    if (lsn > this.ackedLsn) this.ackedLsn = lsn;
    if (type === FRAME_TYPES.TX_COMMIT) failpoint('part.before-commit-apply');
    this.applier.enqueue({ lsn, type, payload }, records, onIndexed);
    return lsn;
  }

  /** Stages a prepared atomic batch (tx-log.ts); resolves with its LSN and prepare time once durable. */
  prepareTx(meta: Omit<PrepareMeta, 'pt'>, batch: Buffer, choosePt: () => bigint, onIndexed?: () => void): Promise<{ lsn: bigint; pt: bigint }> {
    return this.tx.prepare(meta, batch, choosePt, onIndexed);
  }

  /** Commits a prepared atomic batch with commit version base `cv`; resolves once durable, or once claimed when `early` (tx-log.ts). */
  commitTx(txid: bigint, cv: bigint, early = false): Promise<{ lsn: bigint; durable: boolean }> {
    return this.tx.commit(txid, cv, early);
  }

  /** Aborts an atomic batch; resolves once durable. */
  abortTx(txid: bigint): Promise<bigint> {
    return this.tx.abort(txid);
  }

  /** What this node knows of an atomic batch. */
  txState(txid: bigint): Promise<TxState> {
    return this.tx.state(txid);
  }

  /** Atomic batches prepared here whose outcome is not yet applied. */
  pendingTxs(): PendingTx[] {
    return this.tx.staged.list();
  }

  /** Bytes of atomic batches staged here. */
  get stagedTxBytes(): number {
    return this.tx.staged.bytes;
  }

  /** Waits until the atomic batches of a table (and shard) committed here are applied, for a plain read (READ_TIMEOUT after `timeoutMs`). */
  waitCommittedTxs(tableId: number, shard: number | undefined, timeoutMs: number): Promise<void> {
    return this.tx.staged.waitCommitted(tableId, shard, timeoutMs);
  }

  /** Waits until no atomic batch prepared at or below `snapshot` is pending here (READ_TIMEOUT after `timeoutMs`). */
  waitSnapshot(snapshot: bigint, timeoutMs: number): Promise<void> {
    return this.tx.staged.waitClear(snapshot, timeoutMs);
  }

  /**
   * Stamps into every primary-keyed entry of the batch the id its key was
   * stored with (even if that write is not indexed yet), or `newId()`.
   * Settle the claim with `settleKeys` once the write is durable or failed.
   */
  claimKeys(reader: RecordBatchReader, newId: () => bigint, observeVersion: (version: bigint) => void): Promise<PkClaim> {
    return this.pks.resolve(reader, newId, observeVersion);
  }

  /** The claimed write is durable at `lsn`, or failed (`lsn` undefined: ids nobody made durable are forgotten). */
  settleKeys(claim: PkClaim, lsn: bigint | undefined): void {
    if (lsn === undefined) this.pks.failed(claim);
    else this.pks.committed(claim, lsn);
  }

  /** One record of a table by id, or undefined (also when newer than `maxVersion`, a snapshot bound). */
  getById(tableId: number, id: bigint, maxVersion?: bigint): Promise<IndexedRecord | undefined> {
    return this.index.getById(tableId, id, maxVersion);
  }

  /** One shard key's records, ordered by event time then id, in non-empty pages. */
  scanKey(query: KeyRangeQuery): AsyncGenerator<readonly IndexedRecord[]> {
    return this.index.scanKey(query);
  }

  /** Records of one shard (of every table, or of one), in key order, resuming after `after`, in non-empty pages. */
  scanShard(shard: number, options: ShardScan = {}): AsyncGenerator<readonly IndexedRecord[]> {
    return this.index.scanShard(shard, options);
  }

  /** One table's primary/dedupe-key entries in one shard as [P key, value], in key order after `after`, in non-empty pages. */
  scanKeyEntries(shard: number, tableId: number, after?: Buffer): AsyncGenerator<readonly (readonly [Buffer, Uint8Array])[]> {
    return this.index.scanKeyEntries(shard, tableId, after);
  }

  /** Every record of a table (at most `maxVersion`, a snapshot bound, when given), shard by shard, in non-empty pages. */
  scanTable(tableId: number, maxVersion?: bigint): AsyncGenerator<readonly IndexedRecord[]> {
    return this.index.scanTable(tableId, this.shards, maxVersion);
  }

  /** Stored values of the given record keys (undefined where absent). */
  getRecords(recordKeys: readonly Buffer[]): Promise<(Uint8Array | undefined)[]> {
    return this.index.getRecords(recordKeys);
  }

  /** The primary or dedupe key each record was written with, where the index keeps it (repair sends it along). */
  dedupeKeysOf(recordKeys: readonly Buffer[]): Promise<(Buffer | undefined)[]> {
    return this.index.dedupeKeysOf(recordKeys);
  }

  /** The current id and version of each primary key (undefined where absent). */
  lookupPks(lookups: readonly { shard: number; tableId: number; pk: Buffer }[]): Promise<(PkEntry | undefined)[]> {
    return this.index.lookupPks(lookups);
  }

  /** The greatest primary/dedupe key of a table in [low, high] over every shard (keys of equal length). */
  async highestPk(tableId: number, low: string, high: string): Promise<string | undefined> {
    // Shards' seeks side by side, HIGHEST_PK_SEEKS_PARALLEL at a time: one after another, a source's first
    // write waited 16 thread-pool round trips per new prefix; all at once, 4,096 shards would open as many iterators.
    let best: string | undefined;
    let next = 0;
    const lane = async (): Promise<void> => {
      while (next < this.shards) {
        const key = await this.index.highestPk(next++, tableId, low, high);
        if (key !== undefined && (best === undefined || key > best)) best = key;
      }
    };
    await Promise.all(Array.from({ length: Math.min(HIGHEST_PK_SEEKS_PARALLEL, this.shards) }, lane));
    return best;
  }

  /** Whether the index holds any record of one table's shard. */
  holds(range: TableShard): Promise<boolean> {
    return this.index.holds(range);
  }

  /**
   * Deletes table shards this node no longer replicates (cleanup; see
   * IndexStore.dropRanges). The index is synced on both sides of it, so no
   * replay after a crash brings the ranges back: before, the WAL is
   * released past what is applied (a prepared batch held in memory would
   * otherwise keep replay starting before the ranges' records); after, the
   * deletes are durable (a power loss rolls LevelDB back to its last sync).
   * A failed sync rejects (STORAGE_IO or DISK_FULL): before, nothing is
   * dropped; after, the ranges are gone from the index but not durably, and
   * a rerun (which finds them gone and only syncs) completes it.
   */
  async dropRanges(ranges: readonly TableShard[], proceed?: () => boolean): Promise<{ records: number; complete: boolean; ranges: number }> {
    await this.syncIndex().catch((err: unknown) => {
      throw restated(err, 'cleanup did not start: the index sync before the drop failed, so the WAL may still replay the ranges');
    });
    const gone = await this.index.dropRanges(ranges, proceed);
    await this.syncIndex().catch((err: unknown) => {
      throw restated(err, `cleanup did not complete: ${gone.ranges} table shards (${gone.records} records) were dropped but the drop is not durable (a power loss brings them back); run cleanup again`);
    });
    return gone;
  }

  /** Waits until the index holds every write acknowledged before this call (or `lsn`). */
  readBarrier(timeoutMs: number, lsn: bigint = this.ackedLsn): Promise<void> {
    return this.applier.waitFor(lsn, timeoutMs);
  }

  /**
   * fsyncs the index and releases WAL segments it no longer needs: those
   * before the applied LSN and before every prepared batch held only in
   * memory, which are spilled to the index first (staged-payloads.ts).
   * Resolves once a sync that started after this call is over, so it covers
   * every index commit issued before it: a periodic sync already running may
   * have fsync'd before the caller's last commits (a drop's last chunks).
   */
  syncIndex(): Promise<void> {
    return this.syncs.runFresh();
  }

  /**
   * One index sync; a failure is logged and rejects (STORAGE_IO or
   * DISK_FULL): the WAL is kept, the next sync tries again, and a caller
   * that needs the sync (a drop) must not answer as if it happened.
   */
  private async syncOnce(): Promise<void> {
    const applied = this.applier.appliedLsn;
    try {
      await this.index.spill();
      await this.engine.sync();
      const floor = this.index.stagedFloor;
      await this.wal.releaseBefore(floor !== undefined && floor <= applied ? floor : applied + 1n);
    } catch (err) {
      this.log.error({ err }, 'index sync failed');
      throw storageError('index sync failed', err);
    }
  }

  /**
   * The id every generator of this node must issue above: the index's
   * highest, or the time ceiling a previous run left, whichever is higher
   * (ids this node stamped for other nodes' shards are not in its index).
   */
  get idFloor(): bigint {
    const previous = this.timeCeiling.previousMs;
    const ceilingFloor = previous === undefined ? 0n : snowflakeFloorAt(previous);
    return ceilingFloor > this.maxIdAtOpen ? ceilingFloor : this.maxIdAtOpen;
  }

  /** Flushes the WAL, applies what is queued, syncs the index and closes; idempotent. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.timeCeiling.close();
    if (this.syncTimer !== undefined) clearInterval(this.syncTimer);
    clearInterval(this.sweepTimer);
    await this.wal.close();
    await this.applier.drained();
    await this.syncs.idle();
    try {
      await this.engine.sync();
    } finally {
      await this.engine.close();
      this.lock.release();
    }
  }
}

async function replayWal(wal: Wal, index: IndexStore, from: bigint, checkpoint: bigint, commitsInFlightMax: number, log: Logger): Promise<ReplayReport> {
  const started = performance.now();
  let frames = 0;
  let records = 0;
  let lastLog = started;
  // Index commits overlap as in normal operation (LMDB fsyncs each); memory is
  // bounded by commitsInFlightMax replay batches of replayBatchBytesMax.
  const applying: Promise<ApplyStats>[] = [];
  const settleOne = async (): Promise<void> => {
    const stats = await (applying.shift() as Promise<ApplyStats>);
    records += stats.records;
  };
  await wal.replay(from, async (batch: readonly AppliedFrame[]) => {
    const applied = index.apply(batch);
    // Awaited in order below; this only keeps a later batch's early failure from being "unhandled".
    applied.catch(() => undefined);
    applying.push(applied);
    frames += batch.length;
    if (applying.length >= commitsInFlightMax) await settleOne();
    if (performance.now() - lastLog > 5000) {
      lastLog = performance.now();
      log.info({ event: 'wal_replay_progress', frames, records, lsn: String(batch.at(-1)?.lsn) }, 'replaying WAL');
    }
  });
  while (applying.length > 0) await settleOne();
  const report: ReplayReport = { fromLsn: from, toLsn: wal.lastLsn, frames, records, ms: performance.now() - started };
  if (wal.lastLsn < checkpoint) {
    throw new SluiceError('WAL_CORRUPT', `the index is at LSN ${checkpoint} but the WAL ends at ${wal.lastLsn}: WAL segments are missing`);
  }
  log.info({ event: 'wal_replayed', ...jsonSafe(report) }, 'WAL replayed');
  return report;
}

/**
 * Runs the closes of a failed open, last opened first. Each one runs even
 * when an earlier one fails: a failure is only logged, since the caller
 * must get the error that made the open fail.
 */
async function closeAll(closes: readonly (() => unknown)[], log: Logger): Promise<void> {
  for (const close of [...closes].reverse()) {
    try {
      await close();
    } catch (err) {
      log.warn({ err }, 'closing a part of a failed store open failed');
    }
  }
}

/** `err` as a SluiceError of the same code, its message prefixed with what it means to the caller. */
function restated(err: unknown, what: string): SluiceError {
  const e = storageError('index sync failed', err);
  return new SluiceError(e.code, `${what}: ${e.message}`, e.details, { cause: e });
}

/** Makes bigint fields loggable. */
function jsonSafe(value: object): Record<string, unknown> {
  return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, typeof v === 'bigint' ? String(v) : v]));
}
