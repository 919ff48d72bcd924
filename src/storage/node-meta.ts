/**
 * What a data directory was created with. The shard count and the engine
 * decide where every record lives in the index, so a node refuses to start
 * on a data dir made with other values instead of silently misreading it.
 */
import path from 'node:path';
import { SluiceError } from '../core/errors.ts';
import type { EngineKind } from './engine/storage-engine.ts';
import { readJsonFile, writeFileAtomic } from './atomic-file.ts';

/**
 * Format 2 keys id blocks by lane (`B | lane | lastId`). Format 3 may hold
 * entries a format-2 binary does not look for: dedupe key blocks (decision
 * 32) and records found by their record key alone (key-layout.ts), so such
 * a binary refuses the dir instead of storing a re-delivered record twice
 * (decision 36). Older dirs are brought to it once at open
 * (`upgradeIndexFormat` in index-format.ts).
 */
export const NODE_META_FORMAT = 3;

/** Every format this binary reads, the current one last. */
const NODE_META_FORMATS = [1, 2, NODE_META_FORMAT] as const;
export type NodeMetaFormat = (typeof NODE_META_FORMATS)[number];

/** The identity of a data directory. */
export interface NodeMeta {
  readonly format: NodeMetaFormat;
  readonly shards: number;
  readonly engine: EngineKind;
  readonly createdAtMs: number;
}

/**
 * The engine of a new data dir. LevelDB, not LMDB: under sustained ingest of
 * many shard keys LMDB's random B-tree inserts slow down as the index grows
 * (decision 16).
 */
export const DEFAULT_ENGINE: EngineKind = 'level';

/** DATA_DIR/node.json, or undefined for a dir no node has started in; throws on an unknown format. */
export async function readNodeMeta(dataDir: string): Promise<NodeMeta | undefined> {
  const file = path.join(dataDir, 'node.json');
  const raw = (await readJsonFile(file)) as NodeMeta | undefined;
  if (raw !== undefined && !(NODE_META_FORMATS as readonly number[]).includes(raw.format)) {
    throw new SluiceError('STORAGE_IO', `${file} has format ${String(raw.format)}, which this sluice does not read (it reads 1 to ${NODE_META_FORMAT}): it was written by a newer sluice`);
  }
  return raw;
}

/** Replaces DATA_DIR/node.json (atomically). */
export async function writeNodeMeta(dataDir: string, meta: NodeMeta): Promise<void> {
  await writeFileAtomic(path.join(dataDir, 'node.json'), JSON.stringify(meta, null, 1));
}

/**
 * Loads DATA_DIR/node.json, creating it on first start; throws if it
 * disagrees with the options. No engine asked for: the dir's own, or
 * DEFAULT_ENGINE for a new dir.
 */
export async function checkNodeMeta(dataDir: string, want: { shards: number; engine?: EngineKind | undefined }, nowMs: number): Promise<NodeMeta> {
  const raw = await readNodeMeta(dataDir);
  if (raw === undefined) {
    const meta: NodeMeta = { format: NODE_META_FORMAT, shards: want.shards, engine: want.engine ?? DEFAULT_ENGINE, createdAtMs: nowMs };
    await writeNodeMeta(dataDir, meta);
    return meta;
  }
  if (raw.shards !== want.shards || (want.engine !== undefined && raw.engine !== want.engine)) {
    throw new SluiceError(
      'INVALID_ARGUMENT',
      `data dir ${dataDir} was created with --shards ${raw.shards} --engine ${raw.engine}; start with those values or use a new data dir`,
    );
  }
  return raw;
}

/** Records that the data dir is now in the current format. */
export async function markNodeMetaCurrent(dataDir: string, meta: NodeMeta): Promise<NodeMeta> {
  const current: NodeMeta = { ...meta, format: NODE_META_FORMAT };
  await writeNodeMeta(dataDir, current);
  return current;
}
