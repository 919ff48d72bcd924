/**
 * What every write path of a cluster coordinator starts from: this node,
 * its clocks and id generator, its lease, the placement, and the transport
 * to the replicas. The plain writer, the two-phase commit writer and the
 * coordinator that builds them share it.
 */
import type { Hlc } from '../../core/hlc.ts';
import type { SnowflakeGenerator } from '../../core/snowflake.ts';
import type { Placement } from '../placement/placement.ts';
import type { ReplicaTransport } from '../transport/replica-transport.ts';

/** The node, its clocks and placement, and its transport. */
export interface WriteContext {
  readonly nodeId: string;
  readonly hlc: Hlc;
  /** The current id generator (its worker id is leased; it changes after a re-registration). */
  readonly ids: () => SnowflakeGenerator;
  /** Throws unless this node's etcd lease is certainly alive. */
  readonly assertLive: () => void;
  readonly placement: () => Placement;
  /** Reads the placement from etcd now (after a replica said ours is stale). */
  readonly refreshPlacement: () => Promise<Placement>;
  /** Reaches this node's own replica and its peers'. */
  readonly transport: ReplicaTransport;
}

/** The WriteContext fields of a larger object (so a deps object passes only those on). */
export function writeContextOf(d: WriteContext): WriteContext {
  return { nodeId: d.nodeId, hlc: d.hlc, ids: d.ids, assertLive: d.assertLive, placement: d.placement, refreshPlacement: d.refreshPlacement, transport: d.transport };
}
