import { test } from 'node:test';
import assert from 'node:assert/strict';
import { dedupeKeyAt, type DedupeKeys } from '../../src/ingest/dedupe-keys.ts';
import { dedupeSpans, type DedupeSpan } from '../../src/ingest/dedupe-spans.ts';

/** A key's canonical split, from its text: the prefix before its trailing digits, their count and value. */
function canonicalOf(key: string): { id: string; value: number } {
  const m = /^(.*?)([0-9]+)$/s.exec(key);
  assert.ok(m !== null, `key ${key} ends in digits`);
  const [, base, run] = m as unknown as [string, string, string];
  return { id: `${run.length}\u0000${base}`, value: Number(run) };
}

/** Every key of the request lies in the span of its canonical entry, and every span is covered by some key. */
function assertCovers(dedupe: DedupeKeys, total: number): void {
  const got = dedupeSpans(dedupe, total);
  assert.ok(got !== undefined);
  const seen = new Map<string, { min: number; max: number }>();
  for (let i = 0; i < total; i++) {
    const { id, value } = canonicalOf(dedupeKeyAt(dedupe, i));
    const span: DedupeSpan | undefined = got.spans.get(id);
    assert.ok(span !== undefined, `no span for ${dedupeKeyAt(dedupe, i)}`);
    assert.ok(span.min <= value && value <= span.max, `${dedupeKeyAt(dedupe, i)} outside [${span.min}, ${span.max}]`);
    const s = seen.get(id) ?? { min: value, max: value };
    seen.set(id, { min: Math.min(s.min, value), max: Math.max(s.max, value) });
  }
  // Runs are contiguous, so their spans are exact; numbered keys' spans are their min and max.
  assert.deepEqual(new Map([...got.spans].map(([id, s]) => [id, { min: s.min, max: s.max }])), seen);
}

test('a request\'s spans are its keys\' canonical numbers, whatever the split they were written with', () => {
  assertCovers({ prefix: 'f:', first: 0, digits: 4 }, 50);
  assertCovers({ prefix: 'a:', first: 95, digits: 2 }, 10); // 2 then 3 digits wide
  assertCovers({ prefix: 'b:', first: 7 }, 200); // unpadded: 1, 2 and 3 wide
  assertCovers({ prefix: 'x1', first: 40, digits: 2 }, 70); // x140..x209
  assertCovers({ prefix: 'x0', first: 5, digits: 2 }, 3); // x005..x007: the leading zero is the number's
  assertCovers({ prefix: '', first: 98, digits: 3 }, 4); // keys of digits alone
  assertCovers({ prefixes: ['kafka:t:0:', 'kafka:t:1:', 'p7'], prefixIndex: Uint16Array.from([0, 1, 0, 2, 2]), numbers: Float64Array.from([5, 9, 6, 3, 100]), digits: 2 }, 5);
});

test('fresh only for canonical keys in order: no trailing digit in the prefix, digits ≥ 1, every number below 10^digits, increasing per prefix', () => {
  const fresh = (dedupe: DedupeKeys, total: number): boolean | undefined => dedupeSpans(dedupe, total)?.freshable;
  assert.equal(fresh({ prefix: 'file:ab:', first: 0, digits: 16 }, 1000), true);
  assert.equal(fresh({ prefix: 'a:', first: 95, digits: 2 }, 5), true, '95..99');
  assert.equal(fresh({ prefix: 'a:', first: 95, digits: 2 }, 6), false, 'reaches 100');
  assert.equal(fresh({ prefix: 'b:', first: 0 }, 5), false, 'unpadded');
  assert.equal(fresh({ prefix: 'b:', first: 0, digits: 0 }, 5), false);
  assert.equal(fresh({ prefix: 'x1', first: 0, digits: 3 }, 5), false, 'the prefix ends in a digit');
  const kafka = (numbers: number[], parts: number[]): boolean | undefined =>
    fresh({ prefixes: ['kafka:t:0:', 'kafka:t:1:'], prefixIndex: Uint16Array.from(parts), numbers: Float64Array.from(numbers), digits: 20 }, numbers.length);
  assert.equal(kafka([1, 2, 1, 3], [0, 0, 1, 1]), true, 'increasing per partition');
  assert.equal(kafka([1, 2, 2], [0, 0, 0]), false, 'an offset twice');
  assert.equal(kafka([2, 1], [0, 0]), false, 'out of order');
  assert.equal(fresh({ prefix: 'p:', first: Number.MAX_SAFE_INTEGER, digits: 16 }, 2), undefined, 'past 2^53: not fenced at all');
});
