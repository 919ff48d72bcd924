/**
 * Turns stored records back into the JSON a client sees: `_id` (decimal
 * string, it exceeds 2^53), the fields under the table's *current* schema
 * (renamed fields under their new names, later-added fields with their
 * defaults), and `_ingested_at` (epoch ms).
 */
import { decodeFields } from '../core/codec/fields-codec.ts';
import { readStoredValue } from '../core/codec/record-batch-v1.ts';
import { SluiceError, isSluiceError } from '../core/errors.ts';
import { compileRenderer } from '../core/schema/render-record.ts';
import { currentDef, defAtVersion, type TableEntry } from '../storage/catalog.ts';
import type { TableDef } from '../core/schema/table-def.ts';
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

  /**
   * The client-facing object of one stored record, under `entry`'s current
   * schema. `later`: the table as the catalog has it now, for a record
   * written under a version newer than `entry` (an export shows every
   * record under the schema it started with; a record changed since may be
   * stored under a later one).
   */
  toObject(entry: TableEntry, rec: ReadRecord, later?: () => TableEntry | undefined): Record<string, unknown> {
    const parts = this.toParts(entry, rec, later);
    return { _id: String(parts.id), ...parts.fields, _ingested_at: parts.ingestedAtMs };
  }

  /** The id, rendered fields and ingest time of one stored record (for exports that type the id and times); `later` as in toObject. */
  toParts(entry: TableEntry, rec: ReadRecord, later?: () => TableEntry | undefined): RecordParts {
    const stored = readStoredValue(rec.value);
    const render = this.rendererFor(entry, stored.schemaVersion, later);
    return { id: rec.id, fields: render(decodeFields(stored.fields)), ingestedAtMs: stored.ingestedAtMs };
  }

  /** The JSON text of one stored record; `later` as in toObject. */
  toJson(entry: TableEntry, rec: ReadRecord, later?: () => TableEntry | undefined): string {
    return JSON.stringify(this.toObject(entry, rec, later));
  }

  private rendererFor(entry: TableEntry, storedVersion: number, later: (() => TableEntry | undefined) | undefined): Renderer {
    const current = currentDef(entry);
    const key = `${entry.id}:${storedVersion}:${current.version}`;
    let render = this.renderers.get(key);
    if (render === undefined) {
      const stored = defAtVersion(entry, storedVersion) ?? (later === undefined ? undefined : laterDef(later(), entry, storedVersion));
      // A node behind on the table's versions (its etcd watch not there yet): a retry, or reading the catalog again, finds it.
      if (stored === undefined) {
        throw new SluiceError('NOT_READY', `table ${entry.name} has no schema version ${storedVersion} on this node yet (it has ${entry.versions.length}): a record written under it cannot be shown until this node reads it; retry`, [{ path: '/schemaVersion', message: `version ${storedVersion} not installed` }]);
      }
      const narrowed = current.fields.find((f) => {
        const s = stored.fields.find((x) => x.id === f.id);
        return s !== undefined && s.type !== f.type && !(s.type === 'int' && (f.type === 'float' || f.type === 'decimal'));
      });
      // Only an older view of a later version gets here: its widened field cannot be shown as the narrower type.
      if (narrowed !== undefined) {
        throw new SluiceError('NOT_READY', `field ${narrowed.name} of table ${entry.name} was widened while this read ran (schema version ${storedVersion}): read again`, [{ path: `/${narrowed.name}`, message: 'type widened during the read' }]);
      }
      render = compileRenderer(current, stored);
      this.renderers.set(key, render);
    }
    return render;
  }
}

/** Version `version` of the table from `later`, when it is the same table (same id). */
function laterDef(later: TableEntry | undefined, entry: TableEntry, version: number): TableDef | undefined {
  return later === undefined || later.id !== entry.id ? undefined : defAtVersion(later, version);
}

/**
 * `render(entry)` of the table as this node knows it; when a record names a
 * schema version this node has not installed yet (NOT_READY above), once
 * more after `refresh` (reading the cluster catalog again), so a read
 * through a node behind on schema versions answers instead of failing.
 */
export async function renderWithCurrentSchema<T>(entry: () => TableEntry, refresh: () => Promise<void>, render: (entry: TableEntry) => T): Promise<T> {
  try {
    return render(entry());
  } catch (err) {
    if (!isSluiceError(err, 'NOT_READY')) throw err;
    await refresh();
    return render(entry());
  }
}
