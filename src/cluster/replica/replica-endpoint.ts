/**
 * The replica side of `sluice.v1.Replica`: what this node answers when a
 * peer coordinates. A replica write is appended to the local WAL exactly as
 * a local write is (same frame, same fsync) and acknowledged after the
 * fsync; reads wait on the read barrier, so a replica never answers from
 * an index that lacks a write it has acknowledged.
 */
import { RecordBatchReader } from '../../core/codec/record-batch-v1.ts';
import { SluiceError } from '../../core/errors.ts';
import type { Hlc } from '../../core/hlc.ts';
import type { Catalog } from '../../storage/catalog.ts';
import { tableIdOfRecordKey } from '../../core/codec/batch-slices.ts';
import type { LocalStore } from '../../storage/local-store.ts';
import { keyedTable, leafEntriesBounded, merkleOf } from './summary-scans.ts';
import { txHandlers } from './tx-endpoint.ts';
import type { ReplicaHandlers } from '../transport/replica-transport.ts';
import type { FetchReply, ScanReply, WireRecord } from '../transport/replica-messages.ts';
import type { IndexedRecord } from '../../storage/index/index-store.ts';
import { FETCH_REPLY_BYTES_MAX, LEAF_ENTRIES_REPLY_BYTES_MAX, REPLICA_PAGE_RECORDS_MAX, SCAN_REPLY_BYTES_MAX } from '../../config.ts';

export interface ReplicaEndpointDeps {
  readonly store: LocalStore;
  readonly catalog: Catalog;
  readonly hlc: Hlc;
  /** Reloads the cluster catalog (a batch may name a table created a moment ago). */
  readonly reloadTables: () => Promise<void>;
  readonly readBarrierMsMax: number;
  /**
   * Replica batch bytes written but not yet indexed that this node holds in
   * memory; past it a replica write waits, which holds the coordinator's
   * admission and turns into 429s at its HTTP edge instead of memory here.
   */
  readonly unindexedBytesMax: number;
  /** This node's placement epoch. */
  readonly epoch: () => number;
  /** Called with the record count of each replica write applied here. */
  /** A write applied on this replica: its records, table and the client request id the coordinator passed on. */
  readonly onReplicaWrite?: (records: number, table: string, requestId?: string) => void;
  /** Told of each atomic batch part this replica prepared (see TxEndpointDeps.onPrepared). */
  readonly onReplicaPrepare?: (records: number, table: string, txId: string, requestId?: string) => void;
  /** Longest a snapshot read waits for atomic batches prepared at or below it. @default readBarrierMsMax */
  readonly txReadWaitMs?: number;
  /** Called with the batches a snapshot read gave up waiting for (the resolver hurries them). */
  readonly onSnapshotBlocked?: (txids: bigint[]) => void;
  /** Called with how long each snapshot read waited for undecided batches (metrics). */
  readonly onSnapshotWait?: (ms: number) => void;
  /** When this node started, and the clock offset bound: a restarted replica prepares above both. */
  readonly startedAtMs?: number;
  readonly maxClockOffsetMs?: number;
  /** Record bytes per Fetch reply. @default FETCH_REPLY_BYTES_MAX */
  readonly fetchReplyBytesMax?: number;
  /** Entry bytes per paged LeafEntries reply. @default LEAF_ENTRIES_REPLY_BYTES_MAX */
  readonly leafEntriesReplyBytesMax?: number;
  /** Record bytes per Scan and ScanShard reply. @default SCAN_REPLY_BYTES_MAX */
  readonly scanReplyBytesMax?: number;
}

/** Builds the Replica service handlers over the local store. */
export function replicaHandlers(deps: ReplicaEndpointDeps): ReplicaHandlers {
  const { store, catalog } = deps;
  /** A Scan reply's byte bound: the reader's, this replica's if lower; none for a reader that would not page on (older). */
  const scanBytesMax = (asked: number | undefined): number => (asked === undefined ? Infinity : Math.min(asked, deps.scanReplyBytesMax ?? SCAN_REPLY_BYTES_MAX));
  let unindexed = 0;
  let waiting: (() => void)[] = [];
  const admit = async (bytes: number): Promise<void> => {
    // A batch larger than the whole budget still goes through once nothing else is held.
    while (unindexed > 0 && unindexed + bytes > deps.unindexedBytesMax) await new Promise<void>((resolve) => waiting.push(resolve));
    unindexed += bytes;
  };
  const indexed = (bytes: number): void => {
    unindexed -= bytes;
    const wake = waiting;
    waiting = [];
    for (const w of wake) w();
  };
  // Writes accepted but not yet acknowledged, by the epoch they were routed with.
  const inFlight = new Map<number, number>();
  const track = (epoch: number, delta: number): void => {
    const n = (inFlight.get(epoch) ?? 0) + delta;
    if (n === 0) inFlight.delete(epoch);
    else inFlight.set(epoch, n);
  };
  /** Waits until this node follows `minEpoch` and no write routed by an older epoch is still being applied. */
  const settledAt = async (minEpoch: number): Promise<void> => {
    const deadline = Date.now() + deps.readBarrierMsMax;
    // Atomic batches prepared under an older epoch are writes routed by the old ring too.
    const olderTx = (): boolean => store.pendingTxs().some((tx) => tx.epoch < minEpoch);
    while (deps.epoch() < minEpoch || [...inFlight.keys()].some((e) => e < minEpoch) || olderTx()) {
      if (Date.now() > deadline) throw new SluiceError('NOT_READY', `this replica is not yet at placement epoch ${minEpoch}`);
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  };
  /**
   * A read whose replicas were chosen by an older placement than this node
   * follows is refused: after a ring switch, a quorum of the old ring can
   * lack writes the new ring acknowledged. The coordinator reads the
   * placement again and asks the replicas it names now.
   */
  const routedNow = (epoch: number | undefined): void => {
    if (epoch !== undefined && epoch < deps.epoch()) {
      throw new SluiceError('STALE_PLACEMENT', `the read was routed by placement epoch ${epoch}; this replica follows ${deps.epoch()}`);
    }
  };
  const barrier = (lsn: string | undefined): Promise<void> =>
    store.readBarrier(deps.readBarrierMsMax, lsn === undefined ? store.lastAckedLsn : minBig(BigInt(lsn), store.lastAckedLsn));
  /**
   * A snapshot read at `asOf`: this clock moves past it (so every later
   * prepare here is above it), then the read waits for every atomic batch
   * prepared here at or below it; returns the version bound to filter by.
   */
  const snapshot = async (asOf: string | undefined): Promise<{ maxVersion?: bigint }> => {
    if (asOf === undefined) return {};
    const s = BigInt(asOf);
    deps.hlc.update(s);
    // Batches in the way whose coordinator is past its deadline may be stuck: resolve them now, not after
    // --tx-resolve-after-ms (a fence only races a late decision in etcd, which create-if-absent settles).
    const now = Date.now();
    const stuck = store.pendingTxs().filter((tx) => tx.pt <= s && tx.decided === undefined && now > tx.deadlineMs + (deps.maxClockOffsetMs ?? 0));
    if (stuck.length > 0) deps.onSnapshotBlocked?.(stuck.map((tx) => tx.txid));
    const started = performance.now();
    try {
      await store.waitSnapshot(s, deps.txReadWaitMs ?? deps.readBarrierMsMax);
      deps.onSnapshotWait?.(performance.now() - started);
    } catch (err) {
      deps.onSnapshotBlocked?.(store.pendingTxs().filter((tx) => tx.pt <= s).map((tx) => tx.txid));
      throw err;
    }
    return { maxVersion: s };
  };

  /**
   * The version bound of a read: a snapshot's (above), or for a plain read
   * none, once the atomic batches of its table and shard committed here are
   * applied (a COMMIT is answered before its fsync: tx-endpoint.ts), so a
   * client that was told "committed" reads its batch at quorum.
   */
  const readBound = async (asOf: string | undefined, tableId: number, shard: number | undefined): Promise<{ maxVersion?: bigint }> => {
    if (asOf !== undefined) return snapshot(asOf);
    await store.waitCommittedTxs(tableId, shard, deps.txReadWaitMs ?? deps.readBarrierMsMax);
    return {};
  };

  const applyWrite = async (batch: Buffer, requestId?: string): Promise<{ lsn: string }> => {
    const reader = new RecordBatchReader(batch);
    if (catalog.byId(reader.tableId) === undefined) {
      await deps.reloadTables();
      if (catalog.byId(reader.tableId) === undefined) throw new SluiceError('TABLE_NOT_FOUND', `table id ${reader.tableId} is unknown here`);
    }
    // Keep this node's clock ahead of every version it stores, so its own later writes win over them.
    // A coordinator stamps increasing versions, so the last entry's is the batch's newest: one read per
    // batch. Repair batches come in key order and may hide their newest here; their versions are old.
    while (reader.next());
    if (reader.count > 0) deps.hlc.update(reader.version);
    await admit(batch.length);
    const lsn = await store.appendRecords(batch, reader.count, () => indexed(batch.length));
    deps.onReplicaWrite?.(reader.count, catalog.byId(reader.tableId)?.name ?? String(reader.tableId), requestId);
    return { lsn: String(lsn) };
  };

  return {
    ...txHandlers({
      store,
      catalog,
      hlc: deps.hlc,
      reloadTables: deps.reloadTables,
      epoch: deps.epoch,
      startedAtMs: deps.startedAtMs ?? Date.now(),
      maxClockOffsetMs: deps.maxClockOffsetMs ?? 0,
      admit: async (bytes) => {
        await admit(bytes);
        return () => indexed(bytes);
      },
      ...(deps.onReplicaPrepare === undefined ? {} : { onPrepared: deps.onReplicaPrepare }),
    }),

    async Write({ batch, epoch, requestId }) {
      if (epoch !== undefined && epoch < deps.epoch()) {
        throw new SluiceError('STALE_PLACEMENT', `the write was routed by placement epoch ${epoch}; this replica follows ${deps.epoch()}`);
      }
      if (epoch === undefined) return applyWrite(batch, requestId);
      track(epoch, 1);
      try {
        return await applyWrite(batch, requestId);
      } finally {
        track(epoch, -1);
      }
    },

    async Get({ tableId, id, lsn, asOf, epoch }) {
      routedNow(epoch);
      await barrier(lsn);
      const { maxVersion } = await readBound(asOf, tableId, undefined);
      const rec = await store.getById(tableId, BigInt(id), maxVersion);
      return rec === undefined ? {} : { record: [rec.recordKey, Buffer.from(rec.value)] };
    },

    async Scan({ lsn, asOf, epoch, replyBytesMax, ...query }) {
      routedNow(epoch);
      await barrier(lsn);
      const bound = await readBound(asOf, query.tableId, query.shard);
      return boundedReply(store.scanKey({ ...query, ...bound, limit: Math.min(query.limit, REPLICA_PAGE_RECORDS_MAX) }), scanBytesMax(replyBytesMax));
    },

    async ScanShard({ tableId, shard, after, limit, asOf, epoch, replyBytesMax }) {
      routedNow(epoch);
      await barrier(undefined);
      const bound = await readBound(asOf, tableId, shard);
      const options = { tableId, limit: Math.min(limit, REPLICA_PAGE_RECORDS_MAX), ...(after === undefined ? {} : { after }), ...bound };
      return boundedReply(store.scanShard(shard, options), scanBytesMax(replyBytesMax));
    },

    async LookupPks({ tableId, shard, pks, epoch }) {
      // A write's key lookup is a read: a quorum of an older ring can lack the id the new ring holds.
      routedNow(epoch);
      await barrier(undefined);
      // A key an acknowledged atomic batch wrote must resolve to its id, not to a new one.
      await readBound(undefined, tableId, shard);
      const found = await store.lookupPks(pks.map((pk) => ({ tableId, shard, pk: Buffer.from(pk, 'utf8') })));
      return { entries: found.map((e) => (e === undefined ? null : [String(e.id), String(e.version)])) };
    },

    async Merkle({ shard, tableId, minEpoch, summary }) {
      if (minEpoch !== undefined) await settledAt(minEpoch);
      await barrier(undefined);
      return merkleOf(store, catalog, shard, tableId, summary);
    },

    async LeafEntries(request) {
      await barrier(undefined);
      // An asker that does not say it pages would read a bounded reply as the whole list: it gets all of it, as before.
      const bytesMax = request.paged === true ? (deps.leafEntriesReplyBytesMax ?? LEAF_ENTRIES_REPLY_BYTES_MAX) : Number.POSITIVE_INFINITY;
      return leafEntriesBounded(store, request, bytesMax);
    },

    async Fetch({ keys, withDedupeKeys }) {
      await barrier(undefined);
      // Only an asker that writes them back gets the keys (an older one would drop them): no index reads for it.
      const keyed = withDedupeKeys === true ? (tableId: number) => keyedTable(catalog, tableId) : undefined;
      return fetchBounded(store, keys, deps.fetchReplyBytesMax ?? FETCH_REPLY_BYTES_MAX, keyed);
    },
  };
}

/**
 * The records of a scan until they pass `bytesMax` (a reply holds at least
 * one): `more` says the reply ended there, with records still to come.
 * Leaving the loop closes the scan.
 */
async function boundedReply(pages: AsyncGenerator<readonly IndexedRecord[]>, bytesMax: number): Promise<ScanReply> {
  const records: WireRecord[] = [];
  let bytes = 0;
  for await (const page of pages) {
    for (const rec of page) {
      if (bytes >= bytesMax) return { records, more: true };
      records.push([rec.recordKey, Buffer.from(rec.value)]);
      bytes += rec.recordKey.length + rec.value.length;
    }
  }
  return { records };
}

/** Keys read per engine call while a Fetch reply fills: its byte bound is checked between groups. */
const FETCH_KEYS_PER_READ = 64;

/**
 * The records of `keys` found here, in key order, until they pass
 * `bytesMax`: the reply then says which key to ask again from (`next`).
 * Read a group at a time, so a Fetch of large records holds about one
 * reply's worth in memory, not all of them. With `keyed`, each record of
 * a table it names comes with the dedupe key it was written with
 * (decision 54), counted against the bound with the record.
 */
async function fetchBounded(store: LocalStore, keys: readonly Buffer[], bytesMax: number, keyed?: (tableId: number) => boolean): Promise<FetchReply> {
  const records: WireRecord[] = [];
  const dedupeKeys: (Buffer | null)[] = [];
  const reply = (next?: number): FetchReply => ({ records, ...(next === undefined ? {} : { next }), ...(keyed === undefined ? {} : { dedupeKeys }) });
  let bytes = 0;
  for (let at = 0; at < keys.length; at += FETCH_KEYS_PER_READ) {
    if (bytes >= bytesMax) return reply(at);
    const group = keys.slice(at, at + FETCH_KEYS_PER_READ);
    const values = await store.getRecords(group);
    const groupKeys = keyed === undefined ? [] : await dedupeKeysOf(store, group, values, keyed);
    for (let i = 0; i < group.length; i++) {
      const v = values[i];
      const k = group[i] as Buffer;
      if (v === undefined) continue;
      const dk = groupKeys[i] ?? null;
      const size = k.length + v.length + (dk?.length ?? 0);
      // At least one record per reply, else a record past the bound could never be fetched.
      if (records.length > 0 && bytes + size > bytesMax) return reply(at + i);
      records.push([k, Buffer.from(v)]);
      if (keyed !== undefined) dedupeKeys.push(dk === null ? null : Buffer.from(dk));
      bytes += size;
    }
  }
  return reply();
}

/** The dedupe keys of the records of `group` found here (`values`) whose table is `keyed`; one index read for all. */
async function dedupeKeysOf(store: LocalStore, group: readonly Buffer[], values: readonly (Uint8Array | undefined)[], keyed: (tableId: number) => boolean): Promise<(Buffer | undefined)[]> {
  const wanted = group.flatMap((k, i) => (values[i] !== undefined && keyed(tableIdOfRecordKey(k)) ? [i] : []));
  const found = await store.dedupeKeysOf(wanted.map((i) => group[i] as Buffer));
  const out: (Buffer | undefined)[] = new Array(group.length);
  wanted.forEach((i, j) => {
    out[i] = found[j];
  });
  return out;
}

function minBig(a: bigint, b: bigint): bigint {
  return a < b ? a : b;
}
