/**
 * Placement benchmark (groundwork for #3): how evenly the consistent-hash
 * ring spreads shards over 3, 10 and 100 nodes, and how many shards change
 * replicas when an 11th node joins 10, next to the optimum. The ring is
 * deterministic for the node ids n1..nN, so each figure is exact (no runs,
 * no median). 16 shards is what a table gets by default; 4096 (the most a
 * table may have) shows the ring's own balance without small-number noise.
 */
import { HashRing, VNODES_PER_NODE } from '../src/core/hash-ring.ts';
import { fmt } from './lib/stats.ts';

/** Options of the placement benchmark. */
export interface RingBenchOptions {
  readonly vnodes: number;
  readonly shardCounts: readonly number[];
  readonly nodeCounts: readonly number[];
}

/** Defaults: the node's 160 vnodes and 16 shards, plus 4096 shards for statistics. */
export const RING_BENCH_DEFAULTS: RingBenchOptions = { vnodes: VNODES_PER_NODE, shardCounts: [16, 4096], nodeCounts: [3, 10, 100] };

/** Node ids as the cluster names them (the ring hashes ids, so the figures depend on them). */
const names = (n: number): string[] => Array.from({ length: n }, (_, i) => `n${i + 1}`);

/** Replica slots (or primaries, with rf 1) held by each node, including nodes holding none. */
function loadPerNode(ring: HashRing, shards: number, rf: number): number[] {
  const load = new Map<string, number>(ring.nodes.map((n) => [n, 0]));
  for (const replicas of ring.placement(shards, rf)) for (const n of replicas) load.set(n, (load.get(n) ?? 0) + 1);
  return [...load.values()];
}

/** What changes for `shards` shards when node `n11` joins n1..n10. */
function joinMovement(vnodes: number, shards: number): { setsChanged: number; slotsMoved: number; primariesMoved: number; strayMoves: number } {
  const before = new HashRing(names(10), vnodes);
  const after = new HashRing([...names(10), 'n11'], vnodes);
  let setsChanged = 0;
  let slotsMoved = 0;
  let primariesMoved = 0;
  let strayMoves = 0;
  for (let shard = 0; shard < shards; shard++) {
    const old = before.replicasFor(shard, 3);
    const now = after.replicasFor(shard, 3);
    const gained = now.filter((n) => !old.includes(n));
    if (gained.length > 0) setsChanged++;
    slotsMoved += gained.length;
    // Consistent hashing promises every gained slot goes to the new node; count any that do not.
    strayMoves += gained.filter((n) => n !== 'n11').length;
    if (old[0] !== now[0]) primariesMoved++;
  }
  return { setsChanged, slotsMoved, primariesMoved, strayMoves };
}

/** Runs the placement benchmark and returns the report as Markdown. */
export function runRingBench(o: RingBenchOptions = RING_BENCH_DEFAULTS): string {
  const lines: string[] = [];
  const log = (s: string): void => {
    lines.push(s);
    console.log(s);
  };
  const ratio = (max: number, mean: number): string => `${fmt(max / mean, 2)}×`;

  log(`## Placement balance (${o.vnodes} vnodes per node)`);
  log('');
  log('Replica slots per node with RF=3 (each shard counts on its 3 replicas) and primaries per node with RF=1 (the first replica only). max/mean 1.00× is perfect balance; "best" is the least max any placement could reach (the mean rounded up), which with few shards per node is itself well above the mean.');
  log('');
  log(`| nodes | shards | RF=3 slots/node mean | max | max/mean | RF=1 primaries/node mean | max | max/mean | nodes with no primary |`);
  log(`|---|---|---|---|---|---|---|---|---|`);
  for (const shards of o.shardCounts) {
    for (const nodes of o.nodeCounts) {
      const ring = new HashRing(names(nodes), o.vnodes);
      const slots = loadPerNode(ring, shards, 3);
      const primaries = loadPerNode(ring, shards, 1);
      const slotMean = (shards * Math.min(3, nodes)) / nodes;
      const primaryMean = shards / nodes;
      const slotMax = Math.max(...slots);
      const primaryMax = Math.max(...primaries);
      log(
        `| ${nodes} | ${fmt(shards)} | ${fmt(slotMean, 2)} | ${fmt(slotMax)} (best ${fmt(Math.ceil(slotMean))}) | ${ratio(slotMax, slotMean)} | ${fmt(primaryMean, 2)} | ${fmt(primaryMax)} (best ${fmt(Math.ceil(primaryMean))}) | ${ratio(primaryMax, primaryMean)} | ${primaries.filter((p) => p === 0).length} |`,
      );
    }
  }
  log('');

  const moves = o.shardCounts.map((shards) => ({ shards, ...joinMovement(o.vnodes, shards) }));
  const cell = (count: number, total: number, optimum: number): string => `${fmt(count)} of ${fmt(total)} = ${fmt((100 * count) / total, 1)} % (${fmt(count / total / optimum, 2)}× optimum)`;
  log(`## Movement when an 11th node joins 10 (${o.vnodes} vnodes per node)`);
  log('');
  log('The joining node should end up with 1/11 of the replica slots. With RF=3 each slot it takes changes one replica set, so at best 3/11 of the sets change while 1/11 of the slots move; with RF=1 at best 1/11 of the primaries move. Below 1.00× the new node took less than its fair share (it is under-loaded), above it shards moved needlessly.');
  log('');
  log(`| figure | optimum | ${moves.map((m) => `${fmt(m.shards)} shards`).join(' | ')} |`);
  log(`|---|---|${moves.map(() => '---|').join('')}`);
  log(`| shards whose RF=3 replica set changes | 3/11 = ${fmt(300 / 11, 1)} % | ${moves.map((m) => cell(m.setsChanged, m.shards, 3 / 11)).join(' | ')} |`);
  log(`| RF=3 replica slots that move | 1/11 = ${fmt(100 / 11, 1)} % | ${moves.map((m) => cell(m.slotsMoved, 3 * m.shards, 1 / 11)).join(' | ')} |`);
  log(`| primaries that move (RF=1) | 1/11 = ${fmt(100 / 11, 1)} % | ${moves.map((m) => cell(m.primariesMoved, m.shards, 1 / 11)).join(' | ')} |`);
  log(`| slots moved to a node other than the new one | 0 | ${moves.map((m) => fmt(m.strayMoves)).join(' | ')} |`);
  log('');
  return lines.join('\n');
}
