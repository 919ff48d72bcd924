/**
 * Anti-entropy: replicas of a shard compare Merkle summaries of what they
 * store (record key, version and value digest of every record, and the
 * dedupe-key entries of a table without a primary key: merkle.ts, decision
 * 56) and exchange only the records of leaves that differ, in both directions. It repairs
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
import { LeafCursor, newerEntries, type NewerEntry } from './leaf-pages.ts';
import { MERKLE_SUMMARY_VERSION, MerkleTree } from './merkle.ts';
import { compareStoredRecords } from '../../core/last-writer-wins.ts';
import { RECORD_KEY_HEAD_BYTES } from '../../storage/index/key-layout.ts';
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
/** A record to copy, and the dedupe key to write it under when a dedupe-key entry named it (decision 56). */
interface Copy {
  readonly recordKey: Buffer;
  readonly dedupeKey?: Buffer;
}
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
    const summary = MERKLE_SUMMARY_VERSION;
    const [mine, theirs] = await Promise.all([
      call(self, 'Merkle', { shard, tableId, summary }, this.d.timeoutMs),
      call(peer, 'Merkle', { shard, tableId, summary, ...(minEpoch === undefined ? {} : { minEpoch }) }, this.d.timeoutMs),
    ]);
    // A peer of an earlier release answers summary 1 (no `summary`): compare that, as before (decision 56).
    const v2 = theirs.summary === summary;
    const myTree = v2 ? mine.tree : (await call(self, 'Merkle', { shard, tableId }, this.d.timeoutMs)).tree;
    const leaves = MerkleTree.decode(myTree).diff(MerkleTree.decode(theirs.tree));
    const keyLeaves = v2 && mine.keys !== undefined && theirs.keys !== undefined ? MerkleTree.decode(mine.keys).diff(MerkleTree.decode(theirs.keys)) : [];
    if (leaves.length === 0 && keyLeaves.length === 0) return { differing: false, pulled: 0, pushed: 0 };
    // Both lists come a page at a time and are compared as they come; the keys to copy go FETCH_KEYS_MAX at a
    // time, so a range of millions of keys holds two pages and two such groups, not every key of its leaves.
    const pages = (node: string, wanted: number[], extra: object): LeafCursor =>
      new LeafCursor(node, (after) => call(node, 'LeafEntries', { shard, tableId, leaves: wanted, paged: true, ...extra, ...(after === undefined ? {} : { after }) }, this.d.timeoutMs));
    const moved = { pulled: 0, pushed: 0 };
    if (leaves.length > 0) {
      const extra = v2 ? { summary } : {};
      await this.copyNewer(newerEntries(pages(self, leaves, extra), pages(peer, leaves, extra)), false, peer, direction, moved);
    }
    if (keyLeaves.length > 0) {
      await this.copyNewer(newerEntries(pages(self, keyLeaves, { summary, keys: true }), pages(peer, keyLeaves, { summary, keys: true })), true, peer, direction, moved);
    }
    return { differing: true, ...moved };
  }

  /**
   * Copies what the merge of two replicas' leaf entries finds, FETCH_KEYS_MAX keys at a time: a record one side
   * holds newer (or alone) to the other; the winner of a tie (decision 52) to the side that holds the loser;
   * with `keyEntries` (the entries are dedupe-key entries), for an entry one side lacks or holds older, its
   * record under that key (the entry carries the record key; a tie of those is left alone).
   */
  private async copyNewer(found: AsyncGenerator<NewerEntry>, keyEntries: boolean, peer: string, direction: Direction, moved: { pulled: number; pushed: number }): Promise<void> {
    const self = this.d.nodeId;
    const push: Copy[] = [];
    const pull: Copy[] = [];
    const ties: Buffer[] = [];
    for await (const entry of found) {
      if (entry.newer === 'tie') {
        if (keyEntries) continue;
        ties.push(entry.key);
        if (ties.length === FETCH_KEYS_MAX) await this.settleTies(ties.splice(0), peer, direction, moved);
        continue;
      }
      // A dedupe-key entry ([P key, version, record key]) names its record and, past the P key's head, its key.
      const item: Copy = keyEntries && entry.extra !== undefined ? { recordKey: entry.extra, dedupeKey: entry.key.subarray(RECORD_KEY_HEAD_BYTES) } : { recordKey: entry.key };
      if (entry.newer === 'mine') {
        push.push(item);
        if (push.length === FETCH_KEYS_MAX) moved.pushed += await this.copy(self, peer, push.splice(0));
      } else if (direction !== 'push') {
        pull.push(item);
        if (pull.length === FETCH_KEYS_MAX) moved.pulled += await this.copy(peer, self, pull.splice(0));
      }
    }
    if (ties.length > 0) await this.settleTies(ties, peer, direction, moved);
    if (pull.length > 0) moved.pulled += await this.copy(peer, self, pull);
    if (push.length > 0) moved.pushed += await this.copy(self, peer, push);
  }

  /**
   * Records both sides hold at one key and version with different values: the digests cannot say which wins, so
   * both are fetched, ordered as the index orders writes (compareStoredRecords), and the winner copied to the
   * side holding the loser. Copying both ways instead would let a table without a primary key swap them forever.
   */
  private async settleTies(keys: Buffer[], peer: string, direction: Direction, moved: { pulled: number; pushed: number }): Promise<void> {
    const self = this.d.nodeId;
    const [mine, theirs] = await Promise.all([this.fetchAll(self, keys), this.fetchAll(peer, keys)]);
    const push: Copy[] = [];
    const pull: Copy[] = [];
    for (const [hex, a] of mine) {
      const b = theirs.get(hex);
      if (b === undefined) continue;
      const order = compareStoredRecords(a.record, b.record);
      if (order > 0) push.push({ recordKey: a.record[0] });
      else if (order < 0 && direction !== 'push') pull.push({ recordKey: b.record[0] });
    }
    if (pull.length > 0) moved.pulled += await this.copy(peer, self, pull);
    if (push.length > 0) moved.pushed += await this.copy(self, peer, push);
  }

  /** The records of `keys` that `node` holds, by record key (hex). */
  private async fetchAll(node: string, keys: readonly Buffer[]): Promise<Map<string, { record: WireRecord }>> {
    const out = new Map<string, { record: WireRecord }>();
    for await (const { records } of fetchPages(this.d.transport, node, keys, this.d.timeoutMs)) for (const record of records) out.set(record[0].toString('hex'), { record });
    return out;
  }

  /**
   * Copies the records of `items` from `from` to `to`, a Fetch reply at a time, each under its dedupe key if it
   * has one (decision 54): the one its item names (a dedupe-key entry's, decision 56), else the one `from` sends.
   */
  private async copy(from: string, to: string, items: readonly Copy[]): Promise<number> {
    const named = new Map<string, Buffer>();
    for (const item of items) if (item.dedupeKey !== undefined) named.set(item.recordKey.toString('hex'), item.dedupeKey);
    let copied = 0;
    for await (const { records, dedupeKeys } of fetchPages(this.d.transport, from, items.map((i) => i.recordKey), this.d.timeoutMs)) {
      const keys = named.size === 0 ? dedupeKeys : records.map(([rk], i) => named.get(rk.toString('hex')) ?? dedupeKeys?.[i] ?? null);
      for (const batch of this.batches(records, keys)) await this.d.transport.call(to, 'Write', { batch }, this.d.timeoutMs);
      copied += records.length;
    }
    return copied;
  }

  private batches(records: readonly WireRecord[], dedupeKeys: readonly (Buffer | null)[] | undefined): Buffer[] {
    return batchesOfRecords((id) => this.d.catalog.byId(id), records, REPAIR_BATCH_BYTES_MAX, dedupeKeys);
  }
}
