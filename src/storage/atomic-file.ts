/**
 * Small metadata files (catalog, node identity) are replaced atomically:
 * write a temporary file, fsync it, rename it over the old one, fsync the
 * directory. A crash leaves either the old or the new file, never a mix.
 */
import { open, rename, readFile, mkdir } from 'node:fs/promises';
import path from 'node:path';
import { SluiceError, errnoCode } from '../core/errors.ts';

/** Writes `data` to `file` atomically and durably (created with `mode`, 0644 by default). */
export async function writeFileAtomic(file: string, data: string | Uint8Array, mode = 0o644): Promise<void> {
  const dir = path.dirname(file);
  const tmp = `${file}.tmp-${process.pid}`;
  try {
    await mkdir(dir, { recursive: true });
    const fh = await open(tmp, 'w', mode);
    try {
      await fh.writeFile(data);
      await fh.sync();
    } finally {
      await fh.close();
    }
    await rename(tmp, file);
    await syncDir(dir);
  } catch (err) {
    if (errnoCode(err) === 'ENOSPC') throw new SluiceError('DISK_FULL', `no space left writing ${file}`, [], { cause: err });
    throw new SluiceError('STORAGE_IO', `cannot write ${file}: ${(err as Error).message}`, [], { cause: err });
  }
}

/** fsyncs a directory so a rename or create in it is durable. */
export async function syncDir(dir: string): Promise<void> {
  const fh = await open(dir, 'r');
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

/** Reads a JSON file, or returns undefined when it does not exist. */
export async function readJsonFile(file: string): Promise<unknown> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    if (errnoCode(err) === 'ENOENT') return undefined;
    throw new SluiceError('STORAGE_IO', `cannot read ${file}: ${(err as Error).message}`, [], { cause: err });
  }
  try {
    return JSON.parse(text) as unknown;
  } catch (err) {
    throw new SluiceError('STORAGE_IO', `${file} is not valid JSON; restore it from a backup`, [], { cause: err });
  }
}
