/** Shared helpers of the WAL tests: temp dirs, a seeded PRNG, checkable payloads, a tiny real tmpfs. */
import { spawnSync, type SpawnSyncReturns } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { prng } from '../../support/prng.ts';
import type { Wal, WalFrame } from '../../../src/storage/wal/wal.ts';

export { prng };
export { tempDir } from '../../support/temp-dir.ts';

/** Random bytes from a PRNG. */
export function randomBytes(rand: () => number, length: number): Buffer {
  const out = Buffer.allocUnsafe(length);
  for (let i = 0; i < length; i++) out[i] = Math.floor(rand() * 256);
  return out;
}

/** The payload a test writes for `lsn`: length and content derived from it, so any frame is checkable. */
export function payloadFor(lsn: bigint, maxBytes = 600): Buffer {
  const n = Number(lsn % 1_000_003n);
  const rand = prng(n * 2654435761);
  return randomBytes(rand, (n * 7919) % (maxBytes + 1));
}

/** Segment file names of a WAL dir, in order. */
export function segmentFiles(dir: string): string[] {
  return fs
    .readdirSync(dir)
    .filter((name) => name.endsWith('.wal'))
    .sort();
}

/** A user+mount namespace lets an unprivileged test mount a tiny tmpfs that really fills up. */
export function canUseTmpfsNamespace(): boolean {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sluice-'));
  try {
    return spawnSync('unshare', ['-rm', 'sh', '-c', 'mount -t tmpfs -o size=64k tmpfs "$1"', 'sh', dir]).status === 0;
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

/** Runs `fixtures/<fixture> <mount> ...args` with a 1 MiB tmpfs mounted at `mount`, in a namespace of its own. */
export function runOnTinyTmpfs(mount: string, fixture: string, ...args: string[]): SpawnSyncReturns<string> {
  const file = fileURLToPath(new URL(`./fixtures/${fixture}`, import.meta.url));
  // sh -c SCRIPT sh NODE FILE MOUNT ARGS...: $1 node, $2 the fixture, $3 the mount point.
  const script = 'mount -t tmpfs -o size=1m tmpfs "$3" && exec "$@"';
  return spawnSync('unshare', ['-rm', 'sh', '-c', script, 'sh', process.execPath, file, mount, ...args], {
    encoding: 'utf8',
    timeout: 60_000,
  });
}

/** Every frame of `wal` from `fromLsn` on, in order. */
export async function replayAll(wal: Wal, fromLsn = 1n): Promise<WalFrame[]> {
  const frames: WalFrame[] = [];
  await wal.replay(fromLsn, async (batch) => {
    frames.push(...batch);
  });
  return frames;
}
