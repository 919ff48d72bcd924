/**
 * Shard placement: which nodes hold each shard. The map in etcd is tiny (an
 * epoch, the ring's member ids, and during a change the ring it is moving
 * to); every node derives the same replica lists from it with the
 * consistent-hash ring. `placement-service.ts` follows and changes the map.
 */
import { HashRing } from '../../core/hash-ring.ts';
import type { Catalog } from '../../storage/catalog.ts';

/**
 * Placement is per shard, shared by every table; the widest replication
 * factor of any table decides which nodes hold a shard's data at all.
 */
export function widestReplicationFactor(catalog: Catalog): number {
  return Math.max(1, ...catalog.list().map((t) => t.versions.at(-1)?.replicationFactor ?? 1));
}

/** The placement map as stored in etcd. */
export interface PlacementMap {
  readonly epoch: number;
  /** Ring members, sorted: the ring reads use. */
  readonly nodes: readonly string[];
  /** During a membership change, the ring being moved to (writes go to both). */
  readonly target?: readonly string[];
}

/** The placement at one epoch with its derived rings. */
export class Placement {
  readonly epoch: number;
  readonly nodes: readonly string[];
  readonly target: readonly string[] | undefined;
  private readonly ring: HashRing;
  private readonly targetRing: HashRing | undefined;
  private readonly cache = new Map<number, string[]>();
  private readonly targetCache = new Map<number, string[]>();

  constructor(map: PlacementMap) {
    this.epoch = map.epoch;
    this.nodes = [...map.nodes].sort();
    this.ring = new HashRing(this.nodes);
    if (map.target !== undefined) {
      this.target = [...map.target].sort();
      this.targetRing = new HashRing(this.target);
    } else {
      this.target = undefined;
    }
  }

  /** The replicas of `shard` for a table of replication factor `rf`, preferred first: the ones reads use. */
  replicas(shard: number, rf: number): readonly string[] {
    return cached(this.cache, this.ring, shard, rf);
  }

  /** During a transition, the replicas of `shard` in the target ring; otherwise undefined. */
  targetReplicas(shard: number, rf: number): readonly string[] | undefined {
    return this.targetRing === undefined ? undefined : cached(this.targetCache, this.targetRing, shard, rf);
  }

  /** Shards `node` holds in the target ring but not in the current one: what it must copy before the switch. */
  gained(node: string, shardCount: number, rf: number): number[] {
    const out: number[] = [];
    for (let s = 0; s < shardCount; s++) {
      if (this.targetReplicas(s, rf)?.includes(node) === true && !this.replicas(s, rf).includes(node)) out.push(s);
    }
    return out;
  }

  /** Shards (0..shardCount-1) per node at replication factor `rf`. */
  shardsPerNode(shardCount: number, rf: number): Record<string, number[]> {
    const out: Record<string, number[]> = Object.fromEntries(this.nodes.map((n) => [n, [] as number[]]));
    for (let s = 0; s < shardCount; s++) for (const n of this.replicas(s, rf)) out[n]?.push(s);
    return out;
  }
}

function cached(cache: Map<number, string[]>, ring: HashRing, shard: number, rf: number): string[] {
  const key = shard * 64 + rf;
  let out = cache.get(key);
  if (out === undefined) {
    out = ring.replicasFor(shard, rf);
    cache.set(key, out);
  }
  return out;
}

/**
 * Old replicas a gaining node must copy from so that every write a quorum
 * acknowledged is among them: any `n − quorum + 1` of `n` replicas meet
 * every quorum of them (1 of 1, 2 of 3, 3 of 5). A dead replica among the
 * rest (the node being replaced) does not hold the transition up.
 */
export function sourcesNeeded(replicas: number): number {
  // A quorum is a majority (coordinator.ts requiredReplicas). Placement's
  // leader and repair's catch-up both count with it, so it lives below both.
  const quorum = Math.floor(replicas / 2) + 1;
  return replicas - quorum + 1;
}
