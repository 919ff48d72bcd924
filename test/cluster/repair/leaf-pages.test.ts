/**
 * Anti-entropy's page-by-page comparison of LeafEntries (leaf-pages.ts)
 * over two real replicas (a store each in a temp dir): whatever the page
 * bounds of either side, it finds exactly the keys a whole-list comparison
 * finds, each once; and it refuses a reply that would pair keys wrongly or
 * never end.
 */
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pino } from 'pino';
import { resolveConfig } from '../../../src/config.ts';
import { openDataDir } from '../../../src/storage/data-dir.ts';
import { replicaHandlers } from '../../../src/cluster/replica/replica-endpoint.ts';
import { LeafCursor, newerEntries, type NewerEntry } from '../../../src/cluster/repair/leaf-pages.ts';
import { MERKLE_LEAVES } from '../../../src/cluster/repair/merkle.ts';
import { Hlc } from '../../../src/core/hlc.ts';
import { systemClock } from '../../../src/core/clock.ts';
import { RecordBatchBuilder, RecordBatchReader } from '../../../src/core/codec/record-batch-v1.ts';
import { encodeFields } from '../../../src/core/codec/fields-codec.ts';
import { EVENTS_TABLE } from '../../../src/core/schema/parse-table-def.ts';
import { isSluiceError } from '../../../src/core/errors.ts';
import type { ReplicaHandlers } from '../../../src/cluster/transport/replica-transport.ts';
import type { LeafEntry } from '../../../src/cluster/transport/replica-messages.ts';

/** Records `t<i>` of shard 0 for each i of `which`, id 1000 + i, version 1000 + i + `versionPlus`. */
function batch(tableId: number, which: readonly number[], versionPlus: bigint): Buffer {
  const b = new RecordBatchBuilder(tableId, 1, Date.now());
  for (const i of which) b.add(0, `t${i}`, undefined, 1_000 + i, encodeFields([`t${i}`]));
  const buf = Buffer.from(b.finish());
  const r = new RecordBatchReader(buf);
  for (let at = 0; r.next(); at++) {
    const i = BigInt(which[at] as number);
    r.id = 1_000n + i;
    r.version = 1_000n + i + versionPlus;
  }
  return buf;
}

/** A replica on a store of its own: its handlers, and handlers over the same store with LeafEntries pages of `bytesMax`. */
async function replica(t: TestContext): Promise<{ handlers: ReplicaHandlers; tableId: number; paged: (bytesMax: number) => ReplicaHandlers }> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'sluice-'));
  const { store, catalog } = await openDataDir(resolveConfig({ dataDir: dir, shards: 4 }), [EVENTS_TABLE], {}, pino({ level: 'silent' }));
  t.after(async () => {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  });
  const deps = { store, catalog, hlc: new Hlc(systemClock), reloadTables: async () => undefined, readBarrierMsMax: 5_000, unindexedBytesMax: 64 * 1024 * 1024, epoch: () => 1 };
  return { handlers: replicaHandlers(deps), tableId: catalog.require('events').id, paged: (b) => replicaHandlers({ ...deps, leafEntriesReplyBytesMax: b }) };
}

const leaves = Array.from({ length: MERKLE_LEAVES }, (_, i) => i);

function cursor(node: string, handlers: ReplicaHandlers, tableId: number): LeafCursor {
  return new LeafCursor(node, (after) => handlers.LeafEntries({ shard: 0, tableId, leaves, paged: true, ...(after === undefined ? {} : { after }) }));
}

async function collect(entries: AsyncIterable<NewerEntry>): Promise<string[]> {
  const out: string[] = [];
  for await (const { newer, key } of entries) out.push(`${newer}:${key.toString('hex')}`);
  return out;
}

/** What a comparison of the two whole lists finds (the comparison before paging), in key order. */
async function wholeListDiff(mine: ReplicaHandlers, theirs: ReplicaHandlers, tableId: number): Promise<string[]> {
  const [a, b] = await Promise.all([mine.LeafEntries({ shard: 0, tableId, leaves }), theirs.LeafEntries({ shard: 0, tableId, leaves })]);
  const versions = (entries: LeafEntry[]) => new Map(entries.map(([k, v]) => [k.toString('hex'), BigInt(v)]));
  const [va, vb] = [versions(a.entries), versions(b.entries)];
  const out: string[] = [];
  for (const key of [...new Set([...va.keys(), ...vb.keys()])].sort()) {
    const [x, y] = [va.get(key) ?? -1n, vb.get(key) ?? -1n];
    if (x !== y) out.push(`${x > y ? 'mine' : 'theirs'}:${key}`);
  }
  return out;
}

test('paged through with any page bounds on either side, the comparison finds what a whole-list comparison finds, each key once', async (t) => {
  const mine = await replica(t);
  const theirs = await replica(t);
  const { tableId } = mine;
  // Mine: 0..59. Theirs: every third of them, 60..79 that mine lacks, and 10..19 newer.
  const range = (from: number, to: number) => Array.from({ length: to - from }, (_, i) => from + i);
  await mine.handlers.Write({ batch: batch(tableId, range(0, 60), 0n) });
  await theirs.handlers.Write({ batch: batch(tableId, [...range(0, 60).filter((i) => i % 3 === 0 && (i < 10 || i >= 20)), ...range(60, 80)], 0n) });
  await theirs.handlers.Write({ batch: batch(tableId, range(10, 20), 500n) });
  const expected = await wholeListDiff(mine.handlers, theirs.handlers, tableId);
  assert.equal(expected.length, 33 + 10 + 20, 'mine alone holds 33 keys, theirs 10 newer and 20 alone');

  // One entry a page, a few, pages of about a third, a page for everything; the sides page differently.
  for (const [a, b] of [[1, 1], [1, 100_000], [100_000, 1], [150, 220], [700, 330], [100_000, 100_000]] as const) {
    const found = await collect(newerEntries(cursor('mine', mine.paged(a), tableId), cursor('theirs', theirs.paged(b), tableId)));
    assert.deepEqual(found, expected, `pages of ${a} and ${b} bytes`);
  }
});

test('a reply whose keys go backwards or whose next does not move on is refused (REPLICA_PROTOCOL), not compared', async () => {
  const k = (n: number) => Buffer.from([n]);
  const pages = (...replies: { entries: [Buffer, string][]; next?: Buffer }[]) => {
    let at = 0;
    return async () => replies[at++] ?? { entries: [] };
  };
  const empty = new LeafCursor('mine', async () => ({ entries: [] }));
  const backwards = new LeafCursor('n2', pages({ entries: [[k(1), '1'], [k(3), '1']], next: k(3) }, { entries: [[k(2), '1']] }));
  await assert.rejects(collect(newerEntries(empty, backwards)), (err: unknown) => isSluiceError(err, 'REPLICA_PROTOCOL') && /replica n2: .*not in ascending order/.test(err.message));
  const stuck = new LeafCursor('n2', pages({ entries: [[k(1), '1']], next: k(1) }, { entries: [], next: k(1) }));
  await assert.rejects(collect(newerEntries(new LeafCursor('mine', async () => ({ entries: [] })), stuck)), (err: unknown) => isSluiceError(err, 'REPLICA_PROTOCOL') && /does not move on/.test(err.message));
  // A replica of an earlier release: every entry in one reply, no next.
  const old = new LeafCursor('n3', pages({ entries: [[k(1), '1'], [k(2), '5']] }));
  const newer = new LeafCursor('mine', pages({ entries: [[k(2), '7']], next: k(2) }, { entries: [[k(4), '1']] }));
  assert.deepEqual(await collect(newerEntries(newer, old)), ['theirs:01', 'mine:02', 'mine:04']);
});

test('summary 2 entries: one key and version with different digests is a tie, with equal ones nothing; a newer side passes its third element on (decision 56)', async () => {
  const k = (s: string): Buffer => Buffer.from(s);
  const page = (entries: LeafEntry[]) => new LeafCursor('x', async () => ({ entries }));
  const mine: LeafEntry[] = [[k('a'), '5', k('d1')], [k('b'), '5', k('d2')], [k('c'), '6', k('rk-c')]];
  const theirs: LeafEntry[] = [[k('a'), '5', k('d9')], [k('b'), '5', k('d2')], [k('c'), '5', k('rk-old')]];
  const found: NewerEntry[] = [];
  for await (const e of newerEntries(page(mine), page(theirs))) found.push(e);
  assert.deepEqual(found, [{ newer: 'tie', key: k('a') }, { newer: 'mine', key: k('c'), extra: k('rk-c') }]);
});
