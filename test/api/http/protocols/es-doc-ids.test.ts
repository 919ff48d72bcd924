import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DOC_ID_CHARS, DocIdGenerator } from '../../../../src/api/http/protocols/elasticsearch/doc-ids.ts';

const seeded = (bytes: number[]) => () => Buffer.from(bytes);
const SEED = [1, 2, 3, 4, 5, 6, 0, 0, 0];

test('made-up ids are 20 URL-safe characters that sort as text in the order they were made', () => {
  let now = 1_780_000_000_000;
  const gen = new DocIdGenerator(() => now);
  const ids: string[] = [];
  for (let i = 0; i < 5_000; i++) {
    if (i % 7 === 0) now += 1;
    ids.push(gen.next());
  }
  assert.ok(ids.every((id) => id.length === DOC_ID_CHARS && /^[A-Za-z0-9_-]+$/.test(id)));
  assert.equal(new Set(ids).size, ids.length);
  assert.deepEqual([...ids].sort(), ids, 'text order is creation order');
  // The first 8 characters are the milliseconds: one millisecond's ids share them.
  assert.equal(new Set(ids.slice(0, 7).map((id) => id.slice(0, 8))).size, 1);
});

test('a clock that steps back, and a sequence that wraps within one millisecond, keep the order', () => {
  const times = [5_000, 5_000, 4_000, 3_999, 5_000];
  let k = 0;
  // The sequence starts at 0xfffffe: the second id wraps it to 0.
  const gen = new DocIdGenerator(() => times[Math.min(k++, times.length - 1)] as number, seeded([9, 9, 9, 9, 9, 9, 0xff, 0xff, 0xfe]));
  const ids = times.map(() => gen.next());
  assert.equal(new Set(ids).size, ids.length);
  assert.deepEqual([...ids].sort(), ids);
  assert.ok((ids[1] as string).slice(0, 8) > (ids[0] as string).slice(0, 8), 'the wrap moved the time part on by one');
});

test('two generators in the same millisecond differ by their tags', () => {
  const a = new DocIdGenerator(() => 1_000, seeded(SEED));
  const b = new DocIdGenerator(() => 1_000, seeded([1, 2, 3, 4, 5, 7, 0, 0, 0]));
  const x = a.next();
  const y = b.next();
  assert.equal(x.slice(0, 12), y.slice(0, 12), 'same time and sequence');
  assert.notEqual(x, y);
  assert.equal(x.slice(12), new DocIdGenerator(() => 9, seeded(SEED)).next().slice(12), 'the tag is the last 8 characters, fixed per generator');
});

test('nextMany makes the ids next would, back to back', () => {
  let now = 7_000;
  const a = new DocIdGenerator(() => now++, seeded(SEED));
  const one = Array.from({ length: 50 }, () => a.next()).join('');
  now = 7_000;
  const c = new DocIdGenerator(() => now++, seeded(SEED));
  assert.equal(c.nextMany(50), one);
  assert.equal(c.nextMany(3).length, 3 * DOC_ID_CHARS);
});
