import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { ClassicLevel } from 'classic-level';
import { isSluiceError } from '../../../src/core/errors.ts';
import { ITERATOR_FIRST_CHUNK_ENTRIES, LevelEngine, nextChunkEntries } from '../../../src/storage/engine/level-engine.ts';
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

  test('a scan asks few entries of its first native call and four times more of each next, up to 1,000', () => {
    const asked = [nextChunkEntries(0)];
    while (asked.length < 8) asked.push(nextChunkEntries(asked.at(-1) as number));
    // A short read (a shard key's few records, an id block) pins little native memory until the iterator is collected.
    assert.ok(ITERATOR_FIRST_CHUNK_ENTRIES <= 64);
    assert.deepEqual(asked, [16, 64, 256, 1000, 1000, 1000, 1000, 1000]);
  });

  test('scans across growing chunks return every entry in order, with and without a limit', async () => {
    const dir = tempDir();
    const engine = await LevelEngine.open({ dir });
    try {
      const batch = engine.batch();
      const key = (n: number): Buffer => Buffer.from(`k${String(n).padStart(6, '0')}`);
      for (let n = 0; n < 2_500; n++) batch.put(key(n), Buffer.from(String(n)));
      await batch.commit(1n);
      const scan = async (range: Parameters<LevelEngine['iterate']>[0]): Promise<string[]> => {
        const out: string[] = [];
        for await (const [, v] of engine.iterate(range)) out.push(Buffer.from(v).toString());
        return out;
      };
      const all = await scan({ gte: key(0), lt: key(2_500) });
      assert.deepEqual(all, Array.from({ length: 2_500 }, (_, n) => String(n)));
      assert.deepEqual(await scan({ gte: key(10), lt: key(2_500), limit: 300 }), Array.from({ length: 300 }, (_, n) => String(n + 10)));
      assert.deepEqual(await scan({ gte: key(0), lt: key(2_500), limit: 16 }), Array.from({ length: 16 }, (_, n) => String(n)));
      assert.deepEqual(await scan({ gt: key(2_480), lte: key(2_499), reverse: true }), Array.from({ length: 19 }, (_, n) => String(2_499 - n)));
    } finally {
      await engine.close();
    }
  });

  test('a long scan reads its next chunk ahead; breaking off or closing with that read in flight leaves nothing broken', async () => {
    const dir = tempDir();
    let engine = await LevelEngine.open({ dir });
    const key = (n: number): Buffer => Buffer.from(`k${String(n).padStart(6, '0')}`);
    const batch = engine.batch();
    for (let n = 0; n < 5_000; n++) batch.put(key(n), Buffer.from(String(n)));
    await batch.commit(1n);
    // Chunks of 16, 64, 256, then 1,000: the fourth is the first whose next one is read ahead.
    // classic-level's native calls are counted on its iterator class, which every iterator of the process shares.
    const probe = new ClassicLevel<Buffer, Buffer>(path.join(dir, 'probe'), { keyEncoding: 'buffer', valueEncoding: 'buffer' });
    await probe.open();
    const probeIterator = probe.iterator();
    const iteratorClass = Object.getPrototypeOf(probeIterator) as { nextv: (...args: unknown[]) => unknown };
    await probeIterator.close();
    await probe.close();
    const nextv = iteratorClass.nextv;
    let asked = 0;
    iteratorClass.nextv = function (this: unknown, ...args: unknown[]) {
      asked++;
      return nextv.apply(this, args);
    };
    const sizes: number[] = [];
    const askedWhenHandedOver: number[] = [];
    const seen: string[] = [];
    try {
      for await (const chunk of engine.iterateChunks({})) {
        sizes.push(chunk.length);
        askedWhenHandedOver.push(asked);
        for (const [, v] of chunk) seen.push(Buffer.from(v).toString());
      }
    } finally {
      iteratorClass.nextv = nextv;
    }
    assert.deepEqual(sizes, [16, 64, 256, 1000, 1000, 1000, 1000, 664]);
    assert.deepEqual(askedWhenHandedOver, [1, 2, 3, 5, 6, 7, 8, 9], 'from the fourth chunk on, the next one was asked before this one was handed over');
    assert.deepEqual(seen, Array.from({ length: 5_000 }, (_, n) => String(n)));
    // Broken off right after a full chunk, with the read ahead in flight: the iterator still closes, writes go on.
    let chunks = 0;
    for await (const _ of engine.iterateChunks({})) if (++chunks === 4) break;
    const more = engine.batch();
    more.put(key(5_000), Buffer.from('5000'));
    await more.commit(2n);
    // Closed with a read ahead in flight: the scan ends with SHUTTING_DOWN and the close completes.
    const open = engine.iterateChunks({})[Symbol.asyncIterator]();
    for (let i = 0; i < 4; i++) assert.equal((await open.next()).done, false);
    await engine.close();
    await assert.rejects(open.next(), (err) => isSluiceError(err, 'SHUTTING_DOWN'));
    engine = await LevelEngine.open({ dir });
    try {
      let n = 0;
      for await (const chunk of engine.iterateChunks({})) n += chunk.length;
      assert.equal(n, 5_001);
    } finally {
      await engine.close();
    }
  });
});
