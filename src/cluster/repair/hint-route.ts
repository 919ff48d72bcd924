/**
 * Where a hint's entries go now (decision 45, amended): a hint is cut by
 * the current placement into the part its target still replicates and,
 * per current replica, the entries of shards the target no longer
 * replicates (a join or a decommission moved them since it was queued).
 */
import { subBatch } from '../../core/codec/batch-slices.ts';
import { RecordBatchReader } from '../../core/codec/record-batch-v1.ts';
import { currentDef, type Catalog } from '../../storage/catalog.ts';
import type { Placement } from '../placement/placement.ts';

/** A hint cut by where its entries go now: the part its target still replicates, and the rest by current replica. */
export interface HintRoute {
  readonly own: Buffer | undefined;
  readonly elsewhere: ReadonlyMap<string, Buffer>;
}

/** Cuts a hint for `target` by `placement` (the whole of it is `own` when its table is unknown or no placement is read yet). */
export function routeHint(target: string, batch: Buffer, placement: Placement, catalog: Pick<Catalog, 'byId'>): HintRoute {
  const entry = catalog.byId(new RecordBatchReader(batch).tableId);
  if (entry === undefined || placement.nodes.length === 0) return { own: batch, elsewhere: new Map() };
  const byNode = positionsByReplica(batch, placement, currentDef(entry).replicationFactor);
  const owned = byNode.get(target) ?? [];
  const ownedSet = new Set(owned);
  const elsewhere = new Map<string, Buffer>();
  for (const [node, positions] of byNode) {
    // Only the entries the target no longer replicates: the others' copies of its own entries are not its hint's business.
    const moved = node === target ? [] : positions.filter((p) => !ownedSet.has(p));
    if (moved.length > 0) elsewhere.set(node, subBatch(batch, moved));
  }
  // The usual case (nothing moved): the hint as it was queued, not a copy.
  if (elsewhere.size === 0 && owned.length > 0) return { own: batch, elsewhere };
  return { own: owned.length === 0 ? undefined : subBatch(batch, owned), elsewhere };
}

/** The positions of a batch's entries by node that replicates their shard: both rings' replicas during a transition (as writes are routed). */
function positionsByReplica(batch: Buffer, placement: Placement, rf: number): Map<string, number[]> {
  const byNode = new Map<string, number[]>();
  const reader = new RecordBatchReader(batch);
  while (reader.next()) {
    const nodes = new Set([...placement.replicas(reader.shard, rf), ...(placement.targetReplicas(reader.shard, rf) ?? [])]);
    for (const node of nodes) {
      let list = byNode.get(node);
      if (list === undefined) byNode.set(node, (list = []));
      list.push(reader.position);
    }
  }
  return byNode;
}
