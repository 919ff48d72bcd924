/**
 * A node's data directory, opened: the table catalog (`catalog.json`) and
 * the store (WAL + index) beside it. The store takes the directory's lock
 * first, so the catalog is only ever read and written by its owner.
 */
import type { Logger } from 'pino';
import type { TableDef } from '../core/schema/table-def.ts';
import { Catalog } from './catalog.ts';
import { LocalStore, type StoreHooks } from './local-store.ts';

/** The open parts of a data dir. */
export interface DataDir {
  readonly catalog: Catalog;
  readonly store: LocalStore;
}

/** Opens the store (lock, recovery) and then the catalog, creating `builtins` in a new one. */
export async function openDataDir(config: Parameters<typeof LocalStore.open>[0], builtins: readonly TableDef[], hooks: StoreHooks, log: Logger): Promise<DataDir> {
  const store = await LocalStore.open(config, hooks, log);
  try {
    const catalog = await Catalog.open(config.dataDir, builtins, Date.now());
    return { catalog, store };
  } catch (err) {
    await store.close();
    throw err;
  }
}
