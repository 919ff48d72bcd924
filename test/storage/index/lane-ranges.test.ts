/**
 * LaneRanges against a model that remembers every claimed block: a claim
 * that overlaps any block ever claimed in its lane is refused, whatever the
 * order the blocks come in and however many were evicted to the floor.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { LaneRanges } from '../../../src/storage/index/lane-ranges.ts';
import { prng } from '../../support/prng.ts';

test('no claim ever overlaps a block claimed before in its lane (random orders, eviction to the floor)', async () => {
  const random = prng(20261205);
  for (const recentMax of [1, 4, 64]) {
    const ranges = new LaneRanges(async () => 100n, recentMax);
    const claimed = new Map<number, [bigint, bigint][]>();
    let accepted = 0;
    for (let i = 0; i < 5_000; i++) {
      const lane = Math.floor(random() * 3);
      // Mostly rising blocks (a coordinator's frames), some out of order (atomic commits), some overlapping.
      const base = 100 + i * 10 + (random() < 0.2 ? -Math.floor(random() * 400) : 0);
      const first = BigInt(Math.max(1, base));
      const last = first + BigInt(Math.floor(random() * 12));
      const ok = await ranges.claim(lane, first, last);
      const mine = claimed.get(lane) ?? [];
      const overlaps = mine.some(([f, l]) => !(last < f || first > l)) || first <= 100n;
      if (overlaps) assert.equal(ok, false, `lane ${lane} [${first}, ${last}] overlaps a claimed block`);
      if (ok) {
        mine.push([first, last]);
        claimed.set(lane, mine);
        accepted++;
      }
    }
    assert.ok(accepted > 3_000, `most blocks are claimed (${accepted}, recentMax ${recentMax})`);
  }
});

test('a block above every other is claimed at once; one in a gap between recent blocks too', async () => {
  const ranges = new LaneRanges(async () => 0n, 8);
  assert.ok(await ranges.claim(1, 10n, 19n));
  assert.ok(await ranges.claim(1, 40n, 49n));
  assert.ok(await ranges.claim(1, 20n, 39n), 'the gap');
  assert.equal(await ranges.claim(1, 35n, 41n), false);
  assert.equal(await ranges.claim(1, 0n, 5n), false, 'at or below the floor');
  assert.ok(await ranges.claim(2, 10n, 19n), 'another lane');
});
