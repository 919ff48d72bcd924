/** Shared helpers of the WAL tests: temp dirs, a seeded PRNG, checkable payloads. */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { TestContext } from 'node:test';

/** A fresh temp dir removed when the test ends. */
export function tempDir(t: TestContext): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sluice-'));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** Deterministic PRNG (mulberry32) so fuzz failures reproduce. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

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
