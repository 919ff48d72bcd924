/**
 * Moves a stopped node's index to the other engine (`sluice index convert`):
 * what a data dir made with LMDB needs to get LevelDB's write rate
 * (decision 16). The WAL cannot rebuild the index (segments below the
 * index's checkpoint are released), so every entry is copied.
 *
 * Crash safety: until `node.json` names the new engine, the old index is
 * untouched and still the one a node opens; a leftover copy is discarded
 * by the next run. The copy is fsync'd before `node.json` is replaced (an
 * atomic rename), and only then is the old index deleted.
 */
import { rm } from 'node:fs/promises';
import path from 'node:path';
import { SluiceError } from '../../core/errors.ts';
import { lockDataDir } from '../dir-lock.ts';
import { openEngine } from '../engine/open-engine.ts';
import type { EngineKind, StorageEngine } from '../engine/storage-engine.ts';
import { upgradeIndexFormat } from './index-format.ts';
import { readNodeMeta, writeNodeMeta } from '../node-meta.ts';

/** Entries per commit to the new engine. */
const COPY_BATCH_ENTRIES = 10_000;

/** What a conversion did. */
export interface ConvertReport {
  readonly from: EngineKind;
  readonly to: EngineKind;
  readonly entries: number;
  readonly checkpointLsn: bigint;
  readonly ms: number;
}

/** Copies the index of the (stopped) node in `dataDir` into engine `to` and switches the dir to it. */
export async function convertIndex(dataDir: string, to: EngineKind, onProgress?: (entries: number) => void): Promise<ConvertReport> {
  const started = performance.now();
  const lock = await lockDataDir(dataDir);
  let source: StorageEngine | undefined;
  let target: StorageEngine | undefined;
  try {
    const found = await readNodeMeta(dataDir);
    if (found === undefined) throw new SluiceError('INVALID_ARGUMENT', `${dataDir} holds no sluice data dir (no node.json)`);
    const from = found.engine;
    if (from === to) throw new SluiceError('INVALID_ARGUMENT', `the index in ${dataDir} is already ${to}`);
    const targetDir = path.join(dataDir, 'index', to);
    // A leftover of an interrupted run: node.json never named it, so nothing depends on it.
    await rm(targetDir, { recursive: true, force: true });
    source = await openEngine(from, { dir: path.join(dataDir, 'index', from) });
    const { meta } = await upgradeIndexFormat(dataDir, found, source);
    target = await openEngine(to, { dir: targetDir });
    const checkpointLsn = await source.checkpointLsn();
    let entries = 0;
    let batch = target.batch();
    for await (const [key, value] of source.iterate({})) {
      batch.put(key, value);
      entries++;
      if (batch.size >= COPY_BATCH_ENTRIES) {
        await batch.commit(checkpointLsn);
        onProgress?.(entries);
        batch = target.batch();
      }
    }
    // The last commit also carries the checkpoint for an empty index.
    await batch.commit(checkpointLsn);
    await target.sync();
    await target.close();
    target = undefined;
    await source.close();
    source = undefined;
    await writeNodeMeta(dataDir, { ...meta, engine: to });
    await rm(path.join(dataDir, 'index', from), { recursive: true, force: true });
    return { from, to, entries, checkpointLsn, ms: performance.now() - started };
  } finally {
    await target?.close();
    await source?.close();
    lock.release();
  }
}
