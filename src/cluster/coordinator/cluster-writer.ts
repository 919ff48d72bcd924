/**
 * The write path of the cluster coordinator: any node takes any write. It
 * stamps ids and HLC versions once, cuts the batch by replica node (each
 * node gets the entries of the shards it holds, in one RPC), and answers
 * when every shard has W acknowledgements, fsync'd on those replicas. A
 * replica that fails or is known down gets its part as a durable hint on
 * this node.
 *
 * Before writing, shards whose live replicas are fewer than W are refused
 * (503 NO_QUORUM, nothing written anywhere), or, with
 * `--on-partition=buffer`, accepted into the hint queues (202,
 * `degraded`). A replica failing mid-write can still leave a 503 after
 * some replicas stored the batch; their hints converge it everywhere.
 */
import { subBatch } from '../../core/codec/batch-slices.ts';
import { RecordBatchReader } from '../../core/codec/record-batch-v1.ts';
import { SluiceError, isSluiceError } from '../../core/errors.ts';
import { currentDef, type TableEntry } from '../../storage/catalog.ts';
import type { Placement } from '../placement/placement.ts';
import type { Consistency, WriteAck, WriteOptions } from './coordinator.ts';
import type { Delivery } from './delivery.ts';
import { availability, shortOfQuorum, writeVerdict, type PartitionMode, type ShardSets } from './quorum-verdict.ts';
import { readQuorum } from './quorum-reads.ts';
import { encodeClusterToken } from './read-token.ts';
import { stampBatch, type StampSource } from './stamp-batch.ts';
import type { WriteContext } from './write-context.ts';

/** Retries of a write whose placement turned out stale (a transition is a few epochs at most). */
const STALE_RETRIES = 3;

export interface ClusterWriterDeps extends WriteContext {
  readonly delivery: Delivery;
  readonly replicaTimeoutMs: number;
  readonly onPartition: PartitionMode;
}

/** A batch cut by replica node: each node's positions, and each shard's replica sets. */
export interface Routing {
  readonly byNode: ReadonlyMap<string, readonly number[]>;
  readonly shards: ReadonlyMap<number, ShardSets>;
}

/** Routes `buf` by `placement`: every replica of every shard, in both rings during a transition. */
export function routeBatch(buf: Buffer, placement: Placement, rf: number): Routing {
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
  return { byNode, shards };
}

/** Writes batches to their replicas at the requested consistency. */
export class ClusterWriter {
  private readonly d: ClusterWriterDeps;

  constructor(deps: ClusterWriterDeps) {
    this.d = deps;
  }

  /** Stamps, replicates and answers once W replicas per shard hold the batch (see the file comment). */
  async write(entry: TableEntry, batch: Uint8Array, count: number, release: () => void, options: WriteOptions = {}): Promise<WriteAck> {
    const releaseOnce = once(release);
    try {
      this.d.assertLive();
      const buf = Buffer.isBuffer(batch) ? batch : Buffer.from(batch.buffer, batch.byteOffset, batch.byteLength);
      const def = currentDef(entry);
      let placement = this.d.placement();
      if (placement.nodes.length === 0) throw new SluiceError('NO_QUORUM', 'the cluster has no placement yet');
      const consistency = options.consistency ?? 'quorum';
      const stamped = await this.stamp(entry, buf, count, placement, options.keyed === true, options.atomic === true ? 'one' : 'sequence');
      const ids = stamped.ids;
      placement = stamped.placement;
      const lastVersion = lastVersionOf(buf);
      for (let attempt = 0; ; attempt++) {
        try {
          const { lsns, degraded } = await this.replicate(buf, routeBatch(buf, placement, def.replicationFactor), placement.epoch, consistency, releaseOnce, options.atomic === true, options.requestId);
          return { ids, token: encodeClusterToken(lsns, lastVersion), ...(degraded ? { degraded: true } : {}) };
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

  /** Sends a stamped batch to the replicas of its routing and waits for W acks per shard (per ring). */
  private async replicate(buf: Buffer, routing: Routing, epoch: number, consistency: Consistency, releaseOnce: () => void, atomic: boolean, requestId?: string): Promise<{ lsns: Map<string, string>; degraded: boolean }> {
    const { byNode, shards } = routing;
    // An atomic batch is never buffered: a 202 cannot promise all or nothing.
    const available = availability(shards, (n) => this.d.delivery.isUp(n), consistency, atomic ? 'refuse' : this.d.onPartition);
    if (available instanceof SluiceError) throw available;
    const degraded = available === 'degraded';
    const acked = new Set<string>();
    const failed = new Set<string>();
    const lsns = new Map<string, string>();
    let stale = false;
    let clockSkew: SluiceError | undefined;
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
      for (const [node, positions] of byNode) {
        void this.d.delivery.sendOrHint(node, subBatch(buf, positions), positions.length, epoch, requestId).then((result) => {
          if (result.lsn !== undefined) {
            acked.add(node);
            lsns.set(node, result.lsn);
          } else failed.add(node);
          if (result.stale === true) stale = true;
          if (result.clockSkew !== undefined) clockSkew = result.clockSkew;
          if (result.lost === true) lost = true;
          if (--outstanding === 0) releaseOnce();
          // A buffered write is only as good as every hint: one that is neither written nor hinted fails it.
          if (degraded && lost) return settle(new SluiceError('NO_QUORUM', 'a buffered write could not be made durable on this node'));
          const v = writeVerdict({ shards: shards.values(), acked, failed, consistency, degraded, stale, clockSkew });
          if (v === 'ok') settle();
          else if (v !== 'wait') settle(v);
        });
      }
    });
    // Degraded only if some shard really is short of W acks (its replicas may have come back meanwhile).
    return { lsns, degraded: degraded && shortOfQuorum(shards.values(), acked, consistency) };
  }

  /**
   * Stamps ids (a primary or dedupe key keeps the id its replicas know) and
   * versions (stamp-batch.ts) into the batch. Returns the ids and the
   * placement the key lookups were routed by (read again when a replica
   * said `placement` is stale): the batch goes to the replicas it names.
   */
  async stamp(entry: TableEntry, buf: Buffer, count: number, placement: Placement, keyed: boolean, versions: StampSource['versions'] = 'sequence'): Promise<{ ids: bigint[]; placement: Placement }> {
    const reader = new RecordBatchReader(buf);
    const hasPk = keyed || currentDef(entry).primaryKey !== undefined;
    const looked = hasPk ? await this.knownPkIdsRouted(entry, reader, placement, currentDef(entry).replicationFactor) : undefined;
    const known = looked?.known;
    const routedBy = looked?.placement ?? placement;
    const generator = this.d.ids();
    this.d.assertLive();
    if (known === undefined) return { ids: stampBatch(reader, count, { generator, hlc: this.d.hlc, versions }), placement: routedBy };
    const inBatch = new Map<string, bigint>();
    const idOf = (r: RecordBatchReader): bigint => {
      const pk = `${r.shard}:${r.pk ?? ''}`;
      const id = inBatch.get(pk) ?? known.get(pk) ?? generator.next();
      inBatch.set(pk, id);
      return id;
    };
    return { ids: stampBatch(reader, count, { generator, hlc: this.d.hlc, idOf, versions }), placement: routedBy };
  }

  /**
   * `knownPkIds` by `placement`; while a replica says it follows a newer one
   * (STALE_PLACEMENT: a quorum of the old ring can lack an id the new ring
   * holds, and the write would mint a second one), by the placement read anew.
   */
  private async knownPkIdsRouted(entry: TableEntry, reader: RecordBatchReader, placement: Placement, rf: number): Promise<{ known: Map<string, bigint>; placement: Placement }> {
    for (let attempt = 0; ; attempt++) {
      try {
        return { known: await this.knownPkIds(entry, reader, placement, rf), placement };
      } catch (err) {
        if (!isSluiceError(err, 'STALE_PLACEMENT') || attempt >= STALE_RETRIES) throw err;
        placement = await this.d.refreshPlacement();
      }
    }
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
    const order = { self: this.d.nodeId, isUp: (n: string) => this.d.delivery.isUp(n) };
    await Promise.all(
      [...byShard].map(async ([shard, set]) => {
        const pks = [...set];
        const replicas = placement.replicas(shard, rf);
        const ask = (node: string) => this.d.transport.call(node, 'LookupPks', { tableId: entry.id, shard, pks, epoch: placement.epoch }, this.d.replicaTimeoutMs);
        // Every replica when all are up: a write that reached fewer than W of them before its coordinator
        // crashed is then still found, and a re-sent key keeps its id. With one down, a quorum must do.
        const replies = replicas.every((n) => this.d.delivery.isUp(n))
          ? await readQuorum(replicas, 'all', undefined, order, ask).catch((err: unknown) => (isSluiceError(err, 'STALE_PLACEMENT') ? Promise.reject(err) : readQuorum(replicas, 'quorum', undefined, order, ask)))
          : await readQuorum(replicas, 'quorum', undefined, order, ask);
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
}

/** The version of a stamped batch's last entry: the newest it holds (versions increase in batch order). */
export function lastVersionOf(buf: Buffer): bigint {
  const reader = new RecordBatchReader(buf);
  // Read once, at the last entry: a bigint per record would be garbage.
  let at = -1;
  while (reader.next()) at = reader.valueOffset;
  return at < 0 ? 0n : reader.buf.readBigUInt64BE(at);
}

/** `fn`, callable many times, run once. */
function once(fn: () => void): () => void {
  let done = false;
  return () => {
    if (done) return;
    done = true;
    fn();
  };
}
