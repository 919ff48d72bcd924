/**
 * A write's ids in request order: the JSON array written as bytes (each id
 * as the one before it plus the difference) against JSON.stringify of
 * `String(id)`, over random runs of ids that share a high word, cross it,
 * gain a digit, go down, repeat, are negative or sit at the int64 edges,
 * with and without records left out of the batch.
 */
import assert from 'node:assert/strict';
import test from 'node:test';
import { ListedIds, StampedIds, idsJsonBytes } from '../../src/ingest/request-ids.ts';
import { SnowflakeGenerator } from '../../src/core/snowflake.ts';
import { systemClock } from '../../src/core/clock.ts';

const INT64_MAX = (1n << 63n) - 1n;

function expected(ids: readonly bigint[], length: number, positions?: Uint32Array): (string | null)[] {
  const out = new Array<string | null>(length).fill(null);
  if (positions === undefined) ids.forEach((id, i) => (out[i] = String(id)));
  else positions.forEach((pos, b) => (out[pos] = String(ids[b])));
  return out;
}

/** A run of ids: mostly small steps in one high word, with jumps of every kind mixed in. */
function randomIds(rnd: () => number, n: number): bigint[] {
  const starts = [0n, 1n, 9n, 999_999_990n, 4_294_967_290n, 99_999_999_999_999_990n, 7_400_000_000_000_000_000n, INT64_MAX - 5n, -5n, (1n << 32n) - 3n, 10n ** 18n - 4n];
  let id = starts[Math.floor(rnd() * starts.length)] as bigint;
  const ids: bigint[] = [];
  for (let i = 0; i < n; i++) {
    ids.push(id);
    const r = rnd();
    if (r < 0.6) id += 1n;
    else if (r < 0.75) id += BigInt(Math.floor(rnd() * 5_000_000));
    else if (r < 0.8) id += 1n << 32n;
    else if (r < 0.85) id -= BigInt(Math.floor(rnd() * 10));
    else if (r < 0.9) id = BigInt(Math.floor(rnd() * 2 ** 52)) * 1024n + BigInt(Math.floor(rnd() * 1024));
    else if (r < 0.95) id = starts[Math.floor(rnd() * starts.length)] as bigint;
    // else: the same id again
    if (id > INT64_MAX || id < -(1n << 63n)) id = 0n;
  }
  return ids;
}

function seeded(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1_664_525) + 1_013_904_223) >>> 0;
    return s / 2 ** 32;
  };
}

test('the JSON array of ids equals JSON.stringify of String(id), for every kind of step between ids', () => {
  const rnd = seeded(7);
  for (let round = 0; round < 2_000; round++) {
    const ids = randomIds(rnd, Math.floor(rnd() * 40));
    const got = new StampedIds(ids, ids.length).jsonBytes().toString();
    assert.equal(got, JSON.stringify(expected(ids, ids.length)), `round ${round}: ${ids.join(' ')}`);
  }
});

test('records left out of the batch are null, in request order, and at / isWritten / toArray agree', () => {
  const rnd = seeded(11);
  for (let round = 0; round < 500; round++) {
    const length = Math.floor(rnd() * 30);
    const kept = Array.from({ length }, (_, i) => i).filter(() => rnd() < 0.7);
    const ids = randomIds(rnd, kept.length);
    const positions = Uint32Array.from(kept);
    const ours = new StampedIds(ids, length, positions);
    const want = expected(ids, length, positions);
    assert.equal(ours.jsonBytes().toString(), JSON.stringify(want), `round ${round}`);
    assert.deepEqual(ours.toArray(), want);
    for (let i = -1; i <= length; i++) {
      assert.equal(ours.at(i), want[i] ?? null, `at(${i})`);
      assert.equal(ours.isWritten(i), (want[i] ?? null) !== null, `isWritten(${i})`);
    }
    assert.equal(ours.length, length);
  }
});

test('a snowflake batch of 10,000 ids (several milliseconds) is written exactly', () => {
  const ids = [...new SnowflakeGenerator({ workerId: 513, clock: systemClock }).nextBatch(10_000)];
  const json = idsJsonBytes(ids, ids.length).toString();
  assert.deepEqual(JSON.parse(json), ids.map(String));
});

test('listed ids (an answer relayed from another node) keep their texts and nulls', () => {
  const listed = new ListedIds(['12', null, '7']);
  assert.equal(listed.jsonBytes().toString(), '["12",null,"7"]');
  assert.deepEqual([listed.length, listed.at(0), listed.at(1), listed.at(3), listed.isWritten(0), listed.isWritten(1)], [3, '12', null, null, true, false]);
  assert.equal(ListedIds.none(2).jsonBytes().toString(), '[null,null]');
  assert.equal(new StampedIds([], 0).jsonBytes().toString(), '[]');
});
