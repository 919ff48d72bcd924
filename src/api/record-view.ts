/**
 * Turns stored records back into the JSON a client sees: `_id` (decimal
 * string, it exceeds 2^53), the fields under the table's *current* schema
 * (renamed fields under their new names, later-added fields with their
 * defaults), and `_ingested_at` (epoch ms).
 */
import { decodeFields } from '../core/codec/fields-codec.ts';
import { readStoredValue } from '../core/codec/record-batch-v1.ts';
import { SluiceError } from '../core/errors.ts';
import { compileRenderer } from '../core/schema/render-record.ts';
import { currentDef, defAtVersion, type TableEntry } from '../storage/catalog.ts';
import type { ReadRecord } from '../cluster/coordinator/coordinator.ts';

type Renderer = (values: readonly unknown[]) => Record<string, unknown>;

/** One stored record taken apart: what `toObject` shows, before `_id` becomes a string. */
export interface RecordParts {
  /** The snowflake id (below 2^63: bit 63 of a snowflake is always 0). */
  readonly id: bigint;
  /** The fields under the table's current schema in their JSON form, kept extra fields merged in. */
  readonly fields: Record<string, unknown>;
  readonly ingestedAtMs: number;
}

/** Renders records of tables, caching one compiled renderer per (table, stored version, current version). */
export class RecordView {
  private readonly renderers = new Map<string, Renderer>();

  /** The client-facing object of one stored record. */
  toObject(entry: TableEntry, rec: ReadRecord): Record<string, unknown> {
    const parts = this.toParts(entry, rec);
    return { _id: String(parts.id), ...parts.fields, _ingested_at: parts.ingestedAtMs };
  }

  /** The id, rendered fields and ingest time of one stored record (for exports that type the id and times). */
  toParts(entry: TableEntry, rec: ReadRecord): RecordParts {
    const stored = readStoredValue(rec.value);
    const render = this.rendererFor(entry, stored.schemaVersion);
    return { id: rec.id, fields: render(decodeFields(stored.fields)), ingestedAtMs: stored.ingestedAtMs };
  }

  /** The JSON text of one stored record. */
  toJson(entry: TableEntry, rec: ReadRecord): string {
    return JSON.stringify(this.toObject(entry, rec));
  }

  private rendererFor(entry: TableEntry, storedVersion: number): Renderer {
    const current = currentDef(entry);
    const key = `${entry.id}:${storedVersion}:${current.version}`;
    let render = this.renderers.get(key);
    if (render === undefined) {
      const stored = defAtVersion(entry, storedVersion);
      if (stored === undefined) throw new SluiceError('INTERNAL', `table ${entry.name} has no schema version ${storedVersion}`);
      render = compileRenderer(current, stored);
      this.renderers.set(key, render);
    }
    return render;
  }
}
