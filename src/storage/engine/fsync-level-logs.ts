/**
 * Makes every write LevelDB has accepted durable, including those in a log
 * file it has rotated away from.
 *
 * A `{ sync: true }` write fsyncs only the current log. When the memtable
 * fills, LevelDB 1.20 starts a new log and closes the old one without fsync;
 * the old log's records become durable only once its memtable is compacted
 * into a (synced) table file. Until then an OS crash could lose them while
 * a later synced log survives. fsync works on any descriptor of a file, so
 * syncing every `*.log` in the directory (and the directory, for a new log's
 * name) closes that gap.
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import { errnoCode } from '../../core/errors.ts';

const LOG_FILE = /^\d+\.log$/;

/** fsyncs every LevelDB write-ahead log in `dir`, then `dir` itself. */
export async function fsyncLevelLogs(dir: string): Promise<void> {
  for (const name of await fs.readdir(dir)) {
    if (LOG_FILE.test(name)) await fsyncPath(path.join(dir, name));
  }
  await fsyncPath(dir);
}

async function fsyncPath(file: string): Promise<void> {
  let handle: fs.FileHandle;
  try {
    handle = await fs.open(file, 'r');
  } catch (err) {
    // A log compacted and deleted since readdir: its records are in a synced table file.
    if (errnoCode(err) === 'ENOENT') return;
    throw err;
  }
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}
