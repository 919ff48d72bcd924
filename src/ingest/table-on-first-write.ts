/**
 * Tables made by a write rather than by `POST /v1/tables`: a shipper
 * protocol's table, a dead-letter table. Two requests, or two nodes, may
 * create the same one at once; the loser's create is TABLE_EXISTS, and in
 * a cluster its own catalog learns of the winner's table through the etcd
 * watch a moment later, so it waits for that instead of failing the write.
 */
import { TABLE_CREATE_RACE_WAIT_MS } from '../config.ts';
import { SluiceError, isSluiceError } from '../core/errors.ts';
import type { TableDef } from '../core/schema/table-def.ts';
import type { TableAdmin } from '../cluster/metadata/cluster-tables.ts';
import type { Catalog, TableEntry } from '../storage/catalog.ts';

/** Between looks at the catalog while waiting for a table another node created. */
const TABLE_POLL_MS = 20;

/** The table `def` names, created when missing; one created concurrently elsewhere is waited for (NOT_READY, retryable, past the wait). */
export async function tableOnFirstWrite(catalog: Catalog, tables: TableAdmin, def: TableDef): Promise<TableEntry> {
  const existing = catalog.get(def.name);
  if (existing !== undefined) return existing;
  try {
    return await tables.create(def, Date.now());
  } catch (err) {
    if (!isSluiceError(err, 'TABLE_EXISTS')) throw err;
  }
  const deadline = Date.now() + TABLE_CREATE_RACE_WAIT_MS;
  for (;;) {
    const entry = catalog.get(def.name);
    if (entry !== undefined) return entry;
    if (Date.now() >= deadline) throw new SluiceError('NOT_READY', `table ${def.name} was created elsewhere and this node does not know it yet; retry`);
    await new Promise((resolve) => setTimeout(resolve, TABLE_POLL_MS));
  }
}
