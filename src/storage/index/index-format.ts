/**
 * Brings an opened index to the data dir's current format (node-meta.ts):
 * a format-1 index has its id-block keys rewritten (decision 16), is
 * fsync'd, and only then is `node.json` marked current, so a crash in
 * between reruns the (idempotent) rewrite on the next open. A format-2
 * index needs no rewrite: marking it 3 keeps older binaries out (decision 36).
 */
import type { StorageEngine } from '../engine/storage-engine.ts';
import { IndexStore } from './index-store.ts';
import { markNodeMetaCurrent, NODE_META_FORMAT, type NodeMeta } from '../node-meta.ts';

/** The data dir's meta after the upgrade, and the id-block keys rewritten (0 when already current). */
export async function upgradeIndexFormat(dataDir: string, meta: NodeMeta, engine: StorageEngine): Promise<{ meta: NodeMeta; moved: number }> {
  if (meta.format === NODE_META_FORMAT) return { meta, moved: 0 };
  const moved = meta.format === 1 ? await new IndexStore(engine).migrateIdBlocks() : 0;
  await engine.sync();
  return { meta: await markNodeMetaCurrent(dataDir, meta), moved };
}
