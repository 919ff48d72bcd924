/**
 * Shard placement on a consistent-hash ring (DESIGN §3): every node owns
 * `vnodesPerNode` points at murmur3(`nodeId#i`), every shard sits at
 * murmur3(`shard:n`), and a shard's replicas are the first `rf` distinct
 * nodes clockwise from it. Adding a node only moves shards *to* that node;
 * removing one only moves its shards away: no shard moves between nodes
 * that stay (Karger et al.; Cassandra's token ring with vnodes).
 */
import assert from 'node:assert/strict';
import { murmur3String } from './murmur3.ts';

/** Virtual nodes per node (DESIGN §3). */
export const VNODES_PER_NODE = 160;

/** A consistent-hash ring over a set of node ids. */
export class HashRing {
  readonly nodes: readonly string[];
  /** Ring points sorted by position; `owners[i]` owns `points[i]`. */
  private readonly points: Uint32Array;
  private readonly owners: string[];

  constructor(nodes: readonly string[], vnodesPerNode = VNODES_PER_NODE) {
    assert.ok(vnodesPerNode >= 1, 'at least one virtual node per node');
    assert.equal(new Set(nodes).size, nodes.length, 'node ids are unique');
    this.nodes = [...nodes].sort();
    const entries: { point: number; node: string }[] = [];
    for (const node of this.nodes) {
      for (let i = 0; i < vnodesPerNode; i++) entries.push({ point: murmur3String(`${node}#${i}`), node });
    }
    // Ties (two points hashing alike) break by node id, so every process builds the same ring.
    entries.sort((a, b) => a.point - b.point || (a.node < b.node ? -1 : a.node > b.node ? 1 : 0));
    this.points = Uint32Array.from(entries.map((e) => e.point));
    this.owners = entries.map((e) => e.node);
  }

  /** The first `rf` distinct nodes clockwise from the shard's point (fewer if the ring has fewer nodes). */
  replicasFor(shard: number, rf: number): string[] {
    if (this.owners.length === 0) return [];
    const want = Math.min(rf, this.nodes.length);
    const out: string[] = [];
    let i = this.firstAtOrAfter(murmur3String(`shard:${shard}`));
    for (let steps = 0; out.length < want && steps < this.owners.length; steps++, i++) {
      const node = this.owners[i % this.owners.length] as string;
      if (!out.includes(node)) out.push(node);
    }
    return out;
  }

  /** Replica lists of shards 0..shardCount-1. */
  placement(shardCount: number, rf: number): string[][] {
    return Array.from({ length: shardCount }, (_, shard) => this.replicasFor(shard, rf));
  }

  private firstAtOrAfter(point: number): number {
    let lo = 0;
    let hi = this.points.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if ((this.points[mid] as number) < point) lo = mid + 1;
      else hi = mid;
    }
    return lo === this.points.length ? 0 : lo;
  }
}
