/**
 * Who holds an atomic batch: every replica of its participant shards, in
 * the current ring and (during a transition) the target ring, at the
 * table's replication factor. The resolver, the sweeper and
 * `GET /v1/tx/{id}` ask them, and push a decision to them.
 */
import { currentDef, type Catalog } from '../../storage/catalog.ts';
import type { Placement } from '../placement/placement.ts';
import type { ReplicaTransport } from '../transport/replica-transport.ts';
import type { TxDecision, TxParts } from './tx-decisions.ts';

/** The replica nodes of an atomic batch's participant shards (sorted, no repeats). */
export function participantNodes(parts: TxParts, placement: Placement, catalog: Catalog): string[] {
  const entry = catalog.byId(parts.tableId);
  const rf = entry === undefined ? placement.nodes.length : currentDef(entry).replicationFactor;
  const nodes = new Set<string>();
  for (const shard of parts.shards) {
    for (const n of placement.replicas(shard, rf)) nodes.add(n);
    for (const n of placement.targetReplicas(shard, rf) ?? []) nodes.add(n);
  }
  return [...nodes].sort();
}

/** Sends a decision to one participant: COMMIT with the commit version, or ABORT. */
export function pushDecision(transport: ReplicaTransport, node: string, txid: string, decision: TxDecision, timeoutMs: number): Promise<unknown> {
  return decision.s === 'commit' ? transport.call(node, 'Commit', { txid, cv: decision.cv }, timeoutMs) : transport.call(node, 'Abort', { txid }, timeoutMs);
}
