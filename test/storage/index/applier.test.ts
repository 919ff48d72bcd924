import { test } from 'node:test';
import assert from 'node:assert/strict';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { Applier } from '../../../src/storage/index/applier.ts';
import type { IndexStore } from '../../../src/storage/index/index-store.ts';
import type { AppliedFrame } from '../../../src/storage/frame-types.ts';
import { isSluiceError } from '../../../src/core/errors.ts';

/** An index that records what it was asked to apply (the applier's only dependency). */
function recordingIndex(fail = false) {
  const applied: bigint[][] = [];
  const index = {
    async apply(frames: readonly AppliedFrame[]) {
      await new Promise((r) => setImmediate(r));
      if (fail) throw new Error('disk on fire');
      applied.push(frames.map((f) => f.lsn));
      return { records: frames.length, upserts: 0, stale: 0 };
    },
  } as unknown as IndexStore;
  return { index, applied };
}

const frame = (lsn: bigint, bytes = 8): AppliedFrame => ({ lsn, type: 1, payload: Buffer.alloc(bytes) });

test('frames are applied in LSN order, gathered into bounded batches; waiters wake at their LSN', async () => {
  const { index, applied } = recordingIndex();
  const applier = new Applier(index, 0n, { applyBatchRecordsMax: 3, applyCommitsInFlightMax: 1, onFatal: () => assert.fail('no failure') });
  const done: bigint[] = [];
  for (let lsn = 1n; lsn <= 7n; lsn++) applier.enqueue(frame(lsn), 1, () => done.push(lsn));
  await applier.waitFor(7n, 5000);
  assert.deepEqual(applied, [[1n, 2n, 3n], [4n, 5n, 6n], [7n]]);
  assert.deepEqual(done, [1n, 2n, 3n, 4n, 5n, 6n, 7n]);
  assert.equal(applier.appliedLsn, 7n);
  await assert.rejects(applier.waitFor(8n, 20), (err) => isSluiceError(err, 'READ_TIMEOUT'));
});

test('enqueueing out of LSN order is a programmer error', () => {
  const { index } = recordingIndex();
  const applier = new Applier(index, 5n, { applyBatchRecordsMax: 10, applyCommitsInFlightMax: 4, onFatal: () => {} });
  assert.throws(() => applier.enqueue(frame(5n), 1));
});

test('a failing index reports once, releases every frame and fails waiters', async () => {
  const { index } = recordingIndex(true);
  let fatal = 0;
  const applier = new Applier(index, 0n, { applyBatchRecordsMax: 1, applyCommitsInFlightMax: 4, onFatal: () => fatal++ });
  let released = 0;
  for (let lsn = 1n; lsn <= 3n; lsn++) applier.enqueue(frame(lsn), 1, () => released++);
  await assert.rejects(applier.waitFor(3n, 5000), (err) => isSluiceError(err, 'STORAGE_IO'));
  await applier.drained();
  assert.equal(fatal, 1);
  assert.equal(released, 3);
});

test('applied frames are not retained (their payloads can be collected)', async () => {
  setFlagsFromString('--expose-gc');
  const gc = runInNewContext('gc') as () => void;
  const { index } = recordingIndex();
  const applier = new Applier(index, 0n, { applyBatchRecordsMax: 1000, applyCommitsInFlightMax: 4, onFatal: () => {} });
  const registry = new FinalizationRegistry<bigint>(() => {});
  const refs: WeakRef<Buffer>[] = [];
  // Frames are made in a helper so the test's own scope holds none of them.
  const feed = (lsn: bigint): void => {
    const f = frame(lsn, 1024 * 1024);
    refs.push(new WeakRef(f.payload as Buffer));
    registry.register(f.payload, lsn);
    applier.enqueue(f, 1);
  };
  for (let lsn = 1n; lsn <= 20n; lsn++) {
    feed(lsn);
    await applier.waitFor(lsn, 5000);
  }
  await applier.drained();
  for (let i = 0; i < 5 && refs.some((r) => r.deref() !== undefined); i++) {
    await new Promise((r) => setTimeout(r, 10));
    gc();
  }
  const alive = refs.filter((r) => r.deref() !== undefined).length;
  assert.equal(alive, 0, `${alive} applied payloads are still reachable`);
});

test('full batches overlap up to the commit limit and still settle in LSN order', async () => {
  let running = 0;
  let peak = 0;
  const settled: bigint[] = [];
  const index = {
    async apply(frames: readonly AppliedFrame[]) {
      running++;
      peak = Math.max(peak, running);
      // Later batches finish first: the applier must still settle them in order.
      await new Promise((r) => setTimeout(r, 40 - Number(frames[0]!.lsn)));
      running--;
      return { records: frames.length, upserts: 0, stale: 0 };
    },
  } as unknown as IndexStore;
  const applier = new Applier(index, 0n, {
    applyBatchRecordsMax: 2,
    applyCommitsInFlightMax: 3,
    onFatal: () => assert.fail('no failure'),
    onApplied: (info) => settled.push(info.lsn),
  });
  for (let lsn = 1n; lsn <= 12n; lsn++) applier.enqueue(frame(lsn), 1);
  await applier.waitFor(12n, 5000);
  await applier.drained();
  assert.equal(peak, 3);
  assert.deepEqual(settled, [2n, 4n, 6n, 8n, 10n, 12n]);
});
