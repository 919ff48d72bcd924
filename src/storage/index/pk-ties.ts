/**
 * What the index needs to break a tie between two writes of one primary key
 * with the same HLC version (core/last-writer-wins.ts, decision 0052):
 *
 * - A record a later record of the same batch supersedes (same key, same
 *   version: an atomic batch stamps one version for all its records, and
 *   its later record of a key is the one it means) takes no part at all.
 *   Were it compared with other writes, the replica that met the other
 *   write first could keep a different record from the one that met it last.
 * - A stored entry whose version and id equal an arriving record's is
 *   compared by stored value, which the primary-key entry does not hold: it
 *   is read before the build, the only place the index may await. Rare (two
 *   coordinators in one ms and counter, or a replay), so one engine read each.
 */
import { RecordBatchReader } from '../../core/codec/record-batch-v1.ts';
import type { StorageEngine } from '../engine/storage-engine.ts';
import { pkKey, type PkEntry } from './key-layout.ts';

/** A primary-key entry as a build holds it: with the stored value when the build has it. */
export interface HeldPkEntry extends PkEntry {
  readonly value?: Uint8Array;
}

/** Tracks, per batch of a build, the keyed records a later record of the same key and version supersedes. */
export class SupersededRecords {
  readonly #last = new Map<string, { position: number; version: bigint }>();
  #dropped: Set<number> | undefined;

  /** The record at `position` of the batch being scanned, whose key's map key is `key`. */
  see(key: string, position: number, version: bigint): void {
    const prev = this.#last.get(key);
    if (prev !== undefined && prev.version === version) (this.#dropped ??= new Set()).add(prev.position);
    this.#last.set(key, { position, version });
  }

  /** The positions superseded in the batch scanned; starts over for the next batch. */
  finish(): ReadonlySet<number> | undefined {
    const dropped = this.#dropped;
    this.#last.clear();
    this.#dropped = undefined;
    return dropped;
  }
}

/**
 * Attaches the stored value to each entry of `entries` (read from the engine
 * for this build: `fromEngine`) that some record of `batches` ties with on
 * version and id.
 */
export async function attachTieValues(engine: StorageEngine, batches: readonly Uint8Array[], entries: Map<string, HeldPkEntry>, fromEngine: ReadonlySet<string>): Promise<void> {
  if (fromEngine.size === 0) return;
  // An upsert's version is above the stored one: a set of stored versions spares most records their key.
  const versions = new Set<bigint>();
  for (const s of fromEngine) {
    const v = entries.get(s)?.version;
    if (v !== undefined) versions.add(v);
  }
  const wanted = new Map<string, HeldPkEntry>();
  for (const payload of batches) {
    // Fresh batches too: a key the build met elsewhere may be in one, and a tie without its value would assert.
    const r = new RecordBatchReader(payload);
    while (r.next()) {
      if (r.pkLen === 0 || !versions.has(r.version)) continue;
      const s = pkKey(r.shard, r.tableId, r.buf.subarray(r.pkOffset, r.pkOffset + r.pkLen)).toString('latin1');
      if (!fromEngine.has(s) || wanted.has(s)) continue;
      const entry = entries.get(s);
      if (entry !== undefined && entry.value === undefined && entry.version === r.version && entry.id === r.id) wanted.set(s, entry);
    }
  }
  if (wanted.size === 0) return;
  const keys = [...wanted.keys()];
  const values = await engine.getMany(keys.map((s) => (wanted.get(s) as HeldPkEntry).recordKey));
  keys.forEach((s, i) => {
    const value = values[i];
    // A P entry without its record would be a broken index; the comparison then asserts loudly.
    if (value !== undefined) entries.set(s, { ...(wanted.get(s) as HeldPkEntry), value });
  });
}
