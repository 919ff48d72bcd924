/**
 * Table shards closed to appends while cleanup hands them off and drops
 * them. Cleanup compares a range with its replicas, pushes what they lack,
 * and later deletes every record of it: a record appended in between (a
 * hint replayed to this node, a repair push from a peer with an older ring)
 * would be deleted without having been handed to anyone. So a range is
 * fenced before its compare, and a batch with a record in a fenced range is
 * refused (`NOT_READY`, retryable: a hint stays queued at its sender and is
 * replayed after the drop; the next cleanup hands it off) until the drop is
 * over.
 *
 * Appends already past the check when a fence goes up are waited for, so
 * the compare (which reads the index behind the read barrier) sees them.
 */
import { RecordBatchReader } from '../core/codec/record-batch-v1.ts';
import { SluiceError } from '../core/errors.ts';
import type { TableShard } from './index/index-store.ts';

/** The fences of one store, and the record appends in flight that passed them. */
export class RangeFence {
  /** Fenced shards by table id (a count per shard: fences may overlap). */
  private readonly fenced = new Map<number, Map<number, number>>();
  /** Record appends issued and not yet durable and queued for the index. */
  private readonly appending = new Set<Promise<unknown>>();

  /** Throws NOT_READY when `batch` has a record in a fenced range (checked only while a fence is up). */
  check(batch: Uint8Array): void {
    if (this.fenced.size === 0) return;
    const r = new RecordBatchReader(batch);
    const shards = this.fenced.get(r.tableId);
    if (shards === undefined) return;
    while (r.next()) {
      if (shards.has(r.shard)) {
        throw new SluiceError('NOT_READY', `table id ${r.tableId} shard ${r.shard} is being handed off and dropped here (cleanup): this node no longer replicates it`);
      }
    }
  }

  /** Tracks an append that passed `check` until it settles. */
  track(append: Promise<unknown>): void {
    const done = (): void => void this.appending.delete(settled);
    const settled: Promise<void> = append.then(done, done);
    this.appending.add(settled);
  }

  /** Closes `ranges` to appends; resolves once every append issued before has settled. Returns the release (idempotent). */
  async close(ranges: readonly TableShard[]): Promise<() => void> {
    for (const { tableId, shard } of ranges) {
      let shards = this.fenced.get(tableId);
      if (shards === undefined) this.fenced.set(tableId, (shards = new Map()));
      shards.set(shard, (shards.get(shard) ?? 0) + 1);
    }
    let open = true;
    const release = (): void => {
      if (!open) return;
      open = false;
      for (const { tableId, shard } of ranges) this.open(tableId, shard);
    };
    await Promise.all([...this.appending]);
    return release;
  }

  private open(tableId: number, shard: number): void {
    const shards = this.fenced.get(tableId);
    const n = shards?.get(shard) ?? 0;
    if (shards === undefined || n === 0) return;
    if (n > 1) shards.set(shard, n - 1);
    else shards.delete(shard);
    if (shards.size === 0) this.fenced.delete(tableId);
  }
}
