/**
 * The storage of one node: WAL (source of truth) + index (materialized view)
 * + catalog. Opening it runs crash recovery: the WAL repairs a torn tail,
 * then every frame after the index's checkpoint is replayed in bounded
 * batches. Writes are appended to the WAL (group commit, fdatasync) and
 * applied to the index asynchronously; `readBarrier` lets a read wait for
 * every acknowledged write.
 */
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import type { Logger } from 'pino';
import type { NodeConfig } from '../config.ts';
import type { TableDef } from '../core/schema/table-def.ts';
import { SluiceError } from '../core/errors.ts';
import { Catalog } from './catalog.ts';
import { NODE_META_FORMAT, checkNodeMeta } from './node-meta.ts';
import { upgradeIndexFormat } from './index/index-format.ts';
import { lockDataDir, type DirLock } from './dir-lock.ts';
import { openEngine } from './engine/open-engine.ts';
import type { StorageEngine } from './engine/storage-engine.ts';
import { IndexStore, type ApplyStats } from './index/index-store.ts';
import { Applier } from './index/applier.ts';
import { PkResolver } from './index/pk-resolver.ts';
import { FRAME_TYPES, type AppliedFrame } from './frame-types.ts';
import { Wal } from './wal/wal.ts';

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
>;

/** WAL + index + catalog of one node. */
export class LocalStore {
  readonly catalog: Catalog;
  readonly index: IndexStore;
  readonly pks: PkResolver;
  readonly replay: ReplayReport;
  /** Largest id found in the index after recovery. */
  readonly maxIdAtOpen: bigint;
  private readonly wal: Wal;
  private readonly engine: StorageEngine;
  private readonly applier: Applier;
  private readonly log: Logger;
  private ackedLsn: bigint;
  private syncTimer: NodeJS.Timeout | undefined;
  private syncing: Promise<void> | undefined;
  private closed = false;
  private readonly lock: DirLock;

  private constructor(parts: {
    catalog: Catalog;
    engine: StorageEngine;
    index: IndexStore;
    wal: Wal;
    replay: ReplayReport;
    maxId: bigint;
    config: StoreConfig;
    hooks: StoreHooks;
    log: Logger;
    lock: DirLock;
  }) {
    this.lock = parts.lock;
    this.catalog = parts.catalog;
    this.engine = parts.engine;
    this.index = parts.index;
    this.wal = parts.wal;
    this.replay = parts.replay;
    this.maxIdAtOpen = parts.maxId;
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
    this.syncTimer = setInterval(() => void this.syncIndex(), parts.config.indexSyncIntervalMs);
    this.syncTimer.unref();
  }

  /** Opens (and recovers) the storage under `config.dataDir`. */
  static async open(config: StoreConfig, builtins: readonly TableDef[], hooks: StoreHooks, log: Logger): Promise<LocalStore> {
    await mkdir(config.dataDir, { recursive: true });
    const lock = lockDataDir(config.dataDir);
    let engine: StorageEngine | undefined;
    try {
      const meta = await checkNodeMeta(config.dataDir, { shards: config.shards, engine: config.engine }, Date.now());
      const catalog = await Catalog.open(config.dataDir, builtins, Date.now());
      engine = await openEngine(meta.engine, { dir: path.join(config.dataDir, 'index', meta.engine) });
      if (meta.format !== NODE_META_FORMAT) {
        const { moved } = await upgradeIndexFormat(config.dataDir, meta, engine);
        log.info({ event: 'index_migrated', idBlocks: moved, format: NODE_META_FORMAT }, 'index id blocks rewritten for the current format');
      }
      const index = new IndexStore(engine);
      const checkpoint = await engine.checkpointLsn();
      const wal = await Wal.open({
        dir: path.join(config.dataDir, 'wal'),
        segmentBytesMax: config.walSegmentBytesMax,
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
        frameBytesMax: Math.max(64 * 1024 * 1024, 4 * config.bodyBytesMax),
        ...(hooks.onWalFlush ? { onFlush: hooks.onWalFlush } : {}),
      });
      const recovered = { event: 'wal_recovered', ...jsonSafe(wal.recovery), indexCheckpoint: String(checkpoint) };
      if (wal.recovery.corruption !== null) log.error(recovered, 'WAL recovered by discarding corrupt frames: data after the cut is lost');
      else log.info(recovered, 'WAL recovered');
      const replay = await replayWal(wal, index, checkpoint, config.applyCommitsInFlightMax, log);
      const maxId = await index.maxId();
      return new LocalStore({ catalog, engine, index, wal, replay, maxId, config, hooks, log, lock });
    } catch (err) {
      await engine?.close();
      lock.release();
      throw err;
    }
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

  /** Frames durable but not yet in the index. */
  get applyLagFrames(): number {
    return this.applier.lagFrames;
  }

  /**
   * Appends a stamped record batch to the WAL; resolves with its LSN once it
   * is fsync'd. The batch is then applied to the index; `onIndexed` runs when
   * it is (so callers can hold admission until then).
   */
  async appendRecords(batch: Uint8Array, records: number, onIndexed?: () => void): Promise<bigint> {
    let lsn: bigint;
    try {
      lsn = await this.wal.append(FRAME_TYPES.RECORDS, batch);
    } catch (err) {
      onIndexed?.();
      throw err;
    }
    if (lsn > this.ackedLsn) this.ackedLsn = lsn;
    this.applier.enqueue({ lsn, type: FRAME_TYPES.RECORDS, payload: batch }, records, onIndexed);
    return lsn;
  }

  /** Waits until the index holds every write acknowledged before this call (or `lsn`). */
  readBarrier(timeoutMs: number, lsn: bigint = this.ackedLsn): Promise<void> {
    return this.applier.waitFor(lsn, timeoutMs);
  }

  /** fsyncs the index and releases WAL segments it no longer needs. */
  async syncIndex(): Promise<void> {
    if (this.syncing !== undefined) return this.syncing;
    const run = async (): Promise<void> => {
      const applied = this.applier.appliedLsn;
      try {
        await this.engine.sync();
        await this.wal.releaseBefore(applied + 1n);
      } catch (err) {
        this.log.error({ err }, 'index sync failed');
      }
    };
    this.syncing = run().finally(() => {
      this.syncing = undefined;
    });
    return this.syncing;
  }

  /** Flushes the WAL, applies what is queued, syncs the index and closes; idempotent. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.syncTimer !== undefined) clearInterval(this.syncTimer);
    await this.wal.close();
    await this.applier.drained();
    await this.syncing;
    try {
      await this.engine.sync();
    } finally {
      await this.engine.close();
      this.lock.release();
    }
  }
}

async function replayWal(wal: Wal, index: IndexStore, checkpoint: bigint, commitsInFlightMax: number, log: Logger): Promise<ReplayReport> {
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
  await wal.replay(checkpoint + 1n, async (batch: readonly AppliedFrame[]) => {
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
  const report: ReplayReport = { fromLsn: checkpoint + 1n, toLsn: wal.lastLsn, frames, records, ms: performance.now() - started };
  if (wal.lastLsn < checkpoint) {
    throw new SluiceError('WAL_CORRUPT', `the index is at LSN ${checkpoint} but the WAL ends at ${wal.lastLsn}: WAL segments are missing`);
  }
  log.info({ event: 'wal_replayed', ...jsonSafe(report) }, 'WAL replayed');
  return report;
}

/** Makes bigint fields loggable. */
function jsonSafe(value: object): Record<string, unknown> {
  return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, typeof v === 'bigint' ? String(v) : v]));
}
