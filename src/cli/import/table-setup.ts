/**
 * The table an import writes into: its definition from the node (CSV
 * coercion and the Parquet column check need the field types), created
 * first from the Parquet schema with `--create-table` when it does not
 * exist. A table that exists is used as it is, so a rerun of a
 * `--create-table` import after a crash goes on into the same table.
 */
import type { TableDef } from '../../core/schema/table-def.ts';
import { readParquetFooter } from '../../ingest/formats/parquet-batches.ts';
import { tableDefFromParquet, type DerivedTableOptions } from '../../ingest/formats/parquet-table-def.ts';
import type { FileFormat } from '../../ingest/formats/file-batch.ts';
import { CliError } from '../cli-error.ts';
import { requestJson } from '../http-client.ts';

/** What `--create-table` needs besides the file. */
export interface CreateTableOptions extends Omit<DerivedTableOptions, 'name'> {
  readonly create: boolean;
}

/** The table's current definition; created from the file first when asked and missing. Returns whether it was created. */
export async function tableForImport(url: string, table: string, file: string, format: FileFormat, o: CreateTableOptions): Promise<{ def: TableDef; created: boolean }> {
  const describeUrl = `${url}/v1/tables/${encodeURIComponent(table)}`;
  try {
    return { def: (await requestJson(describeUrl)) as TableDef, created: false };
  } catch (err) {
    if (!o.create || !(err instanceof CliError) || !err.message.startsWith('TABLE_NOT_FOUND')) throw err;
  }
  if (format !== 'parquet') throw new CliError(`--create-table derives the table from a Parquet schema; ${format.toUpperCase()} has no types: create table ${table} first (sluice table create)`, 2);
  const definition = tableDefFromParquet(await readParquetFooter(file), {
    name: table,
    ...(o.shardKey === undefined ? {} : { shardKey: o.shardKey }),
    ...(o.timeField === undefined ? {} : { timeField: o.timeField }),
    ...(o.primaryKey === undefined ? {} : { primaryKey: o.primaryKey }),
  });
  try {
    const def = (await requestJson(`${url}/v1/tables`, { method: 'POST', body: JSON.stringify(definition), headers: { 'content-type': 'application/json' } })) as TableDef;
    return { def, created: true };
  } catch (err) {
    // Another import created it meanwhile: use that one.
    if (err instanceof CliError && err.message.startsWith('TABLE_EXISTS')) return { def: (await requestJson(describeUrl)) as TableDef, created: false };
    throw err;
  }
}
