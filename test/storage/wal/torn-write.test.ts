import assert from 'node:assert/strict';
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import path from 'node:path';
import { test } from 'node:test';
import { allZeroFrom, tornWriteZerosAt } from '../../../src/storage/wal/torn-write.ts';
import { prng, randomBytes, tempDir } from './helpers.ts';

/** Random bytes with no zero byte, so only the runs a test places count. */
function noZeros(length: number, seed: number): Buffer {
  const bytes = randomBytes(prng(seed), length);
  for (let i = 0; i < bytes.length; i++) if (bytes[i] === 0) bytes[i] = 1;
  return bytes;
}

test('tornWriteZerosAt finds 8 zeros at the start or at a sector boundary, across read chunks, and nothing else', async (t) => {
  const file = path.join(tempDir(t), 'f');
  for (const chunkBytes of [512, 1024, 4096, 1 << 20]) {
    for (const [at, from, expected] of [
      [1536, 100, 1536], // aligned run, found whatever the chunk size
      [1000, 1000, 1000], // run at the frame's first byte (its length field was lost)
      [1001, 100, undefined], // unaligned run inside the frame: data, not a lost page
      [4096 - 4, 100, undefined], // run that ends past `end`
    ] as const) {
      const bytes = noZeros(4096, at);
      bytes.fill(0, at, Math.min(bytes.length, at + 8));
      fs.writeFileSync(file, bytes);
      const handle = await fsp.open(file, 'r');
      try {
        assert.equal(await tornWriteZerosAt(handle, from, 4096, chunkBytes), expected, `run at ${at}, from ${from}, chunks of ${chunkBytes}`);
      } finally {
        await handle.close();
      }
    }
  }
});

test('allZeroFrom is true only when every byte to the end is zero', async (t) => {
  const file = path.join(tempDir(t), 'f');
  const bytes = Buffer.alloc(10_000);
  bytes[99] = 7;
  fs.writeFileSync(file, bytes);
  const handle = await fsp.open(file, 'r');
  t.after(() => handle.close());
  assert.equal(await allZeroFrom(handle, 100, bytes.length, 1024), true);
  assert.equal(await allZeroFrom(handle, 99, bytes.length, 1024), false);
  bytes[9_999] = 1;
  fs.writeFileSync(file, bytes);
  assert.equal(await allZeroFrom(handle, 100, bytes.length, 1024), false);
});
