/**
 * Primary-key dedupe on the write path: a record whose primary key was
 * written before must get the same `_id` back, even if that earlier write
 * is acknowledged but not yet in the index (the index is applied
 * asynchronously). So ids of primary keys live in a `pending` map from the
 * moment they are claimed until the index certainly holds them.
 *
 * The subtle part is when a pending entry may be dropped. A lookup reads
 * the engine, awaits, then checks `pending`. If the entry were dropped while
 * that read was in flight and the read had started before the entry was
 * applied, the lookup would miss it in both places and issue a second id.
 * So an entry applied at LSN L is dropped only once every lookup still in
 * flight started after L was applied. A key a write finds pending is not
 * looked up at all, so that rule does not cover it: the write holds a
 * reference on the entry from then until it claims the key, or the entry
 * could be dropped (applied, and older than every lookup in flight) while
 * the write awaits its other keys' lookup.
 */
import type { RecordBatchReader } from '../../core/codec/record-batch-v1.ts';
import type { IndexStore } from './index-store.ts';
import { pkKey } from './key-layout.ts';

interface Pending {
  id: bigint;
  /** Highest LSN of a durable write that used this id; undefined until one is durable. */
  lsn: bigint | undefined;
  /** Writes that use the id and are not yet durable or failed. */
  refs: number;
}

/** The pending keys one write holds; settle it with `committed` or `failed`. */
export interface PkClaim {
  readonly keys: readonly string[];
}

/** Resolves primary keys to ids for writes and remembers them until indexed. */
export class PkResolver {
  private readonly index: IndexStore;
  private readonly appliedLsn: () => bigint;
  private readonly pending = new Map<string, Pending>();
  /** (lsn, key) in commit order: candidates for dropping once applied. */
  private readonly fifo: { lsn: bigint; key: string }[] = [];
  private fifoHead = 0;
  /** Applied LSN at the start of each lookup in flight. */
  private readonly lookups = new Map<number, bigint>();
  private nextLookup = 0;

  constructor(index: IndexStore, appliedLsn: () => bigint) {
    this.index = index;
    this.appliedLsn = appliedLsn;
  }

  /** Primary keys currently remembered (metrics, tests). */
  get pendingCount(): number {
    return this.pending.size;
  }

  /**
   * Stamps an id into every entry of the batch that has a primary key: the
   * existing id if the key was written before, else `newId()`. Calls
   * `observeVersion` with each existing version so new versions sort after it.
   */
  async resolve(reader: RecordBatchReader, newId: () => bigint, observeVersion: (version: bigint) => void): Promise<PkClaim> {
    const lookupKeys: Buffer[] = [];
    const lookups: { shard: number; tableId: number; pk: Buffer }[] = [];
    const seen = new Set<string>();
    /** Pending keys this write uses, held until it claims them (see the header). */
    const held: string[] = [];
    reader.rewind();
    while (reader.next()) {
      if (reader.pkLen === 0) continue;
      const pk = reader.buf.subarray(reader.pkOffset, reader.pkOffset + reader.pkLen);
      const key = pkKey(reader.shard, reader.tableId, pk);
      const s = key.toString('latin1');
      if (seen.has(s)) continue;
      seen.add(s);
      const pending = this.pending.get(s);
      if (pending !== undefined) {
        pending.refs++;
        held.push(s);
        continue;
      }
      lookupKeys.push(key);
      lookups.push({ shard: reader.shard, tableId: reader.tableId, pk });
    }
    try {
      return await this.claim(reader, lookupKeys, lookups, newId, observeVersion);
    } finally {
      for (const key of held) this.unref(key);
    }
  }

  /** `resolve` past its scan: looks the keys up, then claims every key of the batch. */
  private async claim(
    reader: RecordBatchReader,
    lookupKeys: readonly Buffer[],
    lookups: readonly { shard: number; tableId: number; pk: Buffer }[],
    newId: () => bigint,
    observeVersion: (version: bigint) => void,
  ): Promise<PkClaim> {
    const token = this.nextLookup++;
    this.lookups.set(token, this.appliedLsn());
    let found;
    try {
      found = await this.index.lookupPks(lookups);
    } finally {
      this.lookups.delete(token);
    }
    const existing = new Map<string, { id: bigint; version: bigint }>();
    found.forEach((entry, i) => {
      const k = lookupKeys[i];
      if (entry === undefined || k === undefined) return;
      existing.set(k.toString('latin1'), entry);
      // Before any claim: if this throws (clock skew), nothing is left half-claimed.
      observeVersion(entry.version);
    });
    // From here on synchronous: claims made now are visible to every later lookup.
    const claimed: string[] = [];
    const claimedSet = new Set<string>();
    reader.rewind();
    try {
      while (reader.next()) {
        if (reader.pkLen === 0) continue;
        const s = pkKey(reader.shard, reader.tableId, reader.buf.subarray(reader.pkOffset, reader.pkOffset + reader.pkLen)).toString('latin1');
        let entry = this.pending.get(s);
        if (entry === undefined) {
          entry = { id: existing.get(s)?.id ?? newId(), lsn: undefined, refs: 0 };
          this.pending.set(s, entry);
        }
        if (!claimedSet.has(s)) {
          claimedSet.add(s);
          claimed.push(s);
          entry.refs++;
        }
        reader.id = entry.id;
      }
    } catch (err) {
      // newId() refused (clock rollback): give back what this write claimed.
      this.failed({ keys: claimed });
      throw err;
    }
    reader.rewind();
    return { keys: claimed };
  }

  /** The claim's write is durable at `lsn`. */
  committed(claim: PkClaim, lsn: bigint): void {
    for (const key of claim.keys) {
      const entry = this.pending.get(key);
      if (entry === undefined) continue;
      entry.refs--;
      if (entry.lsn === undefined || entry.lsn < lsn) entry.lsn = lsn;
      this.fifo.push({ lsn, key });
    }
  }

  /** The claim's write failed: ids nobody made durable are forgotten. */
  failed(claim: PkClaim): void {
    for (const key of claim.keys) this.unref(key);
  }

  /** Gives back one reference on `key`'s entry: unused and never durable, it is forgotten; durable, it may be pruned. */
  private unref(key: string): void {
    const entry = this.pending.get(key);
    if (entry === undefined) return;
    entry.refs--;
    if (entry.refs > 0) return;
    if (entry.lsn === undefined) this.pending.delete(key);
    else this.fifo.push({ lsn: entry.lsn, key });
  }

  /** Drops entries the index holds and no lookup in flight can have missed. */
  prune(): void {
    let safe = this.appliedLsn();
    for (const start of this.lookups.values()) if (start < safe) safe = start;
    while (this.fifoHead < this.fifo.length) {
      const item = this.fifo[this.fifoHead] as { lsn: bigint; key: string };
      if (item.lsn > safe) break;
      this.fifoHead++;
      const entry = this.pending.get(item.key);
      if (entry !== undefined && entry.refs === 0 && entry.lsn !== undefined && entry.lsn <= safe) this.pending.delete(item.key);
    }
    if (this.fifoHead > 1024 && this.fifoHead * 2 > this.fifo.length) {
      this.fifo.splice(0, this.fifoHead);
      this.fifoHead = 0;
    }
  }
}
