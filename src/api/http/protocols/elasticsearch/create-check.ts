/**
 * A `create` never overwrites: before a table's batch is written, each
 * `create` whose `_id` the sender named is looked up (the `_id` is the
 * table's shard key, so one range read of at most one record), and one
 * already stored is answered 409 and left out of the write. Made-up ids
 * are new by construction and are not looked up. Two requests creating
 * the same `_id` at the same moment can both pass the lookup; the later
 * document then replaces the first (last writer wins on the primary key),
 * and the write-time check (bulk-answer.ts) answers it 409 only when the
 * first one's id was minted before the later request began.
 */
import type { ApiContext } from '../../api-context.ts';
import type { BulkItem, TableBatch } from './bulk-plan.ts';
import { conflict, type ItemOutcome } from './bulk-answer.ts';

/** Lookups in flight at once for one batch: bounds the reads one request puts on the node (or the cluster). */
const CREATE_LOOKUPS_IN_FLIGHT_MAX = 32;

/** `batch` without the creates whose `_id` is stored; their outcomes are set to 409. */
export async function withoutExistingCreates(ctx: ApiContext, batch: TableBatch, items: readonly BulkItem[], outcomes: (ItemOutcome | undefined)[]): Promise<TableBatch> {
  const checked = batch.positions.flatMap((pos, i) => {
    const item = items[pos] as BulkItem;
    // An _id past the key limit cannot be stored (validation refuses that item), nor looked up. (A create whose
    // _id an earlier op of the request writes is not in a batch: planBulk defers it.)
    const lookup = item.action === 'create' && item.idGiven && item.id !== undefined && Buffer.byteLength(item.id) <= ctx.config.keyBytesMax;
    return lookup ? [{ i, id: item.id as string }] : [];
  });
  if (checked.length === 0) return batch;
  const { catalog, coordinator } = ctx.services();
  const entry = catalog.require(batch.table);
  const existing = new Set<number>();
  for (let start = 0; start < checked.length; start += CREATE_LOOKUPS_IN_FLIGHT_MAX) {
    await Promise.all(
      checked.slice(start, start + CREATE_LOOKUPS_IN_FLIGHT_MAX).map(async ({ i, id }) => {
        const page = await coordinator.queryRange(entry, { key: id, limit: 1 });
        if (page.records.length > 0) existing.add(i);
      }),
    );
  }
  if (existing.size === 0) return batch;
  const kept: TableBatch = { table: batch.table, sources: [], positions: [], earlier: [] };
  batch.positions.forEach((pos, i) => {
    if (existing.has(i)) {
      outcomes[pos] = conflict(items[pos]?.id ?? '');
      return;
    }
    kept.sources.push(batch.sources[2 * i] as number, batch.sources[2 * i + 1] as number);
    kept.positions.push(pos);
    kept.earlier.push(batch.earlier[i] ?? -1);
  });
  return kept;
}
