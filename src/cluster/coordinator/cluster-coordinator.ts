/**
 * The cluster coordinator: any node takes any write. It stamps ids and HLC
 * versions once, cuts the batch by replica node (each node gets the
 * entries of the shards it holds, in one RPC), and answers when every shard
 * has W acknowledgements, fsync'd on those replicas. A replica that fails
 * or is known down gets its part as a durable hint on this node.
 *
 * Before writing, shards whose live replicas are fewer than W are refused
 * (503 NO_QUORUM, nothing written anywhere: Cassandra's "unavailable"), or,
 * with `--on-partition=buffer`, accepted into the hint queues (202,
 * `degraded`). A replica failing mid-write can still leave a 503 after
 * some replicas stored the batch; their hints converge it everywhere.
 *
 * Reads ask R replicas, merge by id with last-writer-wins on the HLC
 * version, and push what a replica lacked back to it (read repair). The
 * write token names the LSN each acknowledging replica gave, so a read
 * passing it waits on those replicas until they have applied the write.
 */
import { batchFromStored, subBatch, tableIdOfRecordKey, type StoredRecord } from '../../core/codec/batch-slices.ts';
import { RecordBatchReader } from '../../core/codec/record-batch-v1.ts';
import { decodeFields } from '../../core/codec/fields-codec.ts';
import { SluiceError, isSluiceError } from '../../core/errors.ts';
import type { Hlc } from '../../core/hlc.ts';
import { shardOf } from '../../core/murmur3.ts';
import { keyString } from '../../core/schema/key-string.ts';
import type { SnowflakeGenerator } from '../../core/snowflake.ts';
import { currentDef, defAtVersion, type TableEntry } from '../../storage/catalog.ts';
import type { IndexedRecord } from '../../storage/index/index-store.ts';
import type { LocalStore } from '../../storage/local-store.ts';
import { readStoredValue } from '../../core/codec/record-batch-v1.ts';
import { requiredReplicas, type Consistency, type Coordinator, type RangePage, type RangeQuery, type ReadOptions, type WriteAck, type WriteOptions } from './coordinator.ts';
import type { FailureDetector } from '../membership/failure-detector.ts';
import type { HintQueue } from '../repair/hint-queue.ts';
import { cursorKey, encodeCursor } from './local-coordinator.ts';
import type { Placement } from '../placement/placement.ts';
import { versionOf } from '../replica/replica-endpoint.ts';
import type { ReplicaHandlers } from '../transport/grpc-server.ts';
import type { PeerClients } from '../transport/peer-clients.ts';
import type { ReplicaMethod, ReplicaMethods, WireRecord } from '../transport/replica-messages.ts';

/** Records per page when an export pages through a shard. */
const EXPORT_PAGE_RECORDS = 2_000;

export interface ClusterCoordinatorDeps {
  readonly nodeId: string;
  readonly store: LocalStore;
  readonly hlc: Hlc;
  /** The current id generator (its worker id is leased; it changes after a re-registration). */
  readonly ids: () => SnowflakeGenerator;
  /** Throws unless this node's etcd lease is certainly alive. */
  readonly assertLive: () => void;
  readonly placement: () => Placement;
  /** Reads the placement from etcd now (after a replica said ours is stale). */
  readonly refreshPlacement: () => Promise<Placement>;
  readonly peers: PeerClients;
  readonly detector: FailureDetector;
  readonly hints: HintQueue;
  readonly local: ReplicaHandlers;
  readonly options: {
    readonly shards: number;
    readonly replicaTimeoutMs: number;
    readonly onPartition: 'refuse' | 'buffer';
  };
  readonly observer?: {
    readonly onHinted?: (target: string, records: number) => void;
    readonly onReadRepair?: (target: string, records: number) => void;
  };
}

/**
 * The replica sets one shard of a write must satisfy: the current ring's,
 * and during a placement transition also the target ring's (W acks in each).
 */
type ShardSets = readonly (readonly string[])[];

/** What one replica node did with its part of a write. */
interface NodeResult {
  readonly lsn?: string;
  /** Neither written nor hinted. */
  readonly lost?: boolean;
  /** The node follows a newer placement than the one this write was routed by. */
  readonly stale?: boolean;
}

/** Retries of a write whose placement turned out stale (a transition is a few epochs at most). */
const STALE_RETRIES = 3;

/** The coordinator of a node in a cluster. */
export class ClusterCoordinator implements Coordinator {
  private readonly d: ClusterCoordinatorDeps;

  constructor(deps: ClusterCoordinatorDeps) {
    this.d = deps;
  }

  async write(entry: TableEntry, batch: Uint8Array, count: number, release: () => void, options: WriteOptions = {}): Promise<WriteAck> {
    let released = false;
    const releaseOnce = (): void => {
      if (!released) {
        released = true;
        release();
      }
    };
    try {
      this.d.assertLive();
      const buf = Buffer.isBuffer(batch) ? batch : Buffer.from(batch.buffer, batch.byteOffset, batch.byteLength);
      const def = currentDef(entry);
      let placement = this.d.placement();
      if (placement.nodes.length === 0) throw new SluiceError('NO_QUORUM', 'the cluster has no placement yet');
      const consistency = options.consistency ?? 'quorum';
      const ids = await this.stamp(entry, buf, count, placement, def.replicationFactor, options.keyed === true);
      for (let attempt = 0; ; attempt++) {
        try {
          const { lsns, degraded } = await this.replicate(buf, placement, def.replicationFactor, consistency, releaseOnce);
          return { ids, token: encodeToken(lsns), ...(degraded ? { degraded: true } : {}) };
        } catch (err) {
          // A replica follows a newer placement: route again by it. Replicas that took the
          // batch already take it again idempotently (same ids and versions).
          if (!isSluiceError(err) || err.code !== 'STALE_PLACEMENT' || attempt >= STALE_RETRIES) throw err;
          placement = await this.d.refreshPlacement();
        }
      }
    } catch (err) {
      releaseOnce();
      throw err;
    }
  }

  /** Sends a stamped batch to the replicas `placement` names and waits for W acks per shard (per ring). */
  private async replicate(buf: Buffer, placement: Placement, rf: number, consistency: Consistency, releaseOnce: () => void): Promise<{ lsns: Map<string, string>; degraded: boolean }> {
    // Positions per replica node, and the replica sets of every shard in the batch.
    const byNode = new Map<string, number[]>();
    const shards = new Map<number, ShardSets>();
    const nodesOf = new Map<number, readonly string[]>();
    const reader = new RecordBatchReader(buf);
    while (reader.next()) {
      const shard = reader.shard;
      let nodes = nodesOf.get(shard);
      if (nodes === undefined) {
        const target = placement.targetReplicas(shard, rf);
        const sets = target === undefined ? [placement.replicas(shard, rf)] : [placement.replicas(shard, rf), target];
        shards.set(shard, sets);
        nodes = [...new Set(sets.flat())];
        nodesOf.set(shard, nodes);
      }
      for (const node of nodes) {
        let list = byNode.get(node);
        if (list === undefined) byNode.set(node, (list = []));
        list.push(reader.position);
      }
    }
    const degraded = this.checkAvailable(shards, consistency);
    const acked = new Set<string>();
    const failed = new Set<string>();
    const lsns = new Map<string, string>();
    let stale = false;
    await new Promise<void>((resolve, reject) => {
      let outstanding = byNode.size;
      let lost = false;
      let settled = false;
      const settle = (err?: SluiceError): void => {
        if (settled) return;
        settled = true;
        if (err === undefined) resolve();
        else reject(err);
      };
      /** 'ok' once every replica set of every shard has W acks (or, degraded, every replica is written or hinted). */
      const verdict = (): 'ok' | 'wait' | SluiceError => {
        for (const sets of shards.values()) {
          for (const set of sets) {
            const w = requiredReplicas(consistency, set.length);
            const acks = set.filter((n) => acked.has(n)).length;
            if (acks >= w) continue;
            const failures = set.filter((n) => failed.has(n)).length;
            if (degraded) {
              if (acks + failures < set.length) return 'wait';
              continue;
            }
            if (failures > set.length - w) {
              if (stale) return new SluiceError('STALE_PLACEMENT', 'a replica follows a newer placement');
              return new SluiceError('NO_QUORUM', `a shard's write reached ${acks} of ${w} required replicas (${consistency})`);
            }
            return 'wait';
          }
        }
        return 'ok';
      };
      for (const [node, positions] of byNode) {
        void this.sendOrHint(node, subBatch(buf, positions), positions.length, placement.epoch).then((result) => {
          if (result.lsn !== undefined) {
            acked.add(node);
            lsns.set(node, result.lsn);
          } else failed.add(node);
          if (result.stale === true) stale = true;
          if (result.lost === true) lost = true;
          if (--outstanding === 0) releaseOnce();
          // A buffered write is only as good as every hint: one that is neither written nor hinted fails it.
          if (degraded && lost) return settle(new SluiceError('NO_QUORUM', 'a buffered write could not be made durable on this node'));
          const v = verdict();
          if (v === 'ok') settle();
          else if (v !== 'wait') settle(v);
        });
      }
    });
    // Degraded only if some shard really is short of W acks (its replicas may have come back meanwhile).
    const short = degraded && [...shards.values()].some((sets) => sets.some((set) => set.filter((n) => acked.has(n)).length < requiredReplicas(consistency, set.length)));
    return { lsns, degraded: short };
  }

  /**
   * Refuses before writing anything when some shard has fewer live replicas
   * than W in one of its replica sets (refuse mode); returns true when the
   * write goes on degraded (buffer mode).
   */
  private checkAvailable(shards: ReadonlyMap<number, ShardSets>, consistency: Consistency): boolean {
    for (const [shard, sets] of shards) {
      for (const set of sets) {
        const live = set.filter((n) => this.isUp(n)).length;
        const w = requiredReplicas(consistency, set.length);
        if (live >= w) continue;
        if (this.d.options.onPartition === 'buffer') return true;
        throw new SluiceError('NO_QUORUM', `shard ${shard}: ${live} of its ${set.length} replicas are reachable, ${w} required (${consistency}); nothing was written`);
      }
    }
    return false;
  }

  private isUp(node: string): boolean {
    return node === this.d.nodeId || this.d.detector.state(node) === 'alive';
  }

  /** Writes `part` to `node` (local or remote); on failure stores it as a hint. */
  private async sendOrHint(node: string, part: Buffer, records: number, epoch?: number): Promise<NodeResult> {
    let stale = false;
    if (this.isUp(node)) {
      try {
        const reply = await this.call(node, 'Write', { batch: part, ...(epoch === undefined ? {} : { epoch }) });
        if (node !== this.d.nodeId) this.d.detector.reportSuccess(node);
        return { lsn: reply.lsn };
      } catch (err) {
        stale = isSluiceError(err) && err.code === 'STALE_PLACEMENT';
        if (node === this.d.nodeId) {
          // The placement moved on while this write was in flight; this node still holds the shard's data.
          if (!stale) return { lost: true };
          return this.d.local.Write({ batch: part }).then((reply) => ({ lsn: reply.lsn }), () => ({ lost: true }));
        }
        if (!isSluiceError(err) || err.code === 'NO_QUORUM' || err.code === 'SHUTTING_DOWN' || err.code === 'NOT_READY') this.d.detector.reportFailure(node);
      }
    }
    // A stale refusal is hinted too: the node is a replica in some ring, and a hint (replayed without an epoch) converges it.
    try {
      if (!(await this.d.hints.add(node, part))) return { lost: true, stale };
      this.d.observer?.onHinted?.(node, records);
      return { stale };
    } catch {
      return { lost: true, stale };
    }
  }

  /** Calls a replica method on `node`; the local node is called directly. */
  private call<M extends ReplicaMethod>(node: string, method: M, request: ReplicaMethods[M][0]): Promise<ReplicaMethods[M][1]> {
    if (node === this.d.nodeId) return (this.d.local[method] as (r: ReplicaMethods[M][0]) => Promise<ReplicaMethods[M][1]>)(request);
    return this.d.peers.call(node, method, request, this.d.options.replicaTimeoutMs);
  }

  /** Stamps ids (a primary or dedupe key keeps the id its replicas know) and HLC versions into the batch. */
  private async stamp(entry: TableEntry, buf: Buffer, count: number, placement: Placement, rf: number, keyed: boolean): Promise<bigint[]> {
    const reader = new RecordBatchReader(buf);
    const hasPk = keyed || currentDef(entry).primaryKey !== undefined;
    const known = hasPk ? await this.knownPkIds(entry, reader, placement, rf) : undefined;
    const ids = new Array<bigint>(count);
    const generator = this.d.ids();
    this.d.assertLive();
    const fresh = hasPk ? undefined : generator.nextBatch(count);
    const firstVersion = this.d.hlc.nowBatch(count);
    const inBatch = new Map<string, bigint>();
    reader.rewind();
    let i = 0;
    while (reader.next()) {
      let id: bigint;
      if (fresh !== undefined) id = fresh[i] as bigint;
      else {
        const pk = `${reader.shard}:${reader.pk ?? ''}`;
        id = inBatch.get(pk) ?? known?.get(pk) ?? generator.next();
        inBatch.set(pk, id);
      }
      reader.id = id;
      reader.version = firstVersion + BigInt(i);
      ids[i] = id;
      i++;
    }
    return ids;
  }

  /** Ids the replicas already hold for the batch's primary keys (newest version wins). */
  private async knownPkIds(entry: TableEntry, reader: RecordBatchReader, placement: Placement, rf: number): Promise<Map<string, bigint>> {
    const byShard = new Map<number, Set<string>>();
    reader.rewind();
    while (reader.next()) {
      let set = byShard.get(reader.shard);
      if (set === undefined) byShard.set(reader.shard, (set = new Set()));
      set.add(reader.pk ?? '');
    }
    const out = new Map<string, bigint>();
    const versions = new Map<string, bigint>();
    await Promise.all(
      [...byShard].map(async ([shard, set]) => {
        const pks = [...set];
        const replicas = placement.replicas(shard, rf);
        const ask = (node: string) => this.call(node, 'LookupPks', { tableId: entry.id, shard, pks });
        // Every replica when all are up: a write that reached fewer than W of them before its coordinator
        // crashed is then still found, and a re-sent key keeps its id. With one down, a quorum must do.
        const replies = replicas.every((n) => this.isUp(n))
          ? await this.readQuorum(replicas, 'all', undefined, ask).catch(() => this.readQuorum(replicas, 'quorum', undefined, ask))
          : await this.readQuorum(replicas, 'quorum', undefined, ask);
        for (const { reply } of replies) {
          reply.entries.forEach((e, i) => {
            if (e === null) return;
            const key = `${shard}:${pks[i]}`;
            const version = BigInt(e[1]);
            // This write must win over what the replicas hold, even if this node's clock is behind the writer of it.
            this.d.hlc.update(version);
            if ((versions.get(key) ?? -1n) < version) {
              versions.set(key, version);
              out.set(key, BigInt(e[0]));
            }
          });
        }
      }),
    );
    return out;
  }

  /**
   * Asks replicas until `consistency` of them answered, falling back to
   * others on failure. NO_QUORUM when too few answer.
   */
  private async readQuorum<T>(
    replicas: readonly string[],
    consistency: Consistency,
    token: Map<string, string> | undefined,
    ask: (node: string) => Promise<T>,
  ): Promise<{ node: string; reply: T }[]> {
    const need = requiredReplicas(consistency, replicas.length);
    // A token's replicas first (they acknowledged the write the reader must see), then this node, then live peers.
    const rank = (n: string): number => (token?.has(n) === true ? 0 : n === this.d.nodeId ? 1 : this.isUp(n) ? 2 : 3);
    const order = [...replicas].sort((a, b) => rank(a) - rank(b));
    const answers: { node: string; reply: T }[] = [];
    let next = 0;
    let lastError: unknown;
    const worker = async (): Promise<void> => {
      while (answers.length < need && next < order.length) {
        const node = order[next++] as string;
        try {
          answers.push({ node, reply: await ask(node) });
        } catch (err) {
          lastError = err;
        }
      }
    };
    await Promise.all(Array.from({ length: need }, worker));
    if (answers.length < need) {
      throw new SluiceError('NO_QUORUM', `${answers.length} of ${need} required replicas answered (${consistency})${lastError instanceof Error ? `: ${lastError.message}` : ''}`);
    }
    return answers;
  }

  async getById(entry: TableEntry, id: bigint, options: ReadOptions = {}): Promise<IndexedRecord | undefined> {
    const token = decodeToken(options.token);
    const placement = this.d.placement();
    const rf = currentDef(entry).replicationFactor;
    // An id does not name its shard: ask every node, enough of them to cover R replicas of any shard.
    const nodes = placement.nodes;
    const r = requiredReplicas(options.consistency ?? 'quorum', Math.min(rf, nodes.length));
    const need = nodes.length - Math.min(rf, nodes.length) + r;
    // Nodes known down are not asked: a paused peer would hold every get for the RPC deadline.
    const settled = await Promise.allSettled(
      nodes.filter((node) => this.isUp(node)).map(async (node) => ({ node, reply: await this.call(node, 'Get', { tableId: entry.id, id: String(id), ...lsnFor(token, node) }) })),
    );
    const answers = settled.flatMap((s) => (s.status === 'fulfilled' ? [s.value] : []));
    if (answers.length < need) throw new SluiceError('NO_QUORUM', `${answers.length} of ${need} required nodes answered`);
    const found = answers.flatMap((a) => (a.reply.record === undefined ? [] : [{ node: a.node, record: a.reply.record }]));
    if (found.length === 0) return undefined;
    const best = found.reduce((a, b) => (versionOf(b.record[1]) > versionOf(a.record[1]) ? b : a));
    const holders = new Set(found.filter((f) => versionOf(f.record[1]) === versionOf(best.record[1])).map((f) => f.node));
    const shard = best.record[0].readUInt16BE(1);
    const owners = placement.replicas(shard, rf);
    this.repair(entry, owners.filter((n) => answers.some((a) => a.node === n) && !holders.has(n)), [best.record]);
    return { recordKey: best.record[0], value: best.record[1] };
  }

  async queryRange(entry: TableEntry, query: RangeQuery): Promise<RangePage> {
    const token = decodeToken(query.token);
    const placement = this.d.placement();
    const rf = currentDef(entry).replicationFactor;
    const keyBuf = Buffer.from(query.key, 'utf8');
    const shard = shardOf(query.key, this.d.options.shards);
    const after = query.cursor === undefined ? undefined : cursorKey(shard, entry.id, keyBuf, query.cursor);
    const replicas = placement.replicas(shard, rf);
    const answers = await this.readQuorum(replicas, query.consistency ?? 'quorum', token, (node) =>
      this.call(node, 'Scan', {
        tableId: entry.id,
        shard,
        key: keyBuf,
        limit: query.limit + 1,
        ...(query.fromMs === undefined ? {} : { fromMs: query.fromMs }),
        ...(query.toMs === undefined ? {} : { toMs: query.toMs }),
        ...(after === undefined ? {} : { after }),
        ...lsnFor(token, node),
      }),
    );
    // Merge by id, newest version wins (an upsert may have moved a record to a new time key).
    const byId = new Map<string, WireRecord>();
    for (const { reply } of answers) {
      for (const rec of reply.records) {
        const id = rec[0].toString('hex', rec[0].length - 8);
        const have = byId.get(id);
        if (have === undefined || versionOf(rec[1]) > versionOf(have[1])) byId.set(id, rec);
      }
    }
    // Each replica returned at most limit + 1 records after the cursor, so the first limit + 1 of the merge are exact.
    const merged = [...byId.values()].sort((a, b) => Buffer.compare(a[0], b[0])).slice(0, query.limit + 1);
    if (answers.length > 1 && merged.length > 0) {
      for (const { node, reply } of answers) {
        const have = new Map(reply.records.map((r) => [r[0].toString('latin1'), versionOf(r[1])]));
        const full = reply.records.length > query.limit;
        const lastOfReply = reply.records.at(-1)?.[0];
        const missing = merged.filter((m) => {
          // A replica that filled its page may simply not have reached this record.
          if (full && lastOfReply !== undefined && Buffer.compare(m[0], lastOfReply) > 0) return false;
          const v = have.get(m[0].toString('latin1'));
          return v === undefined || v < versionOf(m[1]);
        });
        if (missing.length > 0) this.repair(entry, [node], missing);
      }
    }
    const more = merged.length > query.limit;
    const records = merged.slice(0, query.limit).map(([recordKey, value]) => ({ recordKey, value }));
    const last = records.at(-1);
    return { records, nextCursor: more && last !== undefined ? encodeCursor(last.recordKey) : null };
  }

  async *scanTable(entry: TableEntry, options: ReadOptions = {}): AsyncGenerator<IndexedRecord> {
    const token = decodeToken(options.token);
    const placement = this.d.placement();
    const rf = currentDef(entry).replicationFactor;
    for (let shard = 0; shard < this.d.options.shards; shard++) {
      // An export reads each shard from one replica (this node when it holds the shard).
      let after: Buffer | undefined;
      for (;;) {
        const [answer] = await this.readQuorum(placement.replicas(shard, rf), 'one', token, (node) =>
          this.call(node, 'ScanShard', { tableId: entry.id, shard, limit: EXPORT_PAGE_RECORDS, ...(after === undefined ? {} : { after }) }),
        );
        const records = answer?.reply.records ?? [];
        for (const [recordKey, value] of records) yield { recordKey, value };
        if (records.length < EXPORT_PAGE_RECORDS) break;
        after = records.at(-1)?.[0];
      }
    }
  }

  /** Sends records a replica lacked (or held older) back to it, in the background. */
  private repair(entry: TableEntry, targets: readonly string[], records: readonly WireRecord[]): void {
    if (targets.length === 0 || records.length === 0) return;
    const batch = batchFromStored(entry.id, records.map((r) => storedRecordOf(entry, r)));
    for (const node of targets) {
      this.d.observer?.onReadRepair?.(node, records.length);
      void this.sendOrHint(node, batch, records.length);
    }
  }
}

/** A wire record with its primary key recovered from the stored fields (repair needs it). */
export function storedRecordOf(entry: TableEntry, [recordKey, value]: WireRecord): StoredRecord {
  const stored = readStoredValue(value);
  const def = defAtVersion(entry, stored.schemaVersion);
  if (def?.primaryKey === undefined) return { recordKey, value };
  const index = def.fields.findIndex((f) => f.name === def.primaryKey);
  const field = def.fields[index];
  if (field === undefined) return { recordKey, value };
  const pk = keyString(decodeFields(stored.fields)[index], field.type);
  return { recordKey, value, pk };
}

/** Groups wire records by table and rebuilds batches (anti-entropy streams records of every table of a shard). */
export function batchesOfRecords(tableOf: (id: number) => TableEntry | undefined, records: readonly WireRecord[]): Buffer[] {
  const byTable = new Map<number, StoredRecord[]>();
  for (const rec of records) {
    const tableId = tableIdOfRecordKey(rec[0]);
    const entry = tableOf(tableId);
    if (entry === undefined) continue;
    let list = byTable.get(tableId);
    if (list === undefined) byTable.set(tableId, (list = []));
    list.push(storedRecordOf(entry, rec));
  }
  return [...byTable].map(([tableId, list]) => batchFromStored(tableId, list));
}

/** Token: `c` + base64url of the JSON map node → LSN of each acknowledging replica. */
function encodeToken(lsns: ReadonlyMap<string, string>): string {
  return `c${Buffer.from(JSON.stringify(Object.fromEntries(lsns))).toString('base64url')}`;
}

function decodeToken(token: string | undefined): Map<string, string> | undefined {
  if (token === undefined) return undefined;
  try {
    if (!token.startsWith('c')) throw new Error('not a cluster token');
    const parsed = JSON.parse(Buffer.from(token.slice(1), 'base64url').toString('utf8')) as unknown;
    if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw new Error('not a map');
    const out = new Map<string, string>();
    for (const [node, lsn] of Object.entries(parsed)) {
      if (typeof lsn !== 'string' || !/^[0-9]{1,20}$/.test(lsn)) throw new Error('bad lsn');
      out.set(node, lsn);
    }
    return out;
  } catch {
    throw new SluiceError('INVALID_ARGUMENT', 'token is not a token returned by a write');
  }
}

function lsnFor(token: Map<string, string> | undefined, node: string): { lsn?: string } {
  const lsn = token?.get(node);
  return lsn === undefined ? {} : { lsn };
}
