/**
 * Cleanup, after Cassandra's `nodetool cleanup`: once the ring has changed
 * (a node joined, another was decommissioned), drop what this node still
 * stores of table shards it no longer replicates. Reads never ask it for
 * them, so they only cost disk, and a later move back would be confused
 * by stale copies.
 *
 * Nothing is dropped on trust. Before a range goes, every one of its
 * current replicas must be alive, and each is handed whatever this node
 * holds that it lacks or holds older (a Merkle compare, push only): a
 * record that reached only this node, or a hint that never arrived, is
 * copied before the local copy is deleted. A range with a replica down is
 * skipped and reported. A range is closed to appends from before its
 * compare until the drop is over (range-fence.ts), so nothing reaches it
 * in between that no replica was handed. Cleanup refuses while a
 * membership change runs, and runs exclusive of repair and catch-up, so a
 * transition that starts later copies back whatever it needs after the drop.
 */
import type { Logger } from 'pino';
import { SluiceError } from '../../core/errors.ts';
import { currentDef, type Catalog } from '../../storage/catalog.ts';
import type { LocalStore } from '../../storage/local-store.ts';
import type { AntiEntropy, ShardRange } from './anti-entropy.ts';
import type { FailureDetector } from '../membership/failure-detector.ts';
import type { Placement } from '../placement/placement.ts';

/** A range cleanup left in place, and why. */
export interface SkippedRange extends ShardRange {
  readonly table: string;
  readonly reason: string;
}

/** What one cleanup did. */
export interface CleanupReport {
  /** The placement epoch it cleaned up to. */
  readonly epoch: number;
  /** Table shards dropped. */
  readonly ranges: number;
  /** Records deleted from this node. */
  readonly deleted: number;
  /** Records handed to current replicas first (they lacked them). */
  readonly pushed: number;
  readonly skipped: readonly SkippedRange[];
}

export interface CleanupDeps {
  readonly nodeId: string;
  readonly shards: number;
  readonly catalog: Catalog;
  readonly placement: () => Placement;
  readonly detector: FailureDetector;
  readonly antiEntropy: AntiEntropy;
  readonly store: LocalStore;
  readonly log: Logger;
}

/** Drops the table shards this node holds but no longer replicates, after handing them to their replicas. */
export async function cleanup(d: CleanupDeps): Promise<CleanupReport> {
  return d.antiEntropy.exclusive(async () => {
    const placement = d.placement();
    const moving = (): boolean => d.placement().target !== undefined || d.placement().epoch !== placement.epoch;
    if (placement.target !== undefined) {
      throw new SluiceError('NOT_READY', `placement epoch ${placement.epoch} is a membership change in progress; clean up once it has finished`);
    }
    if (placement.nodes.length === 0) {
      // An empty ring is a placement not read yet (no map in etcd so far): every range would have no replica to hand to.
      throw new SluiceError('NOT_READY', 'this node has not read a placement yet; clean up once it has');
    }
    const skipped: SkippedRange[] = [];
    const skip = (range: ShardRange, table: string, reason: string): void => void skipped.push({ ...range, table, reason });
    const ranges = await rangesToHand(d, placement, skip);
    // Closed before any compare, all at once (one wait for the appends under way): a record appended after
    // its range's compare (a hint replayed here) would be dropped unhanded.
    const release = await d.store.closeRanges(ranges.map((r) => r.range));
    try {
      let pushed = 0;
      const handed: HandOff[] = [];
      for (const r of ranges) {
        try {
          for (const peer of r.replicas) pushed += await d.antiEntropy.handOff(r.range, peer);
          handed.push(r);
        } catch (err) {
          skip(r.range, r.table, `handing it to its replicas failed: ${(err as Error).message}`);
        }
      }
      // One drop for every handed range: the id blocks are rewritten in a single pass.
      const gone = moving() ? { records: 0, ranges: 0 } : await d.store.dropRanges(handed.map((h) => h.range), () => !moving());
      for (const h of handed.slice(gone.ranges)) skip(h.range, h.table, 'the placement changed meanwhile');
      const report = { epoch: placement.epoch, ranges: gone.ranges, deleted: gone.records, pushed, skipped };
      d.log.info({ event: 'cleanup', ...report, skipped: skipped.length }, 'dropped the ranges this node no longer replicates');
      return report;
    } finally {
      release();
    }
  });
}

/** A table shard to hand to its replicas, then drop. */
interface HandOff {
  readonly range: ShardRange;
  readonly table: string;
  readonly replicas: readonly string[];
}

/** The table shards this node holds but does not replicate at `placement` and whose replicas are all alive; the rest are skipped. */
async function rangesToHand(d: CleanupDeps, placement: Placement, skip: (range: ShardRange, table: string, reason: string) => void): Promise<HandOff[]> {
  const out: HandOff[] = [];
  for (const table of d.catalog.list()) {
    const rf = currentDef(table).replicationFactor;
    for (let shard = 0; shard < d.shards; shard++) {
      const replicas = placement.replicas(shard, rf);
      if (replicas.includes(d.nodeId)) continue;
      const range = { shard, tableId: table.id };
      if (!(await d.store.holds(range))) continue;
      const down = replicas.filter((n) => d.detector.state(n) !== 'alive');
      if (down.length > 0) skip(range, table.name, `replica ${down.join(', ')} is not alive`);
      else out.push({ range, table: table.name, replicas });
    }
  }
  return out;
}
