/**
 * Ingest rates from in-memory samples of the counters: the reference
 * sample, the bound on samples kept, per-table rates and the fsync p99.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SampleWindow, fsyncP99Ms, tableRates, type CounterSample } from '../../../../src/api/http/status/sample-window.ts';
import { explicitQuality, prefersHtml, prefersJson } from '../../../../src/api/http/status/accept.ts';

function sample(atMs: number, written: Record<string, number> = {}, fsync: number[] = [0, 0, 0]): CounterSample {
  return { atMs, written: new Map(Object.entries(written)), rejected: new Map(), fsyncBuckets: [0.001, 0.01, Infinity].map((le, i) => ({ le, count: fsync[i] ?? 0 })) };
}

test('the first reading has no reference; later ones compare with a sample about a window old', () => {
  const w = new SampleWindow(10_000, 1_000);
  assert.equal(w.observe(sample(0)), undefined, 'nothing to compare with yet');
  assert.equal(w.observe(sample(500)), undefined, 'a sample younger than the spacing is no reference');
  assert.equal(w.observe(sample(2_000))?.atMs, 0);
  for (let t = 3_000; t <= 20_000; t += 1_000) w.observe(sample(t));
  assert.equal(w.observe(sample(21_000))?.atMs, 11_000, 'the newest sample at least a window old');
  assert.ok(w.size <= 12, `bounded by window / spacing: ${w.size}`);
});

test('readings more often than the spacing reuse the samples instead of adding any', () => {
  const w = new SampleWindow(10_000, 1_000);
  for (let t = 0; t < 5_000; t += 10) w.observe(sample(t));
  assert.equal(w.size, 5);
});

test('rates per table are deltas over the seconds between the samples; a new table counts from zero', () => {
  const rates = tableRates(sample(12_000, { a: 1_500, b: 40 }), sample(2_000, { a: 500 }));
  assert.deepEqual(rates.map((r) => [r.table, r.writtenPerSec, r.written]), [['a', 100, 1_500], ['b', 4, 40]]);
  assert.deepEqual(tableRates(sample(1, { a: 5 }), undefined).map((r) => r.writtenPerSec), [0], 'no reference: no rate');
});

test('fsync p99 is the bucket holding the 99th percentile: over the window when it had fsyncs, else since start', () => {
  assert.equal(fsyncP99Ms(sample(0), undefined), undefined, 'never an fsync');
  assert.deepEqual(fsyncP99Ms(sample(0, {}, [100, 100, 100]), undefined), { ms: 1, scope: 'since-start' });
  // 200 fast ones long ago; in the window 10 slow ones out of 10.
  const ref = sample(0, {}, [200, 200, 200]);
  assert.deepEqual(fsyncP99Ms(sample(10_000, {}, [200, 210, 210]), ref), { ms: 10, scope: 'window' });
  assert.deepEqual(fsyncP99Ms(sample(10_000, {}, [200, 200, 200]), ref), { ms: 1, scope: 'since-start' }, 'an idle window falls back');
  assert.equal(fsyncP99Ms(sample(0, {}, [0, 0, 5]), undefined)?.ms, Infinity, 'slower than the largest bucket');
});

test('Accept: browsers prefer HTML, programs that ask get JSON, a bare wildcard prefers neither', () => {
  const chrome = 'text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,*/*;q=0.8';
  assert.equal(prefersHtml(chrome), true);
  assert.equal(prefersJson(chrome), false);
  assert.equal(prefersJson('application/json'), true);
  assert.equal(prefersHtml('application/json, text/html;q=0.5'), false);
  assert.equal(prefersJson('application/json, text/html;q=0.5'), true);
  assert.equal(prefersHtml('*/*'), false);
  assert.equal(prefersJson('*/*'), false);
  assert.equal(prefersHtml(undefined), false);
  assert.equal(prefersHtml('text/html;q=0'), false, 'q=0 means not acceptable');
  assert.equal(explicitQuality('text/*;q=0.3', 'text/html'), 0.3);
});
