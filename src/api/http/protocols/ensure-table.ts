/**
 * The tables the shippers' protocols write into (OTLP logs, Elasticsearch
 * `_bulk`, Loki push) are created on their first write, with the
 * protocol's documented definition, as `POST /v1/tables` would create it.
 */
import { isSluiceError } from '../../../core/errors.ts';
import { parseTableDef } from '../../../core/schema/parse-table-def.ts';
import type { TableEntry } from '../../../storage/catalog.ts';
import type { ApiContext } from '../api-context.ts';

/** The table `definition.name`, created first when it is missing; a concurrent create of the same table counts as success. */
export async function ensureTable(ctx: ApiContext, definition: { readonly name: string } & Record<string, unknown>): Promise<TableEntry> {
  const { catalog, tables, cluster } = ctx.services();
  const existing = catalog.get(definition.name);
  if (existing !== undefined) return existing;
  const replicationFactorDefault = cluster === undefined ? 1 : ctx.config.replicationFactorDefault;
  const def = parseTableDef(definition, Date.now(), { aliasTtlMs: ctx.config.aliasTtlMs, replicationFactorDefault });
  try {
    return await tables.create(def, Date.now());
  } catch (err) {
    // Another request (or node) created it between the lookup and the create.
    const raced = isSluiceError(err, 'TABLE_EXISTS') ? ctx.services().catalog.get(definition.name) : undefined;
    if (raced !== undefined) return raced;
    throw err;
  }
}
