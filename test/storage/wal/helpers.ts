/** Shared helpers of the WAL tests: temp dirs, a seeded PRNG, checkable payloads. */
import fs from 'node:fs';
import { prng } from '../../support/prng.ts';

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
