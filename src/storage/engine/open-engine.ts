/** Opens the index engine a node is configured with. */
import { LevelEngine } from './level-engine.ts';
import { LmdbEngine } from './lmdb-engine.ts';
import type { EngineKind, EngineOptions, StorageEngine } from './storage-engine.ts';

/** Opens (creating if missing) an engine of `kind` in `options.dir`, with its default tuning. */
export function openEngine(kind: EngineKind, options: EngineOptions): Promise<StorageEngine> {
  switch (kind) {
    case 'lmdb':
      return LmdbEngine.open(options);
    case 'level':
      return LevelEngine.open(options);
  }
}
