import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { TestContext } from 'node:test';
import { openEngine } from '../../../src/storage/engine/open-engine.ts';
import type { StorageEngine } from '../../../src/storage/engine/storage-engine.ts';
import { IndexStore } from '../../../src/storage/index/index-store.ts';
import { PkResolver } from '../../../src/storage/index/pk-resolver.ts';
import { FRAME_TYPES } from '../../../src/storage/frame-types.ts';
import { RecordBatchBuilder, RecordBatchReader } from '../../../src/core/codec/record-batch-v1.ts';
import { encodeFields } from '../../../src/core/codec/fields-codec.ts';

async function setup<I extends IndexStore = GatedIndex>(t: TestContext, make: (engine: StorageEngine) => I = (engine) => new GatedIndex(engine) as unknown as I) {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'sluice-pk-'));
  const engine = await openEngine('level', { dir });
  t.after(async () => {
    await engine.close();
    rmSync(dir, { recursive: true, force: true });
  });
  const index = make(engine);
  let applied = 0n;
  const resolver = new PkResolver(index, () => applied);
  let nextId = 100n;
  const apply = async (lsn: bigint, payload: Buffer): Promise<void> => {
    await index.apply([{ lsn, type: FRAME_TYPES.RECORDS, payload }]);
    applied = lsn;
    resolver.prune();
  };
  return { index, resolver, apply, newId: () => nextId++ };
}

/** An index whose primary-key reads can be held after they read the engine, to force interleavings. */
class GatedIndex extends IndexStore {
  gate: Promise<void> | undefined;
  override async lookupPks(lookups: Parameters<IndexStore['lookupPks']>[0]) {
    const found = await super.lookupPks(lookups);
    await this.gate;
    return found;
  }
}

function pkBatch(pks: readonly string[]): Buffer {
  const b = new RecordBatchBuilder(1, 1, 0);
  for (const pk of pks) b.add(0, 'acct', pk, 0, encodeFields([pk]));
  return b.finish();
}

function ids(buf: Buffer): bigint[] {
  const r = new RecordBatchReader(buf);
  const out: bigint[] = [];
  while (r.next()) out.push(r.id);
  return out;
}

test('the same primary key gets one id across requests, within a batch, and after it is indexed', async (t) => {
  const { resolver, apply, newId } = await setup(t);
  const a = pkBatch(['x', 'y', 'x']);
  const ca = await resolver.resolve(new RecordBatchReader(a), newId, () => {});
  assert.deepEqual(ids(a), [100n, 101n, 100n]);
  // Not yet durable or indexed: a concurrent writer of 'x' still reuses the id.
  const b = pkBatch(['x']);
  const cb = await resolver.resolve(new RecordBatchReader(b), newId, () => {});
  assert.deepEqual(ids(b), [100n]);
  resolver.committed(ca, 1n);
  resolver.committed(cb, 2n);
  await apply(1n, a);
  await apply(2n, b);
  assert.equal(resolver.pendingCount, 0, 'indexed keys are forgotten');
  // From the index now.
  const c = pkBatch(['y', 'z']);
  let observed = 0n;
  await resolver.resolve(new RecordBatchReader(c), newId, (v) => {
    observed = v;
  });
  assert.deepEqual(ids(c), [101n, 102n]);
  assert.equal(observed, 0n, 'the stored version (0: unstamped in this test) was observed');
});

test('a lookup in flight while its key is applied still finds the id (the prune race)', async (t) => {
  const { index, resolver, apply, newId } = await setup(t);
  const a = pkBatch(['k']);
  const ca = await resolver.resolve(new RecordBatchReader(a), newId, () => {});
  resolver.committed(ca, 1n);
  // B reads the engine before A is applied (so it misses 'k' there) and is held.
  let open!: () => void;
  index.gate = new Promise((resolve) => (open = resolve));
  const b = pkBatch(['k']);
  const lookup = resolver.resolve(new RecordBatchReader(b), newId, () => {});
  await new Promise((resolve) => setTimeout(resolve, 20));
  // A is applied and pruned while B is held; B must still find A's id pending.
  await apply(1n, a);
  open();
  await lookup;
  assert.deepEqual(ids(b), ids(a), 'B reuses the id of A');
});

test('a failed write forgets ids nobody made durable', async (t) => {
  const { resolver, newId } = await setup(t);
  const a = pkBatch(['q']);
  const ca = await resolver.resolve(new RecordBatchReader(a), newId, () => {});
  resolver.failed(ca);
  assert.equal(resolver.pendingCount, 0);
  const b = pkBatch(['q']);
  await resolver.resolve(new RecordBatchReader(b), newId, () => {});
  assert.notDeepEqual(ids(b), ids(a), 'a fresh id: the failed one was never acknowledged');
});

test('an id generator that throws leaves nothing claimed', async (t) => {
  const { resolver } = await setup(t);
  let n = 0;
  const flaky = (): bigint => {
    if (n++ === 1) throw new Error('clock rollback');
    return 500n + BigInt(n);
  };
  await assert.rejects(resolver.resolve(new RecordBatchReader(pkBatch(['a', 'b'])), flaky, () => {}));
  assert.equal(resolver.pendingCount, 0);
});

/** An index whose primary-key reads wait, after reading the engine, on one gate per call, taken in call order. */
class GatesIndex extends IndexStore {
  gates: Promise<void>[] = [];
  override async lookupPks(lookups: Parameters<IndexStore['lookupPks']>[0]) {
    const gate = this.gates.shift();
    const found = await super.lookupPks(lookups);
    await gate;
    return found;
  }
}

function opened(): { p: Promise<void>; open: () => void } {
  let open!: () => void;
  const p = new Promise<void>((resolve) => (open = resolve));
  return { p, open };
}

test('a key a write finds pending stays pending until the write claims it, though its other keys\' lookup outlives the prune that would drop it', async (t) => {
  const { index, resolver, apply, newId } = await setup(t, (engine) => new GatesIndex(engine));
  // W1 writes 'k' (id 100), durable at LSN 1, not applied yet.
  const w1 = pkBatch(['k']);
  resolver.committed(await resolver.resolve(new RecordBatchReader(w1), newId, () => {}), 1n);
  // W0 (another key) starts a slow lookup while nothing is applied.
  const g0 = opened();
  index.gates.push(g0.p);
  const w0 = pkBatch(['other']);
  const r0 = resolver.resolve(new RecordBatchReader(w0), newId, () => {});
  await new Promise((resolve) => setTimeout(resolve, 20));
  await apply(1n, w1);
  assert.equal(resolver.pendingCount, 1, "'k' is kept while W0's older lookup is in flight");
  // W2 upserts 'k' (pending: not looked up) and 'z' (looked up, from applied LSN 1).
  const g2 = opened();
  index.gates.push(g2.p);
  const w2 = pkBatch(['k', 'z']);
  const r2 = resolver.resolve(new RecordBatchReader(w2), newId, () => {});
  await new Promise((resolve) => setTimeout(resolve, 20));
  // W0 finishes and is applied: the prune's horizon passes LSN 1, 'k''s entry, while W2 still waits.
  g0.open();
  resolver.committed(await r0, 2n);
  await apply(2n, w0);
  g2.open();
  resolver.committed(await r2, 3n);
  assert.equal(ids(w2)[0], ids(w1)[0], "W2's 'k' keeps the id W1 was answered with");
});

