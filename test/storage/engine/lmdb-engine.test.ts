import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { describe, test } from 'node:test';
import { isSluiceError } from '../../../src/core/errors.ts';
import { LmdbEngine } from '../../../src/storage/engine/lmdb-engine.ts';
import { collect, prng, runEngineSuite, tempDir } from './engine-suite.ts';

runEngineSuite('lmdb');

describe('lmdb engine specifics', () => {
  test('the map grows past a small initial map size, and the data survives reopen', { timeout: 60_000 }, async () => {
    const dir = path.join(tempDir(), 'idx');
    const mapBytesInitial = 1024 * 1024;
    let engine = await LmdbEngine.open({ dir, mapBytesInitial });
    const rand = prng(3);
    const batches = 20;
    const perBatch = 500;
    const value = (n: number): Buffer => Buffer.alloc(2000, n & 0xff);
    try {
      for (let b = 0; b < batches; b++) {
        const batch = engine.batch();
        for (let i = 0; i < perBatch; i++) {
          const key = Buffer.alloc(12);
          key.writeUInt32BE(b * perBatch + i, 0);
          key.writeDoubleBE(rand(), 4);
          batch.put(key, value(b * perBatch + i));
        }
        await batch.commit(BigInt(b + 1));
      }
    } finally {
      await engine.close();
    }
    const bytes = fs.statSync(path.join(dir, 'data.mdb')).size;
    assert.ok(bytes > 10 * mapBytesInitial, `data file ${bytes} bytes outgrew the ${mapBytesInitial}-byte initial map`);
    engine = await LmdbEngine.open({ dir, mapBytesInitial });
    try {
      assert.equal(await engine.checkpointLsn(), BigInt(batches));
      const all = await collect(engine, {});
      assert.equal(all.length, batches * perBatch);
      for (const [k, v] of all) assert.ok(value(k.readUInt32BE(0)).equals(v));
    } finally {
      await engine.close();
    }
  });

  test('a directory is opened once per process', async () => {
    const dir = path.join(tempDir(), 'idx');
    const engine = await LmdbEngine.open({ dir });
    try {
      await assert.rejects(LmdbEngine.open({ dir }), (err) => isSluiceError(err, 'STORAGE_IO') && err.message.includes(fs.realpathSync(dir)));
    } finally {
      await engine.close();
    }
    // Closing frees the directory for a new open.
    const again = await LmdbEngine.open({ dir });
    await again.close();
  });

  test('a directory name containing a dot is a directory, not a file name', async () => {
    const dir = path.join(tempDir(), 'index.v1');
    const engine = await LmdbEngine.open({ dir });
    await engine.close();
    assert.ok(fs.statSync(dir).isDirectory());
    assert.ok(fs.existsSync(path.join(dir, 'data.mdb')));
  });
});
