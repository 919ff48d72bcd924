/**
 * Two coordinators can stamp the same HLC version on writes of one primary
 * key (same ms, same counter). Every replica must then keep the same record
 * whatever order the writes reach it in (decision 0052): two stores on real
 * engines take them in opposite orders and must end up alike.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { TestContext } from 'node:test';
import { openEngine } from '../../../src/storage/engine/open-engine.ts';
import { IndexStore } from '../../../src/storage/index/index-store.ts';
import { FRAME_TYPES, type AppliedFrame } from '../../../src/storage/frame-types.ts';
import { readStoredValue } from '../../../src/core/codec/record-batch-v1.ts';
import { decodeFields } from '../../../src/core/codec/fields-codec.ts';
import { recordKeyId } from '../../../src/storage/index/key-layout.ts';
import { hlcFromParts } from '../../../src/core/hlc.ts';
import { stampedBatch, type StampedRec } from '../../support/stamped-batch.ts';

type Kind = 'lmdb' | 'level';

async function store(t: TestContext, kind: Kind): Promise<IndexStore> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'sluice-ties-'));
  const engine = await openEngine(kind, { dir });
  t.after(async () => {
    await engine.close();
    rmSync(dir, { recursive: true, force: true });
  });
  return new IndexStore(engine);
}

/** How the frames reach the index: one apply each, all in one apply, or applies overlapping (the overlay). */
type Mode = 'one-by-one' | 'one-build' | 'overlapping';

async function applyAll(idx: IndexStore, batches: readonly Buffer[], mode: Mode): Promise<void> {
  const frames: AppliedFrame[] = batches.map((payload, i) => ({ lsn: BigInt(i + 1), type: FRAME_TYPES.RECORDS, payload }));
  if (mode === 'one-build') await idx.apply(frames);
  else if (mode === 'overlapping') await Promise.all(frames.map((f) => idx.apply([f])));
  else for (const f of frames) await idx.apply([f]);
}

/** What a reader sees of the key: its entry and the records stored under its shard key. */
async function seen(idx: IndexStore, r: StampedRec): Promise<unknown> {
  const [entry] = await idx.lookupPks([{ shard: r.shard, tableId: 1, pk: Buffer.from(r.pk ?? '') }]);
  const rows: [bigint, string, unknown][] = [];
  for await (const page of idx.scanTable(1, 100)) {
    for (const rec of page) rows.push([recordKeyId(rec.recordKey), Buffer.from(rec.recordKey).toString('hex'), decodeFields(readStoredValue(rec.value).fields)[0]]);
  }
  const byId = entry === undefined ? undefined : await idx.getById(1, entry.id);
  return { id: entry?.id, version: entry?.version, byId: byId === undefined ? undefined : decodeFields(readStoredValue(byId.value).fields)[0], rows };
}

const V = hlcFromParts(Date.UTC(2026, 11, 7), 3);
const A: StampedRec = { shard: 0, key: 'acct', pk: 'p', time: 100, id: 10n, version: V, value: 'from-a' };
const pairs: Record<string, [StampedRec, StampedRec]> = {
  // Both coordinators found the key absent and minted an id each.
  'different ids': [A, { ...A, id: 11n, value: 'from-b' }],
  // Both found the id the replicas hold; same shard key and time: one record key, different fields.
  'same id, same record key': [A, { ...A, value: 'from-b' }],
  'same id, other event time': [A, { ...A, time: 200, value: 'from-b' }],
};

for (const kind of ['lmdb', 'level'] as const) {
  for (const mode of ['one-by-one', 'one-build', 'overlapping'] as const) {
    test(`writes of one primary key with equal versions resolve the same in either order (${kind}, ${mode})`, async (t) => {
      for (const [name, [a, b]] of Object.entries(pairs)) {
        // Both ways round for the values too, so no order of field bytes makes it pass by luck.
        for (const [x, y] of [[a, b], [{ ...a, value: b.value }, { ...b, value: a.value }]] as const) {
          const first = await store(t, kind);
          const second = await store(t, kind);
          await applyAll(first, [stampedBatch(1, [x]), stampedBatch(1, [y])], mode);
          await applyAll(second, [stampedBatch(1, [y]), stampedBatch(1, [x])], mode);
          const one = await seen(first, x);
          assert.deepEqual(await seen(second, x), one, `${name}: both replicas keep the same record`);
          assert.equal((one as { rows: unknown[] }).rows.length, 1, `${name}: one record for the key`);
          // A replay of both (a crash before the checkpoint) changes nothing.
          await applyAll(first, [stampedBatch(1, [x]), stampedBatch(1, [y])], mode);
          assert.deepEqual(await seen(first, x), one, `${name}: a replay keeps it`);
        }
      }
    });
  }

  test(`an atomic batch's later record of a key wins within it, and ties with another write the same way in either order (${kind})`, async (t) => {
    // One version for a whole atomic batch: its two records of key p, then a write of another coordinator.
    // 'batch-lzzz' sorts between the batch's two values: a rule that let the early record take part would split the replicas.
    const early: StampedRec = { ...A, value: 'batch-early' };
    const late: StampedRec = { ...A, time: 150, value: 'batch-late' };
    const alone = await store(t, kind);
    await applyAll(alone, [stampedBatch(1, [early, late])], 'one-by-one');
    assert.equal((await seen(alone, A) as { byId: unknown }).byId, 'batch-late', 'batch order within a batch');
    for (const other of [{ ...A, id: 9n, value: 'other' }, { ...A, id: 11n, value: 'other' }, { ...A, value: 'a-other' }, { ...A, value: 'zz-other-write' }, { ...A, value: 'batch-lzzz' }]) {
      const first = await store(t, kind);
      const second = await store(t, kind);
      await applyAll(first, [stampedBatch(1, [early, late]), stampedBatch(1, [other])], 'one-by-one');
      await applyAll(second, [stampedBatch(1, [other]), stampedBatch(1, [early, late])], 'one-by-one');
      assert.deepEqual(await seen(second, A), await seen(first, A), `against ${other.value} (id ${other.id})`);
    }
  });
}
