/**
 * The machine's own limits, measured in the same run as sluice so every
 * figure can be printed as a ratio of what the hardware allows: durable
 * sequential write bandwidth (write + fdatasync) and JSON.parse speed on one
 * core for the very records the benchmark sends.
 */
import { closeSync, fdatasyncSync, openSync, rmSync, writeSync } from 'node:fs';
import path from 'node:path';

/** MB/s of sequential writes of `chunkBytes`, each followed by fdatasync (like a WAL group commit). */
export function fsyncWriteMBps(dir: string, chunkBytes: number, totalBytes: number): number {
  const file = path.join(dir, `fsync-probe-${process.pid}`);
  const fd = openSync(file, 'w');
  const chunk = Buffer.alloc(chunkBytes, 0x61);
  const started = performance.now();
  let written = 0;
  try {
    while (written < totalBytes) {
      writeSync(fd, chunk);
      fdatasyncSync(fd);
      written += chunkBytes;
    }
  } finally {
    closeSync(fd);
    rmSync(file, { force: true });
  }
  return written / 1e6 / ((performance.now() - started) / 1000);
}

/** fdatasync'd writes of `chunkBytes` per second: the ceiling of acknowledged group commits. */
export function fsyncsPerSecond(dir: string, chunkBytes: number, count: number): number {
  const file = path.join(dir, `fsync-rate-${process.pid}`);
  const fd = openSync(file, 'w');
  const chunk = Buffer.alloc(chunkBytes, 0x62);
  const started = performance.now();
  try {
    for (let i = 0; i < count; i++) {
      writeSync(fd, chunk);
      fdatasyncSync(fd);
    }
  } finally {
    closeSync(fd);
    rmSync(file, { force: true });
  }
  return count / ((performance.now() - started) / 1000);
}

/** Records per second `JSON.parse` manages on one core, one line at a time (as NDJSON is parsed). */
export function jsonParseRecordsPerSecond(lines: readonly string[], seconds = 2): number {
  let parsed = 0;
  let sink = 0;
  const started = performance.now();
  const deadline = started + seconds * 1000;
  while (performance.now() < deadline) {
    for (let i = 0; i < lines.length; i++) {
      const v = JSON.parse(lines[i] as string) as { amount?: string };
      sink += v.amount === undefined ? 0 : 1;
    }
    parsed += lines.length;
  }
  if (sink < 0) console.log(sink);
  return parsed / ((performance.now() - started) / 1000);
}
