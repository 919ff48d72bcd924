/** The retries' heap: what is due comes out earliest first, the rest stays, whatever the order of arrival. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DueHeap } from '../../src/loadgen/due-heap.ts';

test('takeDue returns every item due by then, earliest first, and keeps the others', () => {
  const heap = new DueHeap<{ notBeforeUs: number; id: number }>();
  const times = Array.from({ length: 500 }, (_, i) => ((i * 7919) % 1000) + (i % 3));
  times.forEach((t, id) => heap.push({ notBeforeUs: t, id }));
  const first = heap.takeDue(400);
  assert.deepEqual(first.map((x) => x.notBeforeUs), times.filter((t) => t <= 400).sort((a, b) => a - b));
  assert.equal(heap.size, times.filter((t) => t > 400).length);
  assert.deepEqual(heap.takeDue(399), [], 'nothing more is due earlier');
  const rest = heap.takeDue(Infinity);
  assert.deepEqual(rest.map((x) => x.notBeforeUs), times.filter((t) => t > 400).sort((a, b) => a - b));
  assert.equal(heap.size, 0);
});
