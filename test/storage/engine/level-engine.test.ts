import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { ClassicLevel } from 'classic-level';
import { isSluiceError } from '../../../src/core/errors.ts';
import { LevelEngine } from '../../../src/storage/engine/level-engine.ts';
import { runEngineSuite, tempDir } from './engine-suite.ts';
import { BATCH_KEYS, batchKey, batchValue } from './fixtures/batches.ts';

runEngineSuite('level');

const CHILD = fileURLToPath(new URL('./fixtures/engine-child.ts', import.meta.url));
/** level-engine.ts stores its open state under 'm' + 'open-state': clean:u8 then the boot id. */
const OPEN_STATE_KEY = Buffer.from('mopen-state', 'latin1');

/** Rewrites the boot id recorded in the engine's open state, as if the OS had rebooted since. */
async function pretendReboot(dir: string): Promise<{ clean: boolean }> {
  const raw = new ClassicLevel<Buffer, Buffer>(dir, { keyEncoding: 'buffer', valueEncoding: 'buffer' });
  await raw.open();
  try {
    const state = await raw.get(OPEN_STATE_KEY);
    assert.ok(state !== undefined, 'the engine records its open state');
    await raw.put(OPEN_STATE_KEY, Buffer.concat([state.subarray(0, 1), Buffer.from('some-earlier-boot', 'latin1')]), { sync: true });
    return { clean: state[0] === 1 };
  } finally {
    await raw.close();
  }
}

/** Commits batches 1..total in a child, syncing after `synced`, then SIGKILLs it. */
function crashAfter(dir: string, synced: number, total: number): void {
  const res = spawnSync(process.execPath, [CHILD, 'level', dir, 'sync-then-crash', String(synced), String(total)], { encoding: 'utf8' });
  assert.equal(res.signal, 'SIGKILL', res.stderr);
  assert.match(res.stdout, new RegExp(`"committed":${total}`));
}

async function assertWholeBatches(engine: LevelEngine, upTo: number): Promise<void> {
  for (let n = 1; n <= upTo; n++) {
    const values = await engine.getMany(Array.from({ length: BATCH_KEYS }, (_, j) => batchKey(n, j)));
    values.forEach((v, j) => assert.deepEqual(v && Buffer.from(v), batchValue(n, j, 100), `batch ${n} key ${j}`));
  }
}

describe('level engine specifics', () => {
  test('opening a directory that is already open fails with STORAGE_IO naming it', async () => {
    const dir = path.join(tempDir(), 'idx');
    const engine = await LevelEngine.open({ dir });
    try {
      await assert.rejects(LevelEngine.open({ dir }), (err) => isSluiceError(err, 'STORAGE_IO') && err.message.includes(dir));
    } finally {
      await engine.close();
    }
    const again = await LevelEngine.open({ dir });
    await again.close();
  });

  test('after a process crash (same boot) the checkpoint keeps every committed batch', async () => {
    const dir = path.join(tempDir(), 'idx');
    crashAfter(dir, 5, 9);
    const engine = await LevelEngine.open({ dir });
    try {
      assert.equal(await engine.checkpointLsn(), 9n);
      await assertWholeBatches(engine, 9);
    } finally {
      await engine.close();
    }
  });

  test('after an unclean stop under another boot id (OS crash) the checkpoint rolls back to the last sync', async () => {
    const dir = path.join(tempDir(), 'idx');
    crashAfter(dir, 5, 9);
    assert.deepEqual(await pretendReboot(dir), { clean: false });
    let engine = await LevelEngine.open({ dir });
    try {
      // Batches 6..9 were never fsync'd: after a real OS crash any of them could be torn.
      assert.equal(await engine.checkpointLsn(), 5n);
      await assertWholeBatches(engine, 5);
    } finally {
      await engine.close();
    }
    // The rollback is persistent, and a clean close is not mistaken for a crash after a reboot.
    assert.deepEqual(await pretendReboot(dir), { clean: true });
    engine = await LevelEngine.open({ dir });
    try {
      assert.equal(await engine.checkpointLsn(), 5n);
      const batch = engine.batch();
      batch.put(Buffer.from('x'), Buffer.from('y'));
      await batch.commit(6n);
    } finally {
      await engine.close();
    }
    assert.deepEqual(await pretendReboot(dir), { clean: true });
    engine = await LevelEngine.open({ dir });
    try {
      assert.equal(await engine.checkpointLsn(), 6n);
    } finally {
      await engine.close();
    }
  });
});
