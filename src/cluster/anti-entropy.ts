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
 * Rounds go one shard and one peer at a time, which is the rate limit.
 */
import type { Logger } from 'pino';
import type { Catalog } from '../storage/catalog.ts';
import { batchesOfRecords } from './cluster-coordinator.ts';
import type { FailureDetector } from './failure-detector.ts';
import { MerkleTree } from './merkle.ts';
import { widestReplicationFactor, type Placement } from './placement.ts';
import type { ReplicaHandlers } from './transport/grpc-server.ts';
import type { PeerClients } from './transport/peer-clients.ts';
import type { WireRecord } from './transport/replica-messages.ts';

/** Record keys per Fetch call. */
const FETCH_KEYS_MAX = 2_000;

/** What one repair did. */
export interface RepairReport {
  readonly shards: number;
  /** Shard-peer pairs whose summaries differed. */
  readonly differing: number;
  /** Records copied to this node. */
  readonly pulled: number;
  /** Records copied to peers. */
  readonly pushed: number;
}

export interface AntiEntropyDeps {
  readonly nodeId: string;
  readonly shards: number;
  readonly catalog: Catalog;
  readonly placement: () => Placement;
  readonly local: ReplicaHandlers;
  readonly peers: PeerClients;
  readonly detector: FailureDetector;
  readonly timeoutMs: number;
  readonly log: Logger;
  readonly onRepaired?: (report: RepairReport) => void;
}

/** Background and on-demand Merkle repair of the shards this node holds. */
export class AntiEntropy {
  private readonly d: AntiEntropyDeps;
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<RepairReport> | undefined;

  constructor(deps: AntiEntropyDeps) {
    this.d = deps;
  }

  /** Runs a round over every shard each `intervalMs` (0: never). */
  start(intervalMs: number): void {
    if (intervalMs <= 0) return;
    this.timer = setInterval(() => {
      if (this.running === undefined) void this.repair().catch((err: unknown) => this.d.log.warn({ event: 'anti_entropy_failed', err: (err as Error).message }, 'anti-entropy round failed'));
    }, intervalMs);
    this.timer.unref();
  }

  /** Stops the background rounds. */
  stop(): void {
    if (this.timer !== undefined) clearInterval(this.timer);
  }

  /** Repairs one shard, or every shard this node holds; one repair runs at a time. */
  repair(shard?: number): Promise<RepairReport> {
    const previous = this.running ?? Promise.resolve(undefined);
    const run = previous.catch(() => undefined).then(() => this.run(shard));
    this.running = run;
    void run.finally(() => {
      if (this.running === run) this.running = undefined;
    }).catch(() => undefined);
    return run;
  }

  private async run(only: number | undefined): Promise<RepairReport> {
    const placement = this.d.placement();
    const rf = widestReplicationFactor(this.d.catalog);
    const report = { shards: 0, differing: 0, pulled: 0, pushed: 0 };
    const shards = only === undefined ? Array.from({ length: this.d.shards }, (_, s) => s) : [only];
    for (const shard of shards) {
      const replicas = placement.replicas(shard, rf);
      if (!replicas.includes(this.d.nodeId)) continue;
      report.shards++;
      for (const peer of replicas) {
        if (peer === this.d.nodeId || this.d.detector.state(peer) !== 'alive') continue;
        const r = await this.repairPair(shard, peer);
        if (r.differing) report.differing++;
        report.pulled += r.pulled;
        report.pushed += r.pushed;
      }
    }
    if (report.pulled + report.pushed > 0) this.d.log.info({ event: 'anti_entropy', ...report }, 'anti-entropy repaired differences');
    this.d.onRepaired?.(report);
    return report;
  }

  /**
   * Copies shards this node gains in the placement transition of `epoch`
   * from every live replica of the current ring. Each source first reaches
   * that epoch and indexes every write routed by an older one, so nothing
   * acknowledged under the old ring alone is missed; later writes reach
   * this node as a member of the target ring.
   */
  async catchUp(shards: readonly number[], epoch: number): Promise<RepairReport> {
    const rf = widestReplicationFactor(this.d.catalog);
    const report = { shards: 0, differing: 0, pulled: 0, pushed: 0 };
    for (const shard of shards) {
      report.shards++;
      for (const peer of this.d.placement().replicas(shard, rf)) {
        if (peer === this.d.nodeId || this.d.detector.state(peer) !== 'alive') continue;
        const r = await this.repairPair(shard, peer, epoch);
        if (r.differing) report.differing++;
        report.pulled += r.pulled;
        report.pushed += r.pushed;
      }
    }
    this.d.log.info({ event: 'catch_up', epoch, ...report }, 'copied the shards this node gains');
    this.d.onRepaired?.(report);
    return report;
  }

  private async repairPair(shard: number, peer: string, minEpoch?: number): Promise<{ differing: boolean; pulled: number; pushed: number }> {
    const call = this.d.peers.call.bind(this.d.peers);
    const [mine, theirs] = await Promise.all([
      this.d.local.Merkle({ shard }),
      call(peer, 'Merkle', { shard, ...(minEpoch === undefined ? {} : { minEpoch }) }, this.d.timeoutMs),
    ]);
    const leaves = MerkleTree.decode(mine.tree).diff(MerkleTree.decode(theirs.tree));
    if (leaves.length === 0) return { differing: false, pulled: 0, pushed: 0 };
    const [localEntries, remoteEntries] = await Promise.all([
      this.d.local.LeafEntries({ shard, leaves }),
      call(peer, 'LeafEntries', { shard, leaves }, this.d.timeoutMs),
    ]);
    const local = versionsByKey(localEntries.entries);
    const remote = versionsByKey(remoteEntries.entries);
    const pull = [...remote].filter(([k, v]) => (local.get(k)?.version ?? -1n) < v.version).map(([, v]) => v.key);
    const push = [...local].filter(([k, v]) => (remote.get(k)?.version ?? -1n) < v.version).map(([, v]) => v.key);
    let pulled = 0;
    for (const keys of chunks(pull, FETCH_KEYS_MAX)) {
      const { records } = await call(peer, 'Fetch', { keys }, this.d.timeoutMs);
      for (const batch of this.batches(records)) await this.d.local.Write({ batch });
      pulled += records.length;
    }
    let pushed = 0;
    for (const keys of chunks(push, FETCH_KEYS_MAX)) {
      const { records } = await this.d.local.Fetch({ keys });
      for (const batch of this.batches(records)) await call(peer, 'Write', { batch }, this.d.timeoutMs);
      pushed += records.length;
    }
    return { differing: true, pulled, pushed };
  }

  private batches(records: readonly WireRecord[]): Buffer[] {
    return batchesOfRecords((id) => this.d.catalog.byId(id), records);
  }
}

function versionsByKey(entries: readonly [Buffer, string][]): Map<string, { key: Buffer; version: bigint }> {
  return new Map(entries.map(([key, version]) => [key.toString('latin1'), { key, version: BigInt(version) }]));
}

function chunks<T>(items: readonly T[], size: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}
