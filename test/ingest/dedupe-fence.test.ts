import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DedupeFence } from '../../src/ingest/dedupe-fence.ts';

/** A store holding `stored` keys: answers the greatest in [low, high] (same-length keys compare as strings). */
function storeOf(stored: string[], calls: string[] = []) {
  return async (_table: string, low: string, high: string): Promise<string | undefined> => {
    calls.push(low);
    return stored.filter((k) => k.length === low.length && k >= low && k <= high).sort().at(-1);
  };
}
const rows = (prefix: string, first: number) => ({ prefix, first, digits: 4 });

test('a request above the highest stored key is fresh; one reaching into it is not', async () => {
  const calls: string[] = [];
  const fence = new DedupeFence(storeOf(['f:0000', 'f:0099', 'g:0500'], calls));
  const above = await fence.claim('t', rows('f:', 100), 50);
  assert.equal(above.fresh, true);
  above.release();
  const overlap = await fence.claim('t', rows('g:', 400), 200);
  assert.equal(overlap.fresh, false, 'rows 400..599 include stored row 500');
  overlap.release();
  // The first claim raised f's fence to 149: a re-send of rows 120.. is not fresh, rows 150.. are.
  assert.equal((await fence.claim('t', rows('f:', 120), 10)).fresh, false);
  assert.equal((await fence.claim('t', rows('f:', 150), 10)).fresh, true);
  assert.deepEqual(calls, ['f:0000', 'g:0000'], 'one seek per prefix');
});

test('claims waiting on one seek are decided one at a time: two overlapping requests are never both fresh', async () => {
  let open!: () => void;
  const gate = new Promise<void>((resolve) => (open = resolve));
  const fence = new DedupeFence(async () => {
    await gate;
    return undefined;
  });
  const a = fence.claim('t', rows('k:', 0), 100);
  const b = fence.claim('t', rows('k:', 50), 100);
  open();
  const first = await a;
  // b overlaps a, which is fresh: b is handed out once a settled (appended), never before.
  first.release();
  assert.deepEqual([first.fresh, (await b).fresh], [true, false]);
});

test('a claim overlapping a fresh one in flight waits until it settles; one beside it does not', async () => {
  const fence = new DedupeFence(storeOf([]));
  const fresh = await fence.claim('t', rows('k:', 100), 100);
  assert.equal(fresh.fresh, true);
  const beside = await fence.claim('t', rows('k:', 200), 10);
  assert.equal(beside.fresh, true, 'rows 200.. share no number with rows 100..199');
  const other = await fence.claim('t', rows('j:', 100), 10);
  assert.equal(other.fresh, true, 'another prefix is not held up');
  let handed = false;
  const overlapping = fence.claim('t', rows('k:', 150), 100).then((c) => {
    handed = true;
    return c;
  });
  // Still waiting after the claims' own steps (the seek and the decision) have run.
  for (let i = 0; i < 20; i++) await new Promise((resolve) => setImmediate(resolve));
  assert.equal(handed, false, 'handed out while the fresh claim it overlaps was in flight');
  beside.release();
  for (let i = 0; i < 5; i++) await new Promise((resolve) => setImmediate(resolve));
  assert.equal(handed, false, 'rows 150..249 still overlap rows 100..199');
  fresh.release();
  const c = await overlapping;
  assert.equal(c.fresh, false);
  c.release();
  other.release();
  // Once settled, a re-send is resolved at once.
  const again = await fence.claim('t', rows('k:', 100), 10);
  assert.equal(again.fresh, false);
});

test('Kafka-style keys: per-partition prefixes; a batch is fresh only if every partition is past its fence', async () => {
  const fence = new DedupeFence(storeOf(['kafka:t:0:0000', 'kafka:t:1:0007']));
  const batch = (numbers: number[], parts: number[]) => ({ prefixes: ['kafka:t:0:', 'kafka:t:1:'], prefixIndex: Uint16Array.from(parts), numbers: Float64Array.from(numbers), digits: 4 });
  const first = await fence.claim('t', batch([1, 2, 8, 9], [0, 0, 1, 1]), 4);
  assert.equal(first.fresh, true);
  first.release();
  assert.equal((await fence.claim('t', batch([3, 9], [0, 1]), 2)).fresh, false, 'offset 9 of partition 1 was just claimed');
});

test('never fresh: keys without padding, a store that cannot tell (a cluster), a failed seek (learnt again later)', async () => {
  const fence = new DedupeFence(storeOf([]));
  assert.equal((await fence.claim('t', { prefix: 'p:', first: 0 }, 10)).fresh, false);
  const cluster = new DedupeFence(undefined);
  assert.equal((await cluster.claim('t', rows('p:', 0), 10)).fresh, false);
  let fail = true;
  const flaky = new DedupeFence(async () => {
    if (fail) throw new Error('index closed');
    return undefined;
  });
  const first = await flaky.claim('t', rows('p:', 0), 10);
  assert.equal(first.fresh, false);
  first.release();
  assert.equal(flaky.size, 0, 'a failed entry is forgotten once idle');
  fail = false;
  assert.equal((await flaky.claim('t', rows('p:', 0), 10)).fresh, true);
});

test('the least recently used prefixes are forgotten past the bound, never one with a write in flight', async () => {
  const fence = new DedupeFence(storeOf([]), 2);
  const held = await fence.claim('t', rows('a:', 0), 1);
  for (const p of ['b:', 'c:', 'd:']) (await fence.claim('t', rows(p, 0), 1)).release();
  assert.equal(fence.size, 2);
  // 'a:' is still in flight, so it was kept: a re-send of its row is not fresh (handed out once 'a:' settled).
  const resend = fence.claim('t', rows('a:', 0), 1);
  held.release();
  assert.equal((await resend).fresh, false);
});

test('requests decoded out of order stay fresh when their ranges do not overlap; a re-send of either is not', async () => {
  const fence = new DedupeFence(storeOf([]));
  // Each claim is released once decided (written), as the pipeline does.
  const settled = async (prefix: string, first: number, n: number): Promise<boolean> => {
    const c = await fence.claim('t', { prefix, first, digits: 6 }, n);
    c.release();
    return c.fresh;
  };
  assert.equal(await settled('f:', 5000, 5000), true);
  assert.equal(await settled('f:', 0, 5000), true, 'rows 0..4999 arrive after rows 5000..9999');
  assert.equal(await settled('f:', 4990, 20), false);
  assert.equal(await settled('f:', 20_000, 10), true);
  assert.equal(await settled('f:', 10_000, 10_001), false, 'reaches row 20,000');
});

test('ranges past the bound merge (fewer fresh requests, never more)', async () => {
  const fence = new DedupeFence(storeOf([]));
  // 100 disjoint ranges two apart: merging must cover the gaps between some of them.
  for (let k = 0; k < 100; k++) assert.equal((await fence.claim('t', rows('g:', k * 3), 2)).fresh, true);
  let freshGaps = 0;
  for (let k = 0; k < 99; k++) if ((await fence.claim('t', rows('h:', k * 3 + 2), 1)).fresh) freshGaps++;
  assert.equal(freshGaps, 99, 'another prefix is unaffected');
  let gapsStillFresh = 0;
  for (let k = 0; k < 99; k++) {
    const c = await fence.claim('t', rows('g:', k * 3 + 2), 1);
    if (c.fresh) gapsStillFresh++;
  }
  assert.ok(gapsStillFresh < 99, 'some gaps were merged away');
  assert.ok(gapsStillFresh > 0, 'the bound merges only what it must');
});

test('a Kafka batch holding an offset twice, or out of order, is not fresh; its offsets are still fenced', async () => {
  const fence = new DedupeFence(storeOf([]));
  const batch = (numbers: number[]) => ({ prefixes: ['kafka:t:0:'], prefixIndex: new Uint16Array(numbers.length), numbers: Float64Array.from(numbers), digits: 20 });
  // A partition fetched again after a rebalance, into the batch being packed: the index would store offset 7 twice if fresh.
  const repeated = await fence.claim('t', batch([7, 8, 7]), 3);
  assert.equal(repeated.fresh, false);
  repeated.release();
  const backwards = await fence.claim('t', batch([12, 10, 11]), 3);
  assert.equal(backwards.fresh, false);
  backwards.release();
  assert.equal((await fence.claim('t', batch([8, 9]), 2)).fresh, false, 'offset 8 was admitted by the resolved batch');
  assert.equal((await fence.claim('t', batch([13, 14]), 2)).fresh, true);
});

test('numbers wider than dedupe_digits, or unpadded, are never fresh, and are fenced as the keys they are', async () => {
  // After a restart the fence learns from the store: `a:100`.. were written with dedupe_digits=2 (3 digits wide).
  const calls: string[] = [];
  const restarted = new DedupeFence(storeOf(['a:100', 'a:149'], calls));
  assert.equal((await restarted.claim('t', { prefix: 'a:', first: 100, digits: 2 }, 50)).fresh, false);
  assert.deepEqual(calls, ['a:000'], 'learnt among the keys 3 digits wide, as written');
  const fence = new DedupeFence(storeOf([]));
  const wide = await fence.claim('t', { prefix: 'a:', first: 95, digits: 2 }, 10);
  assert.equal(wide.fresh, false, 'a:95..a:99 and a:100..a:104');
  wide.release();
  assert.equal((await fence.claim('t', { prefix: 'a:', first: 102, digits: 3 }, 5)).fresh, false, 'a:102 was admitted above');
  const unpadded = await fence.claim('t', { prefix: 'b:', first: 10 }, 50);
  assert.equal(unpadded.fresh, false);
  unpadded.release();
  assert.equal((await fence.claim('t', { prefix: 'b:', first: 50, digits: 2 }, 10)).fresh, false, 'b:50..b:59 were admitted unpadded');
  assert.equal((await fence.claim('t', { prefix: 'b:', first: 60, digits: 2 }, 10)).fresh, true);
});

test('one key from two splits is one key: a prefix ending in digits is fenced with the number it leads', async () => {
  const fence = new DedupeFence(storeOf([]));
  // `x1` + `40` is the key `x140`, as `x` + `140` is.
  const led = await fence.claim('t', { prefix: 'x1', first: 40, digits: 2 }, 10);
  assert.equal(led.fresh, false, 'a prefix ending in a digit is not split where the index splits fresh keys');
  led.release();
  assert.equal((await fence.claim('t', { prefix: 'x', first: 140, digits: 3 }, 5)).fresh, false, 'x140..x144 were admitted as x1 + 40..');
  assert.equal((await fence.claim('t', { prefix: 'x', first: 150, digits: 3 }, 5)).fresh, true);
  // A stored key of the same length that is not a number of this prefix (`p:1:05` among `p:` + 4 digits): nothing is fenced.
  const mixed = new DedupeFence(storeOf(['p:1:05']));
  assert.equal((await mixed.claim('t', { prefix: 'p:', first: 5000, digits: 4 }, 5)).fresh, false);
});
