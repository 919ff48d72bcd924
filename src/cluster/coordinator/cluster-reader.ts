/**
 * The read path of the cluster coordinator. Reads ask R replicas, merge by
 * id with last-writer-wins on the HLC version, and push what a replica
 * lacked back to it (read repair). A write token names the LSN each
 * acknowledging replica gave, so a read passing it waits on those replicas
 * until they have applied the write. Reads by id are in read-by-id.ts;
 * this file routes them and holds the range and export reads.
 */
import { REPLICA_PAGE_RECORDS_MAX, SCAN_REPLY_BYTES_MAX, hlcRemoteAheadMsMax } from '../../config.ts';
import { compareStoredRecords } from '../../core/last-writer-wins.ts';
import { SluiceError, isSluiceError } from '../../core/errors.ts';
import { HLC_LOGICAL_BITS, hlcFromParts, type Hlc } from '../../core/hlc.ts';
import { shardOf } from '../../core/murmur3.ts';
import { currentDef, type TableEntry } from '../../storage/catalog.ts';
import type { Placement } from '../placement/placement.ts';
import { batchOfRecords } from '../repair/record-batches.ts';
import { fetchPages } from '../repair/fetch-pages.ts';
import type { ReplicaMethods, ScanReply, WireRecord } from '../transport/replica-messages.ts';
import type { ReplicaTransport } from '../transport/replica-transport.ts';
import type { RangePage, RangeQuery, ReadOptions, ReadRecord } from './coordinator.ts';
import { cursorKey, encodeCursor } from './cursor.ts';
import type { Delivery } from './delivery.ts';
import { withoutMoved, type GetOnReplica } from './moved-records.ts';
import { readQuorum, type ReadOrder } from './quorum-reads.ts';
import { ReadById, asOfField, readRecordOf } from './read-by-id.ts';
import { decodeClusterToken, lsnFor, tokenVersion } from './read-token.ts';

/** Records per page when an export pages through a shard. */
const EXPORT_PAGE_RECORDS = 2_000;

/** The largest logical counter of a version: the last version of a ms. */
const HLC_LOGICAL_MAX = (1 << HLC_LOGICAL_BITS) - 1;

/** Reads again after a replica said the placement is stale (a transition is a few epochs at most). */
const STALE_RETRIES = 3;

export interface ClusterReaderDeps {
  readonly nodeId: string;
  readonly hlc: Hlc;
  readonly shards: number;
  readonly placement: () => Placement;
  /** Reads the placement from etcd now (after a replica said ours is stale). */
  readonly refreshPlacement: () => Promise<Placement>;
  readonly transport: ReplicaTransport;
  readonly delivery: Delivery;
  readonly replicaTimeoutMs: number;
  /** Longest a replica holds a snapshot read for undecided batches (--tx-read-wait-ms). */
  readonly snapshotWaitMs: number;
  /** Bound on the clock offset between nodes (--max-clock-offset-ms). */
  readonly maxClockOffsetMs: number;
  readonly onReadRepair?: (target: string, records: number) => void;
}

/** Quorum reads with read repair. */
export class ClusterReader {
  private readonly d: ClusterReaderDeps;
  private readonly order: ReadOrder;
  private readonly byId: ReadById;

  constructor(deps: ClusterReaderDeps) {
    this.d = deps;
    this.order = { self: deps.nodeId, isUp: (n) => deps.delivery.isUp(n) };
    const { transport, delivery, replicaTimeoutMs } = deps;
    this.byId = new ReadById({ transport, delivery, replicaTimeoutMs, call: (node, method, request) => this.call(node, method, request), repair: (...args) => this.repair(...args) });
  }

  /** One record by id, newest version among R replicas of its shard, or undefined. */
  async getById(entry: TableEntry, id: bigint, options: ReadOptions = {}): Promise<ReadRecord | undefined> {
    return (await this.routed((placement) => this.byId.read(placement, entry, id, options))).value;
  }

  /** One page of a shard key's records in event-time order, merged from R replicas. */
  async queryRange(entry: TableEntry, query: RangeQuery): Promise<RangePage> {
    return (await this.routed((placement) => this.queryRangeIn(placement, entry, query))).value;
  }

  /** `queryRange` on the replicas of one placement. */
  private async queryRangeIn(placement: Placement, entry: TableEntry, query: RangeQuery): Promise<RangePage> {
    const token = decodeClusterToken(query.token);
    const rf = currentDef(entry).replicationFactor;
    const keyBuf = Buffer.from(query.key, 'utf8');
    const shard = shardOf(query.key, this.d.shards);
    const after = query.cursor === undefined ? undefined : cursorKey(shard, entry.id, keyBuf, query.cursor);
    const replicas = placement.replicas(shard, rf);
    // The one record past the page (that says another follows) must fit what a replica returns; the page then ends sooner.
    const limit = Math.min(query.limit, REPLICA_PAGE_RECORDS_MAX - 1);
    const answers = await readQuorum(replicas, query.consistency ?? 'quorum', token, this.order, (node) =>
      this.call(node, 'Scan', {
        tableId: entry.id,
        shard,
        key: keyBuf,
        limit: limit + 1,
        ...(query.fromMs === undefined ? {} : { fromMs: query.fromMs }),
        ...(query.toMs === undefined ? {} : { toMs: query.toMs }),
        ...(after === undefined ? {} : { after }),
        ...lsnFor(token, node),
        ...asOfField(query.asOf),
        epoch: placement.epoch,
        replyBytesMax: SCAN_REPLY_BYTES_MAX,
      }),
    );
    const pages = answers.map((a) => ({ node: a.node, records: a.reply.records, full: a.reply.records.length > limit || a.reply.more === true }));
    const horizon = horizonOf(answers.map((a) => a.reply));
    const candidates = upTo(mergeNewest(pages.map((p) => p.records), limit + 1), horizon);
    const { records: merged, dropped } = await withoutMoved(pages, candidates, this.getOn(placement, entry, token, query.asOf));
    if (answers.length > 1 && merged.length > 0) {
      for (const p of pages) {
        const missing = lackedBy(p.records, p.full, merged);
        if (missing.length > 0) this.repair(entry, [p.node], missing, pages.filter((q) => q !== p).map((q) => q.node));
      }
    }
    // A dropped record may leave the page short while a replica had more: page on from the last record kept.
    const more = merged.length > limit || (dropped > 0 && pages.some((p) => p.full)) || horizon !== undefined;
    const page = merged.slice(0, limit);
    // A page left empty below the horizon (all of it superseded) pages on from the horizon.
    const resume = page.at(-1)?.[0] ?? horizon;
    return { records: page.map(readRecordOf), nextCursor: more && resume !== undefined ? encodeCursor(resume) : null, cursorAfter: (i) => encodeCursor((page[i] as (typeof page)[number])[0]) };
  }

  /**
   * Every record of a table, shard by shard, in pages: each shard from one replica
   * (this node when it holds it), or, for a snapshot, merged from a quorum
   * of them: a replica that missed an atomic batch's PREPARE (hinted later)
   * could otherwise show one shard without it while another shard shows it.
   */
  async *scanTable(entry: TableEntry, options: ReadOptions = {}): AsyncGenerator<readonly ReadRecord[]> {
    const token = decodeClusterToken(options.token);
    let placement = this.d.placement();
    const rf = currentDef(entry).replicationFactor;
    const asOf = asOfField(options.asOf);
    const consistency = options.consistency ?? (options.asOf === undefined ? 'one' : 'quorum');
    for (let shard = 0; shard < this.d.shards; shard++) {
      let after: Buffer | undefined;
      for (;;) {
        // A page of a ring that switched meanwhile is read again from the new one, from the same record on.
        // The Gets of records the replicas disagree on are reads of that ring too: the page is merged inside.
        const read = await this.routed(async (p) => {
          const answers = await readQuorum(p.replicas(shard, rf), consistency, token, this.order, (node) =>
            this.call(node, 'ScanShard', { tableId: entry.id, shard, limit: EXPORT_PAGE_RECORDS, ...(after === undefined ? {} : { after }), ...asOf, epoch: p.epoch, replyBytesMax: SCAN_REPLY_BYTES_MAX }),
          );
          return this.mergedShardPage(p, entry, token, options.asOf, answers);
        }, placement);
        placement = read.placement;
        const { records, resume, full } = read.value;
        if (records.length > 0) yield records.map(readRecordOf);
        if (!full || resume === undefined) break;
        after = resume;
      }
    }
  }

  /**
   * One export page of a shard from the replicas' answers: the records to
   * yield, the record key the next page starts after, and whether a
   * replica may hold more.
   */
  private async mergedShardPage(placement: Placement, entry: TableEntry, token: ReturnType<typeof decodeClusterToken>, asOf: bigint | undefined, answers: readonly { node: string; reply: ScanReply }[]): Promise<{ records: WireRecord[]; resume: Buffer | undefined; full: boolean }> {
    const pages = answers.map((a) => ({ node: a.node, records: a.reply.records, full: a.reply.records.length >= EXPORT_PAGE_RECORDS || a.reply.more === true }));
    const full = pages.some((p) => p.full);
    const only = pages.length === 1 ? pages[0] : undefined;
    if (only !== undefined) return { records: only.records, resume: only.records.at(-1)?.[0], full };
    // The first page-size records of the merge are exact up to the horizon: each replica sent its first page-size
    // after `after`, or all it had up to its last record when its reply reached its byte bound.
    const horizon = horizonOf(answers.map((a) => a.reply));
    const candidates = upTo(mergeNewest(pages.map((p) => p.records), EXPORT_PAGE_RECORDS), horizon);
    const { records } = await withoutMoved(pages, candidates, this.getOn(placement, entry, token, asOf));
    // Each candidate was yielded or superseded: the next page starts after the last of them.
    return { records, resume: candidates.at(-1)?.[0] ?? horizon, full };
  }

  /**
   * A snapshot for `as_of=now`, at or above the commit version of every
   * write acknowledged anywhere before this call: this node's clock read
   * `maxClockOffsetMs` ahead (a coordinator whose clock runs ahead by up to
   * the bound stamped its writes below it), and at least the version a read
   * token's write stored. Replicas move their clocks past it as they serve
   * it, and wait for the atomic batches they prepared at or below it.
   */
  snapshot(token: string | undefined): bigint {
    const floor = hlcFromParts(Date.now() + this.d.maxClockOffsetMs, 0);
    const now = this.d.hlc.now();
    const v = tokenVersion(decodeClusterToken(token), this.asOfMax());
    return [now, floor, v].reduce((a, b) => (a > b ? a : b));
  }

  /**
   * The newest version a snapshot (or a write a token names) can carry, by
   * this node's clock: what the replicas' HLCs accept from a peer
   * (`hlcRemoteAheadMsMax`, decision 52). Not this clock plus the offset
   * alone: another node's snapshot is taken the offset ahead of its own
   * clock, which may lead this one by the offset, and an HLC leads its
   * clock by up to HLC_OWN_LEAD_MS_MAX after a restart.
   */
  asOfMax(): bigint {
    const bound = hlcFromParts(Date.now() + hlcRemoteAheadMsMax(this.d.maxClockOffsetMs), HLC_LOGICAL_MAX);
    const now = this.d.hlc.now();
    return now > bound ? now : bound;
  }

  /**
   * `read` with the replicas of `placement`; while a replica says it follows
   * a newer one (STALE_PLACEMENT), again with the placement etcd holds.
   */
  private async routed<T>(read: (placement: Placement) => Promise<T>, placement = this.d.placement()): Promise<{ value: T; placement: Placement }> {
    for (let attempt = 0; ; attempt++) {
      try {
        return { value: await read(placement), placement };
      } catch (err) {
        if (!isSluiceError(err, 'STALE_PLACEMENT') || attempt >= STALE_RETRIES) throw err;
        placement = await this.d.refreshPlacement();
      }
    }
  }

  /**
   * A Get of one record on one replica, as a read of this query would make
   * it (its read token, snapshot and placement epoch: a replica on a newer
   * ring refuses it as it refuses the query's Scans).
   */
  private getOn(placement: Placement, entry: TableEntry, token: ReturnType<typeof decodeClusterToken>, asOf: bigint | undefined): GetOnReplica {
    return async (node, id) => (await this.call(node, 'Get', { tableId: entry.id, id: String(id), ...lsnFor(token, node), ...asOfField(asOf), epoch: placement.epoch })).record;
  }

  /** A read RPC; a snapshot read's deadline leaves room for the replica's wait on undecided batches. */
  private call<M extends 'Get' | 'Scan' | 'ScanShard'>(node: string, method: M, request: ReplicaMethods[M][0]): Promise<ReplicaMethods[M][1]> {
    const waitMs = request.asOf === undefined ? 0 : this.d.snapshotWaitMs;
    return this.d.transport.call(node, method, request, this.d.replicaTimeoutMs + waitMs);
  }

  /**
   * Sends records a replica lacked (or held older) back to it, in the
   * background. A table without a primary key may hold records written
   * with dedupe keys, which no read reply carries: those are fetched with
   * their keys from the replicas that answered with them (`holders`), so
   * the target stores them under their keys as a first write would
   * (decision 54), not as plain appended records.
   */
  private repair(entry: TableEntry, targets: readonly string[], records: readonly WireRecord[], holders: readonly string[]): void {
    if (targets.length === 0 || records.length === 0) return;
    if (currentDef(entry).primaryKey !== undefined) {
      this.send(entry, targets, records, undefined);
      return;
    }
    void this.fetchKeyed(records.map((r) => r[0]), holders)
      .then((fetched) => this.send(entry, targets, fetched.records, fetched.dedupeKeys))
      // No holder answered (or a reply was refused): anti-entropy repairs it, with its keys, later. The read is answered already.
      .catch(() => undefined);
  }

  /** Writes `records` (with their dedupe keys, when known) to each target, hinting where one is down. */
  private send(entry: TableEntry, targets: readonly string[], records: readonly WireRecord[], dedupeKeys: readonly (Buffer | null)[] | undefined): void {
    if (records.length === 0) return;
    let batch: Buffer;
    try {
      batch = batchOfRecords(entry, records, dedupeKeys);
    } catch (err) {
      // A schema version this node has not read yet: repaired later (anti-entropy), never copied without its primary key.
      if (isSluiceError(err, 'NOT_READY')) return;
      throw err;
    }
    for (const node of targets) {
      this.d.onReadRepair?.(node, records.length);
      void this.d.delivery.sendOrHint(node, batch, records.length);
    }
  }

  /**
   * The records of `keys` with their dedupe keys, fetched from the holders
   * in turn until each key is found (a holder may have moved on since it
   * answered the read). A holder of an earlier release sends no keys: its
   * records go without them, as before. Throws when no holder answered.
   */
  private async fetchKeyed(keys: readonly Buffer[], holders: readonly string[]): Promise<{ records: WireRecord[]; dedupeKeys: (Buffer | null)[] }> {
    const records: WireRecord[] = [];
    const dedupeKeys: (Buffer | null)[] = [];
    let rest = keys;
    let failure: unknown = new SluiceError('NO_QUORUM', 'no replica holding the records to repair answered');
    let answered = false;
    for (const node of holders) {
      if (rest.length === 0) break;
      try {
        const found = await fetchAll(this.d.transport, node, rest, this.d.replicaTimeoutMs);
        answered = true;
        records.push(...found.records);
        dedupeKeys.push(...found.dedupeKeys);
        const got = new Set(found.records.map((r) => r[0].toString('latin1')));
        rest = rest.filter((k) => !got.has(k.toString('latin1')));
      } catch (err) {
        failure = err;
      }
    }
    if (!answered) throw failure;
    return { records, dedupeKeys };
  }
}

/** Every record of `keys` that `node` holds, with its dedupe key (null: none known). */
async function fetchAll(transport: ReplicaTransport, node: string, keys: readonly Buffer[], timeoutMs: number): Promise<{ records: WireRecord[]; dedupeKeys: (Buffer | null)[] }> {
  const records: WireRecord[] = [];
  const dedupeKeys: (Buffer | null)[] = [];
  for await (const page of fetchPages(transport, node, keys, timeoutMs)) {
    records.push(...page.records);
    dedupeKeys.push(...page.records.map((_, i) => page.dedupeKeys?.[i] ?? null));
  }
  return { records, dedupeKeys };
}

/**
 * The first `limit` records of the union of the replicas' pages, by record
 * key, newest version per id (an upsert may have moved a record to a new
 * time key). Each replica returned at most `limit` records after the
 * cursor, so the first `limit` of the merge are exact.
 */
function mergeNewest(pages: readonly (readonly WireRecord[])[], limit: number): WireRecord[] {
  const byId = new Map<string, WireRecord>();
  for (const records of pages) {
    for (const rec of records) {
      const id = rec[0].toString('hex', rec[0].length - 8);
      const have = byId.get(id);
      if (have === undefined || compareStoredRecords(rec, have) > 0) byId.set(id, rec);
    }
  }
  return [...byId.values()].sort((a, b) => Buffer.compare(a[0], b[0])).slice(0, limit);
}

/**
 * The lowest last record among replies that ended at their byte bound
 * (undefined: none did). Past it, the merge does not know what those
 * replicas hold.
 */
function horizonOf(replies: readonly ScanReply[]): Buffer | undefined {
  let low: Buffer | undefined;
  for (const reply of replies) {
    const last = reply.more === true ? reply.records.at(-1)?.[0] : undefined;
    if (last !== undefined && (low === undefined || Buffer.compare(last, low) < 0)) low = last;
  }
  return low;
}

/** The records of a merge up to and including `horizon`. */
function upTo(records: WireRecord[], horizon: Buffer | undefined): WireRecord[] {
  return horizon === undefined ? records : records.filter((r) => Buffer.compare(r[0], horizon) <= 0);
}

/** Records of `merged` that a replica's page lacked or held older (not those past the end of a full page). */
function lackedBy(page: readonly WireRecord[], full: boolean, merged: readonly WireRecord[]): WireRecord[] {
  const have = new Map(page.map((r) => [r[0].toString('latin1'), r]));
  const lastOfPage = page.at(-1)?.[0];
  return merged.filter((m) => {
    // A replica that filled its page may simply not have reached this record.
    if (full && lastOfPage !== undefined && Buffer.compare(m[0], lastOfPage) > 0) return false;
    const r = have.get(m[0].toString('latin1'));
    return r === undefined || compareStoredRecords(r, m) < 0;
  });
}
