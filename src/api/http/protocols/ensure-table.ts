/**
 * The tables the shippers' protocols write into (OTLP logs, Elasticsearch
 * `_bulk`, Loki push) are created on their first write, with the
 * protocol's documented definition, as `POST /v1/tables` would create it.
 */
import { parseTableDef } from '../../../core/schema/parse-table-def.ts';
import type { TableEntry } from '../../../storage/catalog.ts';
import type { ApiContext } from '../api-context.ts';
import { tableOnFirstWrite } from '../../../ingest/table-on-first-write.ts';

/** The table `definition.name`, created first when it is missing; one created concurrently (here or on another node) counts as success. */
export function ensureTable(ctx: ApiContext, definition: { readonly name: string } & Record<string, unknown>): Promise<TableEntry> {
  const { catalog, tables, cluster } = ctx.services();
  const existing = catalog.get(definition.name);
  if (existing !== undefined) return Promise.resolve(existing);
  const replicationFactorDefault = cluster === undefined ? 1 : ctx.config.replicationFactorDefault;
  const def = parseTableDef(definition, Date.now(), { aliasTtlMs: ctx.config.aliasTtlMs, replicationFactorDefault });
  return tableOnFirstWrite(catalog, tables, def);
}
