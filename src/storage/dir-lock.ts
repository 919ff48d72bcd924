/**
 * One process per data directory. LMDB happily lets two processes open
 * one environment and the WAL has no lock of its own, so two nodes on one
 * data dir would interleave WAL frames and corrupt it. The lock file holds
 * the owner's PID; a lock whose PID is no longer alive (the owner was
 * SIGKILLed) is taken over.
 */
import { openSync, closeSync, writeSync, readFileSync, unlinkSync, fsyncSync } from 'node:fs';
import path from 'node:path';
import { SluiceError, errnoCode } from '../core/errors.ts';

/** A held data-dir lock; release it on close. */
export interface DirLock {
  release(): void;
}

/** Takes DATA_DIR/LOCK or throws STORAGE_IO naming the process that holds it. */
export function lockDataDir(dataDir: string): DirLock {
  const file = path.join(dataDir, 'LOCK');
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const fd = openSync(file, 'wx', 0o644);
      writeSync(fd, `${process.pid}\n`);
      fsyncSync(fd);
      closeSync(fd);
      let released = false;
      return {
        release: () => {
          if (released) return;
          released = true;
          try {
            unlinkSync(file);
          } catch {
            // Already gone: nothing to release.
          }
        },
      };
    } catch (err) {
      if (errnoCode(err) !== 'EEXIST') throw new SluiceError('STORAGE_IO', `cannot create ${file}: ${(err as Error).message}`, [], { cause: err });
    }
    const owner = Number(readFileSafe(file).trim());
    if (Number.isInteger(owner) && owner > 0 && owner !== process.pid && isAlive(owner)) {
      throw new SluiceError('STORAGE_IO', `data dir ${dataDir} is in use by process ${owner} (${file})`);
    }
    // Stale lock of a dead process (or garbage): remove it and try once more.
    try {
      unlinkSync(file);
    } catch {
      // Someone else removed it first; the retry decides.
    }
  }
  throw new SluiceError('STORAGE_IO', `cannot take the lock ${file}`);
}

function readFileSafe(file: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch {
    return '';
  }
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    // EPERM: it exists but belongs to someone else.
    return errnoCode(err) === 'EPERM';
  }
}
