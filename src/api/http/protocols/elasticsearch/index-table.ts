/**
 * Where an Elasticsearch `_index` lands: the table `<prefix><index>`, with
 * every character a table name cannot hold (`-`, `.`, `+`, …) turned into
 * `_`, so `logs-app.2026` → `es_logs_app_2026`. The mapping is not
 * one-to-one (`a-b` and `a.b` share a table); the original name is kept
 * in each record's `es_index` field.
 */
import { TABLE_NAME_RE } from '../../../../core/schema/parse-table-def.ts';
import type { TableDef } from '../../../../core/schema/table-def.ts';

/** The fields of an Elasticsearch table, in order. */
export const ES_FIELDS = {
  /** The document's `_id` (given, or made up as Elasticsearch does): primary key and shard key. */
  id: 'doc_id',
  /** The `_index` the sender named (table names are a lossy mapping of it). */
  index: 'es_index',
  /** Event time: the document's time field, else the time sluice received it. */
  time: 'ts',
  /** The document, as sent. */
  doc: 'doc',
} as const;

/** The table of `index` under `prefix`, or undefined when no valid table name comes out of it. */
export function tableOfIndex(index: string, prefix: string): string | undefined {
  const name = prefix + index.replace(/[^A-Za-z0-9_]/g, '_');
  return TABLE_NAME_RE.test(name) ? name : undefined;
}

/**
 * The definition an Elasticsearch table is created with on its first
 * write. `doc_id` is the primary key, so a retried bulk stores nothing
 * twice; it is the shard key too, which spreads load evenly and keeps
 * every version of one `_id` in one shard (primary keys resolve per shard).
 */
export function esTableDefinition(name: string): { readonly name: string } & Record<string, unknown> {
  return {
    name,
    shardKey: ES_FIELDS.id,
    primaryKey: ES_FIELDS.id,
    timeField: ES_FIELDS.time,
    fields: [
      { name: ES_FIELDS.id, type: 'string', required: true },
      { name: ES_FIELDS.index, type: 'string', required: true },
      { name: ES_FIELDS.time, type: 'timestamp', required: true },
      { name: ES_FIELDS.doc, type: 'json', required: true },
    ],
  };
}

/**
 * Why an existing table cannot take Elasticsearch documents, or undefined.
 * A table made by hand under an index's name, or one whose keys were
 * changed, would refuse every item or lose the `_id` semantics (a primary
 * key for retries, a shard key for the create lookup). Fields added to it
 * since are fine.
 */
export function esTableProblem(def: TableDef): string | undefined {
  const wanted = esTableDefinition(def.name)['fields'] as { name: string; type: string }[];
  const missing = wanted.filter((w) => !def.fields.some((f) => f.name === w.name && f.type === w.type));
  if (missing.length > 0) return `it lacks ${missing.map((m) => `${m.name} (${m.type})`).join(', ')}`;
  if (def.primaryKey !== ES_FIELDS.id || def.shardKey !== ES_FIELDS.id) return `its primary key and shard key must be ${ES_FIELDS.id}`;
  if (def.timeField !== ES_FIELDS.time) return `its time field must be ${ES_FIELDS.time}`;
  return undefined;
}
