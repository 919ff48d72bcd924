/**
 * The index: a materialized view of the WAL in a StorageEngine. `apply`
 * turns WAL frames into key-value writes (one engine batch, checkpointed
 * with the last frame's LSN); IndexReader (index-reader.ts) answers by id,
 * by shard key and time range, and by table scan. Maintenance (dropping
 * ranges, migrating id blocks, sweeping done markers) runs between apply
 * batches.
 */
import { RecordBatchReader } from '../../core/codec/record-batch-v1.ts';
import type { StorageEngine, WriteBatch } from '../engine/storage-engine.ts';
import { FRAME_TYPES, type AppliedFrame } from '../frame-types.ts';
import {
  idKey,
  idKeyOf,
  idValue,
  pkKey,
  pkInRecordKeyMark,
  pkValue,
  PREFIX_RECORD,
  prefixEnd,
  recordKeyId,
  recordKey,
  recordKeySpared,
  txDoneKey,
  txStagedKey,
  REPLAY_FLOOR_KEY,
  PREFIX_TX_DONE,
  type PkEntry,
} from './key-layout.ts';
import { committedBatch, decodeAbort, decodeCommit, decodeDone, decodePrepare, encodeDone, prepareTxid } from '../tx/tx-frame-v1.ts';
import { IndexReader, tableShardPrefixes, type TableShard } from './index-reader.ts';
import { StagedPayloads } from '../tx/staged-payloads.ts';
import { encodeLsn } from '../engine/lsn-bytes.ts';
export type { IndexedRecord, KeyRangeQuery, ShardScan, TableShard } from './index-reader.ts';
import { PREFIX_ID_BLOCK, filterIdBlock, idBlockKeyLastId, idBlockLanePrefix, idFloorBlock, migrateIdBlockKey, type IdBlockBuilder } from './id-block.ts';
import { planIdBlocks, type IdBlockPlan } from './id-block-plan.ts';
import { LaneRanges } from './lane-ranges.ts';
import { KeyBlockBuilder, keyBlocksMark } from './key-block.ts';
import { SupersededRecords, attachTieValues, type HeldPkEntry } from './pk-ties.ts';
import { compareWrites } from '../../core/last-writer-wins.ts';

/** What `apply` did, for metrics. */
export interface ApplyStats {
  readonly records: number;
  /** Records that replaced an older version of the same primary key. */
  readonly upserts: number;
  /** Records older (by version) than what the index has: not applied. */
  readonly stale: number;
}

/** Keys deleted per engine commit when dropping ranges, so applies interleave. */
const DROP_CHUNK_KEYS = 5_000;
/**
 * Id-block bytes read per engine commit of a pass over the id blocks (a
 * drop's, the format-1 migration; at least one block): rewritten blocks are
 * held until the commit, and 5,000 blocks of frames of 64 MiB would be gigabytes.
 */
const DROP_CHUNK_BLOCK_BYTES_MAX = 16 * 1024 * 1024;

/** Applies WAL frames to an engine (reading it back is IndexReader's). */
export class IndexStore extends IndexReader {
  /** Primary keys written by batches built but not yet committed (key → entry, building batch). */
  private readonly pkOverlay = new Map<string, { entry: HeldPkEntry; seq: number }>();
  private building: Promise<unknown> = Promise.resolve();
  /**
   * Commits of batches whose fresh keys went to the engine without the
   * overlay (the lean path). A later batch that looks keys up waits for them,
   * so the engine read sees those keys.
   */
  private readonly leanCommits = new Set<Promise<unknown>>();
  /** Prepared payloads applied and not yet decided, held in memory (staged-payloads.ts). */
  private readonly staged = new StagedPayloads();
  /** The replay floor the newest build wrote (null before the first). */
  private floorWritten: bigint | undefined | null = null;
  private buildSeq = 0;
  /** LSN of the newest commit issued (a drop commits with it: it applies no frame). */
  private issuedLsn: bigint | undefined;
  /** Where the id blocks of each lane (worker id) lie, loaded when a lane is first met. */
  private readonly laneRanges = new LaneRanges((lane) => this.lastIdBlockId(lane));

  constructor(engine: StorageEngine) {
    super(engine);
  }

  /**
   * Applies frames (in LSN order) as one atomic engine commit checkpointed at
   * the last LSN. Calls may overlap: batches are built one after another
   * (each sees the primary keys of every earlier batch through `pkOverlay`)
   * while their commits, which the engine orders, run concurrently.
   */
  apply(frames: readonly AppliedFrame[]): Promise<ApplyStats> {
    const last = frames.at(-1);
    if (last === undefined) return Promise.resolve({ records: 0, upserts: 0, stale: 0 });
    const built = this.building.then(() => this.build(frames));
    this.building = built.catch(() => undefined);
    return built.then(async ({ batch, stats, seq, written, lean }) => {
      this.issuedLsn = last.lsn;
      const commit = batch.commit(last.lsn);
      if (lean) {
        const tracked = commit.catch(() => undefined).finally(() => this.leanCommits.delete(tracked));
        this.leanCommits.add(tracked);
      }
      try {
        await commit;
      } finally {
        // Committed (or failed for good): later builds read these keys from the engine.
        for (const key of written) if (this.pkOverlay.get(key)?.seq === seq) this.pkOverlay.delete(key);
      }
      return stats;
    });
  }

  private async build(frames: readonly AppliedFrame[]): Promise<{ batch: WriteBatch; stats: ApplyStats; seq: number; written: string[]; lean: boolean }> {
    const seq = ++this.buildSeq;
    const steps = await this.resolveFrames(frames);
    const { entries: pkEntries, lookedUp, superseded } = await this.loadPkEntries(steps);
    // Nothing in this build looks a key up: fresh keys need neither the map nor the overlay.
    const marked = await this.pkInRecordKeyTables();
    const keyBlocks = await this.keyBlockTables();
    const ctx: BuildContext = { batch: this.engine.batch(), pkEntries, leanFresh: !lookedUp, lean: false, marked, keyBlocks, written: [], seq, records: 0, upserts: 0, stale: 0 };
    const readers = steps.flatMap((step) => (step.records === undefined ? [] : [new RecordBatchReader(step.records)]));
    const plans = await planIdBlocks(readers, this.laneRanges);
    let next = 0;
    for (const step of steps) {
      if (step.records !== undefined) {
        this.applyRecords(readers[next] as RecordBatchReader, (plans[next] as IdBlockPlan).block, ctx, superseded[next]);
        next++;
      }
      for (const op of step.txOps) {
        if (op.value === undefined) ctx.batch.del(op.key);
        else ctx.batch.put(op.key, op.value);
      }
    }
    // A merged block is written once, after the last of its frames.
    for (const block of new Set(plans.map((p) => p.block))) {
      if (block === undefined || block.count === 0) continue;
      const { key, value } = block.finish();
      ctx.batch.put(key, value);
    }
    this.writeFloor(ctx.batch);
    const stats = { records: ctx.records, upserts: ctx.upserts, stale: ctx.stale };
    return { batch: ctx.batch, stats, seq, written: ctx.written, lean: ctx.lean };
  }

  /** Records the replay floor in `batch` when it moved (it commits with the checkpoint). */
  private writeFloor(batch: WriteBatch): void {
    const floor = this.staged.floor;
    if (floor === this.floorWritten) return;
    if (floor === undefined) batch.del(REPLAY_FLOOR_KEY);
    else batch.put(REPLAY_FLOOR_KEY, encodeLsn(floor));
    this.floorWritten = floor;
  }

  /** The LSN before which no PREPARE is held only in memory (undefined: none is): the WAL may go up to it. */
  get stagedFloor(): bigint | undefined {
    return this.staged.floor;
  }

  /**
   * Writes every prepared payload held only in memory under `T | txid`, so
   * the replay floor no longer holds the WAL back for them (at each index
   * sync: a batch undecided that long may stay so). Returns how many.
   */
  spill(): Promise<number> {
    return this.exclusive(async (batch) => {
      const held = this.staged.unspilled();
      for (const [txid, payload] of held) batch.put(txStagedKey(txid), payload);
      this.staged.markSpilled(held.map(([txid]) => txid));
      this.writeFloor(batch);
      return held.length;
    });
  }

  /** Payloads of every prepared, undecided batch: those held in memory and those spilled to the index. */
  override async *stagedTxs(): AsyncGenerator<Uint8Array> {
    for (const [, payload] of this.staged.unspilled()) yield payload;
    yield* super.stagedTxs();
  }

  /**
   * What each frame writes: a RECORDS frame its records; a TX_PREPARE
   * nothing (its payload is held in memory until decided, or spilled:
   * staged-payloads.ts); a TX_COMMIT the staged records with their commit
   * version, a done marker and, when it was spilled, the delete of its
   * `T | txid` entry, in the same engine commit; a TX_ABORT only the marker
   * (and the delete). A COMMIT with nothing staged here (this replica never
   * prepared: its records arrive as a hint) writes the marker alone, and a
   * PREPARE after its batch's outcome (one that overtook it, in a WAL
   * written before TxLog refused such a PREPARE) stages nothing.
   * Replaying any prefix of the WAL again is idempotent.
   */
  private async resolveFrames(frames: readonly AppliedFrame[]): Promise<BuildStep[]> {
    const steps: BuildStep[] = [];
    const nowMs = Date.now();
    const decided = new Set<bigint>();
    for (const frame of frames) {
      if (frame.type === FRAME_TYPES.RECORDS) {
        steps.push({ records: frame.payload, txOps: [] });
      } else if (frame.type === FRAME_TYPES.TX_PREPARE) {
        const txid = prepareTxid(frame.payload);
        if (!decided.has(txid) && (await this.txDone(txid)) === undefined) this.staged.add(txid, frame.payload, frame.lsn);
      } else if (frame.type === FRAME_TYPES.TX_COMMIT) {
        const { txid, cv } = decodeCommit(frame.payload);
        decided.add(txid);
        const { payload, ops } = await this.takeStaged(txid);
        const done = { key: txDoneKey(txid), value: encodeDone({ outcome: 'committed', atMs: nowMs, cv }) };
        steps.push({ ...(payload === undefined ? {} : { records: committedBatch(decodePrepare(payload).batch, cv) }), txOps: [...ops, done] });
      } else if (frame.type === FRAME_TYPES.TX_ABORT) {
        const { txid } = decodeAbort(frame.payload);
        decided.add(txid);
        const { ops } = await this.takeStaged(txid);
        steps.push({ txOps: [...ops, { key: txDoneKey(txid), value: encodeDone({ outcome: 'aborted', atMs: nowMs, cv: 0n }) }] });
      }
    }
    return steps;
  }

  /**
   * A decided batch's staged payload: from memory, or from its spilled
   * `T | txid` entry (then deleted with the outcome). Also after a replay
   * from the floor, where the payload may be neither (already applied).
   */
  private async takeStaged(txid: bigint): Promise<{ payload: Uint8Array | undefined; ops: { key: Buffer }[] }> {
    const held = this.staged.take(txid);
    if (held !== undefined && !held.spilled) return { payload: held.payload, ops: [] };
    return { payload: held?.payload ?? (await this.engine.get(txStagedKey(txid))), ops: [{ key: txStagedKey(txid) }] };
  }

  /**
   * Puts one record batch's records, primary keys and id entries into the build's engine batch; its append-only ids go to
   * `block` (planned: id-block-plan.ts), or to per-record entries without one. Records at `superseded` positions are left out.
   */
  private applyRecords(r: RecordBatchReader, block: IdBlockBuilder | undefined, ctx: BuildContext, superseded: ReadonlySet<number> | undefined): void {
    const { batch, pkEntries } = ctx;
    const buf = r.buf;
    const fresh = r.freshKeys;
    // Minted keys that are the shard key: the record key finds them, no P entry (key-layout.ts "pk-in-rk").
    const pkInKey = fresh && ctx.leanFresh && r.pkInRecordKey;
    if (pkInKey && !ctx.marked.has(r.tableId)) {
      // The mark commits with the first records that need it; lookups seek from then on.
      batch.put(pkInRecordKeyMark(r.tableId), MARK_VALUE);
      ctx.marked.add(r.tableId);
    }
    const keyBlocks = fresh && ctx.leanFresh && !pkInKey && r.fencedDigits > 0 ? this.keyBlocksFor(r, ctx) : undefined;
    while (r.next()) {
      ctx.records++;
      // A fresh source-numbered key (Kafka's, a file's) goes into a key block (accepts() is false without a key).
      const blockKey = keyBlocks?.accepts(r.pkLen) === true;
      if (block !== undefined && (r.pkLen === 0 || blockKey)) {
        // The common record (append-only, or its key in a key block; its id in its id block): one key buffer,
        // which the engine prefixes in place.
        if (blockKey) {
          keyBlocks?.add(r.shard, r.pkOffset, r.pkLen, r.idOffset, r.valueOffset, r.keyOffset, r.keyLen, r.timeKeyOffset);
          ctx.lean = true;
        }
        batch.putSpared(recordKeySpared(r.shard, r.tableId, buf, r.keyOffset, r.keyLen, r.timeKeyOffset, r.idOffset), r.value);
        block.add(buf, r.idOffset, r.shard, r.keyOffset, r.keyLen, r.timeKeyOffset);
        continue;
      }
      const rk = recordKey(r.shard, r.tableId, buf, r.keyOffset, r.keyLen, r.timeKeyOffset, r.idOffset);
      if (r.pkLen > 0 && fresh && ctx.leanFresh) {
        if (blockKey) keyBlocks?.add(r.shard, r.pkOffset, r.pkLen, r.idOffset, r.valueOffset, r.keyOffset, r.keyLen, r.timeKeyOffset);
        else if (!pkInKey) batch.put(pkKey(r.shard, r.tableId, buf.subarray(r.pkOffset, r.pkOffset + r.pkLen)), pkValue(buf, r.idOffset, buf, r.valueOffset, rk));
        ctx.lean = true;
      } else if (r.pkLen > 0) {
        // A later record of this batch with the same key and version is the one the batch means (pk-ties.ts).
        if (superseded?.has(r.position) === true) {
          ctx.stale++;
          continue;
        }
        const pkk = pkKey(r.shard, r.tableId, buf.subarray(r.pkOffset, r.pkOffset + r.pkLen));
        const mapKey = pkk.toString('latin1');
        const existing = pkEntries.get(mapKey);
        const version = r.version;
        if (existing !== undefined) {
          // Last writer wins on the HLC version; an equal one is broken the same way on every replica, and the
          // same write again (a replay) wins over itself (core/last-writer-wins.ts).
          if (existing.version > version || (existing.version === version && compareWrites(existing, { version, id: r.id, value: r.value, recordKey: rk }) > 0)) {
            ctx.stale++;
            continue;
          }
          if (!existing.recordKey.equals(rk)) batch.del(existing.recordKey);
          if (existing.id !== r.id) batch.del(idKeyOf(existing.id));
          ctx.upserts++;
        }
        batch.put(pkk, pkValue(buf, r.idOffset, buf, r.valueOffset, rk));
        // The value rides along (a view of the frame, held until its commit) for a tie with a later write.
        const entry = { id: r.id, version, recordKey: rk, value: r.value };
        pkEntries.set(mapKey, entry);
        this.pkOverlay.set(mapKey, { entry, seq: ctx.seq });
        ctx.written.push(mapKey);
      }
      batch.put(rk, r.value);
      // Append-only records (fresh keys included) are found through their frame's id block; upserted
      // ones reuse an older id that no block range covers, so they keep a per-record entry.
      if ((r.pkLen === 0 || fresh) && block !== undefined) block.add(buf, r.idOffset, r.shard, r.keyOffset, r.keyLen, r.timeKeyOffset);
      // The entry keeps the record's key too: repair sends it with the record (decision 54).
      else batch.put(idKey(buf, r.idOffset), idValue(rk, r.pkLen > 0 ? buf.subarray(r.pkOffset, r.pkOffset + r.pkLen) : undefined));
    }
    for (const { key, value } of keyBlocks?.finish() ?? []) batch.put(key, value);
  }

  /** A fenced batch's key blocks; marks the table (and digit count) first, in the same commit, as lookups need. */
  private keyBlocksFor(r: RecordBatchReader, ctx: BuildContext): KeyBlockBuilder {
    const digits = r.fencedDigits;
    let known = ctx.keyBlocks.get(r.tableId);
    if (known?.has(digits) !== true) {
      ctx.batch.put(keyBlocksMark(r.tableId, digits), MARK_VALUE);
      known ??= new Set<number>();
      known.add(digits);
      ctx.keyBlocks.set(r.tableId, known);
    }
    return new KeyBlockBuilder(r.tableId, digits, r.buf);
  }

  /** The last id of the newest stored id block of a lane (0n when none). */
  private async lastIdBlockId(lane: number): Promise<bigint> {
    const p = idBlockLanePrefix(lane);
    let last = 0n;
    for await (const [k] of this.engine.iterate({ gt: p, lt: prefixEnd(p), reverse: true, limit: 1 })) last = idBlockKeyLastId(k);
    return last;
  }

  /**
   * Rewrites format-1 id-block keys (`B | lastId`, one lane for every id)
   * as `B | lane | lastId`; what a data dir of format 1 needs once, before
   * anything is applied. In bounded chunks (`rewriteIdBlocks`), each moving
   * its blocks in one commit: a crash in between leaves keys of both forms,
   * and a rerun (node.json says format 1 until the whole pass is synced:
   * index-format.ts) rewrites the rest. Returns the keys rewritten.
   */
  async migrateIdBlocks(): Promise<number> {
    let moved = 0;
    await this.rewriteIdBlocks((k, v, batch) => {
      const key = migrateIdBlockKey(k);
      // Already in today's form: moved by an earlier chunk, or by a run that was interrupted.
      if (key === undefined) return;
      batch.del(k);
      batch.put(key, v);
      moved++;
    });
    return moved;
  }

  /**
   * The current primary-key entries of every pk record in the frames: from
   * the overlay of uncommitted batches, else from the engine in one call.
   * The overlay is read before the engine read is issued, so a key whose
   * batch commits meanwhile is either still in the overlay or visible to
   * the engine read, never neither.
   */
  private async loadPkEntries(steps: readonly BuildStep[]): Promise<{ entries: Map<string, HeldPkEntry>; lookedUp: boolean; superseded: (ReadonlySet<number> | undefined)[] }> {
    const map = new Map<string, HeldPkEntry>();
    let lookedUp = false;
    const fetch: { mapKey: string; shard: number; tableId: number; pk: Buffer }[] = [];
    /** Per record batch of the build (fresh ones included), in order. */
    const superseded: (ReadonlySet<number> | undefined)[] = [];
    const tracker = new SupersededRecords();
    for (const step of steps) {
      if (step.records === undefined) continue;
      const r = new RecordBatchReader(step.records);
      // The writer vouched that these keys are new: nothing to look up (records past the dedupe fence).
      if (r.freshKeys) {
        superseded.push(undefined);
        continue;
      }
      while (r.next()) {
        if (r.pkLen === 0) continue;
        lookedUp = true;
        const pk = r.buf.subarray(r.pkOffset, r.pkOffset + r.pkLen);
        const key = pkKey(r.shard, r.tableId, pk);
        const s = key.toString('latin1');
        tracker.see(s, r.position, r.version);
        if (map.has(s)) continue;
        const pending = this.pkOverlay.get(s);
        // NO_ENTRY marks a key being fetched, so a repeated key is fetched once.
        map.set(s, pending?.entry ?? NO_ENTRY);
        if (pending === undefined) fetch.push({ mapKey: s, shard: r.shard, tableId: r.tableId, pk });
      }
      superseded.push(tracker.finish());
    }
    if (fetch.length > 0) {
      // Keys of lean fresh batches are in no overlay: read once they are committed.
      if (this.leanCommits.size > 0) await Promise.all(this.leanCommits);
      // The reader's lookup: P entries, else the record key in tables that leave P out.
      const entries = await this.pkEntries(fetch);
      const fromEngine = new Set<string>();
      entries.forEach((entry, i) => {
        const s = (fetch[i] as { mapKey: string }).mapKey;
        if (entry === undefined) map.delete(s);
        else {
          map.set(s, entry);
          fromEngine.add(s);
        }
      });
      await attachTieValues(this.engine, steps.flatMap((step) => (step.records === undefined ? [] : [step.records])), map, fromEngine);
    }
    return { entries: map, lookedUp, superseded };
  }

  /**
   * Deletes the records of the given table shards and every entry that
   * points at them (primary keys, per-record id entries, id-block
   * locations): what cleanup does to ranges this node no longer replicates.
   * Runs in chunks queued between apply batches, asking `proceed` before
   * each; when it says no, stops (`complete: false`): the first `ranges`
   * of the list are gone, the one in progress only partly. Id blocks lose
   * the locations of the ranges that are gone, in one pass at the end, so
   * no record still stored loses its id entry. The highest id the index
   * held stays known (`maxId`).
   */
  async dropRanges(ranges: readonly TableShard[], proceed: () => boolean = () => true): Promise<{ records: number; complete: boolean; ranges: number }> {
    if (ranges.length === 0) return { records: 0, complete: true, ranges: 0 };
    const floor = await this.maxId();
    let records = 0;
    let gone = 0;
    let complete = true;
    for (const { shard, tableId } of ranges) {
      for (const prefix of tableShardPrefixes({ shard, tableId })) {
        const isRecord = prefix[0] === PREFIX_RECORD;
        while (complete) {
          if (!proceed()) {
            complete = false;
            break;
          }
          const n = await this.exclusive(async (batch) => {
            let n = 0;
            for await (const [k] of this.engine.iterate({ gte: prefix, lt: prefixEnd(prefix), limit: DROP_CHUNK_KEYS })) {
              batch.del(k);
              // Per-record id entries exist for upserted and interleaved records; a missing one costs a lookup.
              if (isRecord) batch.del(idKeyOf(recordKeyId(k)));
              n++;
            }
            return n;
          });
          if (isRecord) records += n;
          if (n === 0) break;
        }
      }
      if (!complete) break;
      gone++;
    }
    await this.dropBlockLocations(new Set(ranges.slice(0, gone).map((r) => `${r.tableId}:${r.shard}`)));
    if ((await this.maxId()) < floor) {
      await this.exclusive(async (batch) => {
        const { key, value } = idFloorBlock(floor);
        batch.put(key, value);
      });
      // No later block may straddle the floor block: a lookup would seek to it and stop there.
      const { key } = idFloorBlock(floor);
      await this.laneRanges.claim(key.readUInt16BE(1), floor, floor);
    }
    return { records, complete, ranges: gone };
  }

  /** Rewrites every id block without the locations of the `dropped` ranges (`tableId:shard`). */
  private async dropBlockLocations(dropped: ReadonlySet<string>): Promise<void> {
    if (dropped.size === 0) return;
    await this.rewriteIdBlocks((k, v, batch) => {
      const kept = filterIdBlock(v, (tableId, shard) => dropped.has(`${tableId}:${shard}`));
      if (kept === undefined) batch.del(k);
      else if (kept !== v) batch.put(k, kept);
    });
  }

  /**
   * Hands every id block to `visit`, which queues its rewrite (if any) in
   * the engine batch of the block's chunk; chunks run between apply
   * batches. A chunk ends at DROP_CHUNK_KEYS blocks or once the blocks it
   * read pass DROP_CHUNK_BLOCK_BYTES_MAX: a block is as large as its
   * frame's records make it, and each rewritten one stays in the engine
   * batch until it commits. Blocks `visit` puts under new keys may be
   * visited again.
   */
  private async rewriteIdBlocks(visit: (key: Uint8Array, block: Uint8Array, batch: WriteBatch) => void): Promise<void> {
    const blocks = Buffer.from([PREFIX_ID_BLOCK]);
    let after: Uint8Array = blocks;
    let more = true;
    while (more) {
      more = await this.exclusive(async (batch) => {
        let seen = 0;
        let bytes = 0;
        for await (const [k, v] of this.engine.iterate({ gt: after, lt: prefixEnd(blocks), limit: DROP_CHUNK_KEYS })) {
          seen++;
          after = k;
          visit(k, v, batch);
          bytes += v.length;
          // Leaving the loop closes the iterator; the next chunk goes on after `after`.
          if (bytes >= DROP_CHUNK_BLOCK_BYTES_MAX) return true;
        }
        return seen === DROP_CHUNK_KEYS;
      });
    }
  }

  /**
   * Runs `fill` between apply batches (no build runs meanwhile, and every
   * earlier batch's commit is issued), then commits what it queued with the
   * newest issued LSN.
   */
  private exclusive<T>(fill: (batch: WriteBatch) => Promise<T>): Promise<T> {
    const run = this.building.then(async () => {
      const batch = this.engine.batch();
      const out = await fill(batch);
      if (batch.size > 0) await batch.commit((this.issuedLsn ??= await this.engine.checkpointLsn()));
      return out;
    });
    this.building = run.catch(() => undefined);
    return run;
  }

  /** Deletes done markers applied before `beforeMs`, in chunks between apply batches; returns how many. */
  async sweepDone(beforeMs: number): Promise<number> {
    const p = Buffer.from([PREFIX_TX_DONE]);
    let after: Uint8Array | undefined;
    let swept = 0;
    for (;;) {
      const seen = await this.exclusive(async (batch) => {
        let seen = 0;
        const range = after === undefined ? { gte: p } : { gt: after };
        for await (const [k, v] of this.engine.iterate({ ...range, lt: prefixEnd(p), limit: DROP_CHUNK_KEYS })) {
          seen++;
          after = k;
          if (decodeDone(v).atMs < beforeMs) {
            batch.del(k);
            swept++;
          }
        }
        return seen;
      });
      if (seen < DROP_CHUNK_KEYS) return swept;
    }
  }

}

/** What one frame writes (records, and transaction entries in frame order). */
interface BuildStep {
  /** A record batch to apply. */
  readonly records?: Uint8Array;
  /** Staged and done entries to put (value) or delete (no value). */
  readonly txOps: readonly { readonly key: Buffer; readonly value?: Buffer }[];
}

/** The state of one build: its engine batch and what it wrote. */
interface BuildContext {
  readonly batch: WriteBatch;
  readonly pkEntries: Map<string, HeldPkEntry>;
  readonly leanFresh: boolean;
  lean: boolean;
  /** Tables marked as holding records without a P entry (IndexReader's set: marking adds to it). */
  readonly marked: Set<number>;
  /** Tables holding key blocks, with their digit counts (IndexReader's map: marking adds to it). */
  readonly keyBlocks: Map<number, Set<number>>;
  readonly written: string[];
  readonly seq: number;
  records: number;
  upserts: number;
  stale: number;
}

/** The value of a mark (the key says it all; one byte rather than none, a value the engines are tested with). */
const MARK_VALUE = Buffer.from([1]);

/** Marks a key being fetched from the engine (never returned). */
const NO_ENTRY: PkEntry = { id: -1n, version: -1n, recordKey: Buffer.alloc(0) };
