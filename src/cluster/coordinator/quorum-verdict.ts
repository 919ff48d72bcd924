/**
 * The quorum rules of a replicated write, as pure functions of what is
 * known: the replica sets each shard must satisfy, which replicas are
 * live, which acknowledged and which failed. No I/O, no clock: the
 * coordinator feeds them and obeys, and a table-driven test pins them.
 *
 * A shard of a write has one replica set, or two during a placement
 * transition (the current ring's and the target ring's); W acks are needed
 * in each. W is `requiredReplicas(consistency, set size)`.
 */
import { SluiceError } from '../../core/errors.ts';
import { requiredReplicas, type Consistency } from './coordinator.ts';

/** The replica sets one shard of a write must satisfy (one, or two in a transition). */
export type ShardSets = readonly (readonly string[])[];

/** What a coordinator does when a shard has fewer live replicas than W. */
export type PartitionMode = 'refuse' | 'buffer';

/** Before writing: go on, go on degraded (buffer mode, hints stand in for acks), or refuse. */
export type Availability = 'ok' | 'degraded' | SluiceError;

/**
 * Whether a write may start: every replica set of every shard needs W live
 * replicas; short of it, `refuse` answers NO_QUORUM before anything is
 * written (Cassandra's "unavailable") and `buffer` goes on degraded.
 */
export function availability(shards: ReadonlyMap<number, ShardSets>, isLive: (node: string) => boolean, consistency: Consistency, mode: PartitionMode): Availability {
  for (const [shard, sets] of shards) {
    for (const set of sets) {
      const live = set.filter(isLive).length;
      const w = requiredReplicas(consistency, set.length);
      if (live >= w) continue;
      if (mode === 'buffer') return 'degraded';
      return new SluiceError('NO_QUORUM', `shard ${shard}: ${live} of its ${set.length} replicas are reachable, ${w} required (${consistency}); nothing was written`);
    }
  }
  return 'ok';
}

/** What is known of a write in flight. */
export interface WriteTally {
  readonly shards: Iterable<ShardSets>;
  readonly acked: ReadonlySet<string>;
  /** Replicas that answered with an error or not at all (hinted or lost). */
  readonly failed: ReadonlySet<string>;
  readonly consistency: Consistency;
  /** Degraded (buffer mode): done once every replica is written or hinted, whatever W. */
  readonly degraded: boolean;
  /** Some replica refused because it follows a newer placement. */
  readonly stale: boolean;
  /** A replica's refusal of the write's versions as too far ahead of its clock, if one refused so. */
  readonly clockSkew?: SluiceError | undefined;
}

/**
 * `ok` once every replica set of every shard has W acks (degraded: once
 * every replica answered); `wait` while that can still happen; otherwise
 * the error to answer: STALE_PLACEMENT when a replica follows a newer
 * placement (the coordinator routes again), CLOCK_SKEW when a replica
 * refused the versions as too far ahead of its clock (the clocks need
 * fixing, not the network), else NO_QUORUM.
 */
export function writeVerdict(t: WriteTally): 'ok' | 'wait' | SluiceError {
  for (const sets of t.shards) {
    for (const set of sets) {
      const w = requiredReplicas(t.consistency, set.length);
      const acks = count(set, t.acked);
      if (acks >= w) continue;
      const failures = count(set, t.failed);
      if (t.degraded) {
        if (acks + failures < set.length) return 'wait';
        continue;
      }
      if (failures > set.length - w) {
        if (t.stale) return new SluiceError('STALE_PLACEMENT', 'a replica follows a newer placement');
        if (t.clockSkew !== undefined) return new SluiceError('CLOCK_SKEW', `a shard's write reached ${acks} of ${w} required replicas (${t.consistency}): ${t.clockSkew.message}`, t.clockSkew.details);
        return new SluiceError('NO_QUORUM', `a shard's write reached ${acks} of ${w} required replicas (${t.consistency})`);
      }
      return 'wait';
    }
  }
  return 'ok';
}

/** True when some replica set of some shard has fewer than W acks (a degraded write that really is short). */
export function shortOfQuorum(shards: Iterable<ShardSets>, acked: ReadonlySet<string>, consistency: Consistency): boolean {
  for (const sets of shards) for (const set of sets) if (count(set, acked) < requiredReplicas(consistency, set.length)) return true;
  return false;
}

/**
 * Nodes to ask so that R replicas of every shard answer when an id does
 * not name its shard: every node but the RF - R of one shard that may be
 * left out.
 */
export function nodesForUnroutedRead(nodes: number, rf: number, consistency: Consistency): number {
  const replicas = Math.min(rf, nodes);
  return nodes - replicas + requiredReplicas(consistency, replicas);
}

function count(set: readonly string[], members: ReadonlySet<string>): number {
  let n = 0;
  for (const node of set) if (members.has(node)) n++;
  return n;
}
