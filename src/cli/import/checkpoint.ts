/**
 * The resumable checkpoint of `sluice ingest`: how many leading rows of a
 * file are durably written, and where to start reading again. It names the
 * file by a fingerprint (path, size, mtime, and the first and last MiB),
 * which is also the dedupe prefix its rows are sent with, so a rerun
 * after a crash re-sends the rows between the checkpoint and the crash
 * under the same keys and the node stores each row once.
 *
 * Kept in `<dir>/<hash of fingerprint, table, node>.json` (default
 * `$SLUICE_CACHE_DIR/imports` or `~/.cache/sluice/imports`), replaced
 * atomically (temp file, fsync, rename), removed when the import ends.
 * A checkpoint that lags is harmless (more rows re-sent); one that is
 * lost or unreadable restarts the file from row 0, also harmless. One
 * left by an import of the same path, table and node under another
 * fingerprint is not: the file changed since that import stopped, and
 * reading it again sends its rows under new dedupe keys, so the rows that
 * import wrote would be stored twice (`staleCheckpoints` finds them).
 */
import { createHash } from 'node:crypto';
import { open, readdir, rm, stat } from 'node:fs/promises';
import { homedir } from 'node:os';
import path from 'node:path';
import { readJsonFile, writeFileAtomic } from '../../storage/atomic-file.ts';
import type { FileFormat, ResumePoint } from '../../ingest/formats/file-batch.ts';

/** Bytes hashed at each end of the file. */
const EDGE_BYTES = 1024 * 1024;

/** What identifies a file for a resume. */
export interface FileIdentity {
  readonly path: string;
  readonly size: number;
  readonly mtimeMs: number;
  /** Hex sha-256 of path, size, mtime and the file's first and last MiB. */
  readonly fingerprint: string;
}

/** The saved state of one import. */
export interface Checkpoint {
  readonly version: 1;
  readonly file: string;
  readonly size: number;
  readonly mtimeMs: number;
  readonly fingerprint: string;
  readonly table: string;
  readonly url: string;
  readonly format: FileFormat;
  /** The dedupe prefix the rows are sent with. */
  readonly prefix: string;
  /** Rows [0, rowsDone) are durable in the table. */
  readonly rowsDone: number;
  /** Text formats: where to read again from (at or before row rowsDone). */
  readonly at?: ResumePoint;
  readonly written: number;
  readonly rejected: number;
  readonly updatedAt: string;
}

/** The fingerprint of `file` (resolved to an absolute path). */
export async function identify(file: string): Promise<FileIdentity> {
  const abs = path.resolve(file);
  const s = await stat(abs);
  const hash = createHash('sha256').update(`${abs}\0${s.size}\0${s.mtimeMs}\0`);
  const fh = await open(abs, 'r');
  try {
    const head = Buffer.alloc(Math.min(EDGE_BYTES, s.size));
    await fh.read(head, 0, head.length, 0);
    hash.update(head);
    if (s.size > EDGE_BYTES) {
      const tail = Buffer.alloc(Math.min(EDGE_BYTES, s.size - EDGE_BYTES));
      await fh.read(tail, 0, tail.length, s.size - tail.length);
      hash.update(tail);
    }
  } finally {
    await fh.close();
  }
  return { path: abs, size: s.size, mtimeMs: s.mtimeMs, fingerprint: hash.digest('hex') };
}

/** The dedupe prefix of a file's rows: short, and the same on every run over the same file. */
export function dedupePrefix(id: FileIdentity): string {
  return `file:${id.fingerprint.slice(0, 32)}:`;
}

/** The default checkpoint directory. */
export function defaultCheckpointDir(): string {
  const cache = process.env['SLUICE_CACHE_DIR'] || path.join(homedir(), '.cache', 'sluice');
  return path.join(cache, 'imports');
}

/** The checkpoint file of one (file, table, node). */
export class CheckpointFile {
  readonly path: string;

  /** The checkpoint of (`id`, `table`, `url`) in `dir`, or the one at `file` when given. */
  constructor(dir: string, id: FileIdentity, table: string, url: string, file?: string) {
    const key = createHash('sha256').update(`${id.fingerprint}\0${table}\0${url}`).digest('hex').slice(0, 40);
    this.path = file ?? path.join(dir, `${key}.json`);
  }

  /** The saved checkpoint, or undefined when there is none (or it cannot be used: then the import starts over, which is safe). */
  async load(): Promise<Checkpoint | undefined> {
    return loadCheckpoint(this.path);
  }

  /** Replaces the checkpoint atomically. */
  async save(cp: Checkpoint): Promise<void> {
    await writeFileAtomic(this.path, `${JSON.stringify(cp)}\n`);
  }

  /** Removes it; idempotent. */
  async remove(): Promise<void> {
    await rm(this.path, { force: true });
  }
}

/** The checkpoint at `file`, or undefined when there is none or it cannot be used. */
async function loadCheckpoint(file: string): Promise<Checkpoint | undefined> {
  let value: unknown;
  try {
    value = await readJsonFile(file);
  } catch {
    return undefined;
  }
  const cp = value as Partial<Checkpoint> | undefined;
  if (cp === undefined || cp === null || cp.version !== 1 || typeof cp.rowsDone !== 'number' || !Number.isSafeInteger(cp.rowsDone) || cp.rowsDone < 0) return undefined;
  return cp as Checkpoint;
}

/** A checkpoint of an import of the same path, table and node as this one, over another version of the file. */
export interface StaleCheckpoint {
  readonly file: CheckpointFile;
  readonly checkpoint: Checkpoint;
}

/**
 * The checkpoints in `dir` of imports of `id.path` into `table` at `url`
 * whose fingerprint is not `id`'s: the file changed after they stopped.
 * The directory holds one file per import that did not end (each is
 * removed when its import ends), so reading them all is cheap.
 */
export async function staleCheckpoints(dir: string, id: FileIdentity, table: string, url: string): Promise<StaleCheckpoint[]> {
  let names: string[];
  try {
    names = (await readdir(dir)).filter((n) => n.endsWith('.json'));
  } catch {
    // No directory: no checkpoint at all (an unreadable one cannot be resumed from either).
    return [];
  }
  const stale: StaleCheckpoint[] = [];
  for (const name of names.sort()) {
    const checkpoint = await loadCheckpoint(path.join(dir, name));
    if (checkpoint === undefined || checkpoint.file !== id.path || checkpoint.table !== table || checkpoint.url !== url || checkpoint.fingerprint === id.fingerprint) continue;
    stale.push({ file: new CheckpointFile(dir, id, table, url, path.join(dir, name)), checkpoint });
  }
  return stale;
}
