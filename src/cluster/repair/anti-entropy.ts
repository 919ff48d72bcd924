/**
 * Anti-entropy: replicas of a shard compare Merkle summaries of what they
 * store (record key and version of every record, merkle.ts) and exchange
 * only the records of leaves that differ, in both directions. It repairs
 * what hints cannot: a node restored from an empty disk, hints lost with a
 * coordinator's disk, writes that failed everywhere but one replica.
 *
 * Records travel as ordinary record batches and are applied through the
 * WAL, so repair is as durable as a write, and idempotent: an older version
 * of a primary key is ignored by the index on arrival (last writer wins).
 * Rounds go one table's shard and one peer at a time, which is the rate
 * limit. Each table is compared among its own replicas (the first RF nodes
 * of the shard for that table's RF), so a table with a smaller replication
 * factor is never copied to nodes that do not replicate it.
 */
import type { Logger } from 'pino';
import { SluiceError } from '../../core/errors.ts';
import { currentDef, type Catalog } from '../../storage/catalog.ts';
import { batchesOfRecords } from './record-batches.ts';
import { fetchPages } from './fetch-pages.ts';
import type { FailureDetector } from '../membership/failure-detector.ts';
import { LeafCursor, newerEntries } from './leaf-pages.ts';
import { MerkleTree } from './merkle.ts';
import { sourcesNeeded, type Placement } from '../placement/placement.ts';
import type { ReplicaTransport } from '../transport/replica-transport.ts';
import type { WireRecord } from '../transport/replica-messages.ts';

/** Record keys per Fetch call. */
const FETCH_KEYS_MAX = 2_000;
/**
 * Record bytes per batch a repair writes: each batch is one WAL frame on the
 * replica, so it stays well below the smallest frame limit (64 MiB,
 * walFrameBytesMax), which 2,000 records of a few dozen KiB already pass.
 */
const REPAIR_BATCH_BYTES_MAX = 16 * 1024 * 1024;

/** One table's records in one shard: what repair compares and cleanup drops. */
export interface ShardRange {
  readonly shard: number;
  readonly tableId: number;
}

type Direction = 'both' | 'push';
type MutableReport = { -readonly [K in keyof RepairReport]: RepairReport[K] };

function emptyReport(): MutableReport {
  return { shards: 0, differing: 0, pulled: 0, pushed: 0, skipped: 0 };
}

/** What one repair did. */
export interface RepairReport {
  readonly shards: number;
  /** (table, shard)–peer pairs whose summaries differed. */
  readonly differing: number;
  /** Records copied to this node. */
  readonly pulled: number;
  /** Records copied to peers. */
  readonly pushed: number;
  /** (table, shard)–peer pairs not compared: the peer was not alive, or (in a round) the comparison failed. */
  readonly skipped: number;
}

export interface AntiEntropyDeps {
  readonly nodeId: string;
  readonly shards: number;
  readonly catalog: Catalog;
  readonly placement: () => Placement;
  /** Reaches this node's own replica and its peers'. */
  readonly transport: ReplicaTransport;
  readonly detector: FailureDetector;
  readonly timeoutMs: number;
  readonly log: Logger;
  readonly onRepaired?: (report: RepairReport) => void;
}

/** Background and on-demand Merkle repair of the shards this node holds. */
export class AntiEntropy {
  private readonly d: AntiEntropyDeps;
  private timer: NodeJS.Timeout | undefined;
  /** The lock that repair ranges, catch-up and cleanup take. */
  private queue: Promise<unknown> = Promise.resolve();
  /** Repairs, one after another. */
  private repairs: Promise<unknown> = Promise.resolve();
  /** A background round is queued or running (rounds do not pile up behind a slow one). */
  private background = false;

  constructor(deps: AntiEntropyDeps) {
    this.d = deps;
  }

  /** Runs a round over every shard each `intervalMs` (0: never). */
  start(intervalMs: number): void {
    if (intervalMs <= 0) return;
    this.timer = setInterval(() => {
      if (this.background) return;
      this.background = true;
      void this.repair()
        .catch((err: unknown) => this.d.log.warn({ event: 'anti_entropy_failed', err: (err as Error).message }, 'anti-entropy round failed'))
        .finally(() => {
          this.background = false;
        });
    }, intervalMs);
    this.timer.unref();
  }

  /** Stops the background rounds. */
  stop(): void {
    if (this.timer !== undefined) clearInterval(this.timer);
  }

  /**
   * Repairs one shard, or every shard this node holds; one repair runs at a
   * time. It takes the lock per table shard, so a catch-up or cleanup asked
   * for meanwhile runs between two ranges instead of after a whole round.
   */
  repair(shard?: number): Promise<RepairReport> {
    const run = this.repairs.catch(() => undefined).then(() => this.run(shard));
    this.repairs = run;
    return run;
  }

  /**
   * Runs `task` when no repair range, catch-up or cleanup runs, and holds
   * off the others meanwhile: a catch-up must not copy a range while
   * cleanup drops it.
   */
  exclusive<T>(task: () => Promise<T>): Promise<T> {
    const run = this.queue.catch(() => undefined).then(task);
    this.queue = run;
    return run;
  }

  private async run(only: number | undefined): Promise<RepairReport> {
    const report = emptyReport();
    const shards = new Set<number>();
    for (const { tableId, rf } of this.tables()) {
      for (let shard = 0; shard < this.d.shards; shard++) {
        if (only !== undefined && shard !== only) continue;
        await this.exclusive(async () => {
          // Read under the lock: the ring may have changed (and cleanup dropped a range) since the round began.
          const replicas = this.d.placement().replicas(shard, rf);
          if (!replicas.includes(this.d.nodeId)) return;
          shards.add(shard);
          await this.withPeers({ shard, tableId }, replicas, report, 'both', undefined, (peer, err) => {
            // The round goes on: a pair that fails every time (a reply past the message limit, a scan past the
            // timeout) must not keep every later range, with every replica, from being repaired.
            this.d.log.warn({ event: 'anti_entropy_pair_failed', shard, tableId, peer, err: (err as Error).message }, 'anti-entropy could not compare a shard with a replica; going on');
          });
        });
      }
    }
    const done = { ...report, shards: shards.size };
    if (done.pulled + done.pushed > 0) this.d.log.info({ event: 'anti_entropy', ...done }, 'anti-entropy repaired differences');
    this.d.onRepaired?.(done);
    return done;
  }

  /**
   * Copies what this node gains in the placement transition of `epoch`
   * (per table, by its replication factor) from every live replica of the
   * current ring. Each source first reaches that epoch and indexes every
   * write routed by an older one, so nothing acknowledged under the old
   * ring alone is missed; later writes reach this node as a member of the
   * target ring.
   */
  catchUp(epoch: number): Promise<RepairReport> {
    return this.exclusive(() => this.copyGained(epoch));
  }

  private async copyGained(epoch: number): Promise<RepairReport> {
    const placement = this.d.placement();
    const report = emptyReport();
    const shards = new Set<number>();
    const short: string[] = [];
    for (const { tableId, rf } of this.tables()) {
      for (const shard of placement.gained(this.d.nodeId, this.d.shards, rf)) {
        shards.add(shard);
        const sources = placement.replicas(shard, rf).filter((n) => n !== this.d.nodeId);
        const compared = await this.withPeers({ shard, tableId }, sources, report, 'both', epoch);
        if (compared < sourcesNeeded(sources.length)) short.push(`table ${tableId} shard ${shard}: ${compared} of ${sources.length}`);
      }
    }
    const done = { ...report, shards: shards.size };
    this.d.onRepaired?.(done);
    if (short.length > 0) {
      // Ready now, the node would answer quorum reads of the target ring without writes only the skipped replicas hold.
      // Its own event: `catch_up` is a finished copy (tests and operators count those); this one is retried.
      const why = `catch-up for epoch ${epoch} compared too few live replicas (${short.slice(0, 3).join('; ')}${short.length > 3 ? '; …' : ''}): not ready yet`;
      this.d.log.warn({ event: 'catch_up_incomplete', epoch, ...done, short: short.length }, why);
      throw new SluiceError('NO_QUORUM', why);
    }
    this.d.log.info({ event: 'catch_up', epoch, ...done }, 'copied the shards this node gains');
    return done;
  }

  /**
   * Pushes to `peer` every record of one table's shard that this node holds
   * and the peer lacks or holds older; returns how many it pushed. What
   * cleanup does (inside `exclusive`) before it drops a range this node no
   * longer replicates.
   */
  async handOff(range: ShardRange, peer: string): Promise<number> {
    return (await this.repairPair(range, peer, 'push')).pushed;
  }

  /** Every table with its replication factor: repair compares one table's shard at a time, by that table's replicas. */
  private tables(): { tableId: number; rf: number }[] {
    return this.d.catalog.list().map((t) => ({ tableId: t.id, rf: currentDef(t).replicationFactor }));
  }

  /**
   * Repairs `range` with each live peer of `replicas`; returns how many peers it compared with. A pair that
   * fails throws, unless `onFailed` is given: then it is told, counted as skipped, and the next peer is tried.
   */
  private async withPeers(range: ShardRange, replicas: readonly string[], report: MutableReport, direction: Direction, minEpoch?: number, onFailed?: (peer: string, err: unknown) => void): Promise<number> {
    let compared = 0;
    for (const peer of replicas) {
      if (peer === this.d.nodeId) continue;
      if (this.d.detector.state(peer) !== 'alive') {
        report.skipped++;
        continue;
      }
      let r: Awaited<ReturnType<AntiEntropy['repairPair']>>;
      try {
        r = await this.repairPair(range, peer, direction, minEpoch);
      } catch (err) {
        if (onFailed === undefined) throw err;
        onFailed(peer, err);
        report.skipped++;
        continue;
      }
      compared++;
      if (r.differing) report.differing++;
      report.pulled += r.pulled;
      report.pushed += r.pushed;
    }
    return compared;
  }

  private async repairPair(range: ShardRange, peer: string, direction: Direction, minEpoch?: number): Promise<{ differing: boolean; pulled: number; pushed: number }> {
    const call = this.d.transport.call.bind(this.d.transport);
    const self = this.d.nodeId;
    const { shard, tableId } = range;
    const [mine, theirs] = await Promise.all([
      call(self, 'Merkle', { shard, tableId }, this.d.timeoutMs),
      call(peer, 'Merkle', { shard, tableId, ...(minEpoch === undefined ? {} : { minEpoch }) }, this.d.timeoutMs),
    ]);
    const leaves = MerkleTree.decode(mine.tree).diff(MerkleTree.decode(theirs.tree));
    if (leaves.length === 0) return { differing: false, pulled: 0, pushed: 0 };
    // Both lists come a page at a time and are compared as they come; the keys to copy go FETCH_KEYS_MAX at a
    // time, so a range of millions of keys holds two pages and two such groups, not every key of its leaves.
    const pages = (node: string): LeafCursor =>
      new LeafCursor(node, (after) => call(node, 'LeafEntries', { shard, tableId, leaves, paged: true, ...(after === undefined ? {} : { after }) }, this.d.timeoutMs));
    const pull: Buffer[] = [];
    const push: Buffer[] = [];
    let pulled = 0;
    let pushed = 0;
    for await (const { newer, key } of newerEntries(pages(self), pages(peer))) {
      if (newer === 'mine') {
        push.push(key);
        if (push.length === FETCH_KEYS_MAX) pushed += await this.copy(self, peer, push.splice(0));
      } else if (direction !== 'push') {
        pull.push(key);
        if (pull.length === FETCH_KEYS_MAX) pulled += await this.copy(peer, self, pull.splice(0));
      }
    }
    if (pull.length > 0) pulled += await this.copy(peer, self, pull);
    if (push.length > 0) pushed += await this.copy(self, peer, push);
    return { differing: true, pulled, pushed };
  }

  /** Copies the records of `keys` from `from` to `to`, a Fetch reply at a time, each under its dedupe key if it has one (decision 54). */
  private async copy(from: string, to: string, keys: Buffer[]): Promise<number> {
    let copied = 0;
    for await (const { records, dedupeKeys } of fetchPages(this.d.transport, from, keys, this.d.timeoutMs)) {
      for (const batch of this.batches(records, dedupeKeys)) await this.d.transport.call(to, 'Write', { batch }, this.d.timeoutMs);
      copied += records.length;
    }
    return copied;
  }

  private batches(records: readonly WireRecord[], dedupeKeys: readonly (Buffer | null)[] | undefined): Buffer[] {
    return batchesOfRecords((id) => this.d.catalog.byId(id), records, REPAIR_BATCH_BYTES_MAX, dedupeKeys);
  }
}
