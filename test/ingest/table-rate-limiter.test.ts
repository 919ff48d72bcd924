/**
 * The per-table limiter with a fake clock: records and bytes are taken
 * together or not at all, refusals carry their code and Retry-After, a
 * request past a burst is refused for good, other tables are unaffected,
 * a cluster share divides the rate (not the burst), and a limits change
 * applies to the next request.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { isSluiceError, type SluiceError } from '../../src/core/errors.ts';
import type { TableLimits } from '../../src/core/schema/table-limits.ts';
import type { TableEntry } from '../../src/storage/catalog.ts';
import { TableRateLimiter, type RateRefusal } from '../../src/ingest/table-rate-limiter.ts';

function entry(id: number, limits?: TableLimits): TableEntry {
  return { id, name: `t${id}`, createdAtMs: 0, versions: [], ...(limits === undefined ? {} : { limits }) };
}

function setup(share = 1) {
  let now = 1_000_000;
  const refused: [string, RateRefusal][] = [];
  const nodes = { n: share };
  const limiter = new TableRateLimiter({ share: () => nodes.n, eventTimeAheadMsMax: 3_600_000, clock: () => now, onRefused: (t, r) => refused.push([t, r]) });
  return { limiter, refused, nodes, advance: (ms: number) => (now += ms) };
}

function refusal(fn: () => void): SluiceError {
  try {
    fn();
  } catch (err) {
    if (isSluiceError(err)) return err;
    throw err;
  }
  assert.fail('expected a refusal');
}

test('within the burst: taken; past it: RATE_LIMITED with the time until it fits; after that time: taken', () => {
  const { limiter, refused, advance } = setup();
  const t = entry(1, { recordsPerSecond: 100, recordsBurst: 200 });
  limiter.take(t, 150, 10);
  const e = refusal(() => limiter.take(t, 100, 10));
  assert.equal(e.code, 'RATE_LIMITED');
  assert.equal(e.status, 429);
  assert.equal(e.retryAfterMs, 500, '50 records missing at 100/s');
  assert.match(e.message, /limited to 100 records\/s on this node, burst 200: this request of 100 records fits in 0\.500 s; nothing was written/);
  assert.deepEqual(refused, [['t1', 'records_rate']]);
  advance(499);
  assert.equal(refusal(() => limiter.take(t, 100, 10)).code, 'RATE_LIMITED');
  advance(1);
  limiter.take(t, 100, 10);
});

test('a request past the burst is RATE_LIMIT_BURST_EXCEEDED (413, not retryable), whatever the bucket holds', () => {
  const { limiter, refused } = setup();
  const t = entry(1, { recordsPerSecond: 1000, recordsBurst: 50, bytesPerSecond: 1e6, bytesBurst: 4096 });
  const r = refusal(() => limiter.take(t, 51, 10));
  assert.equal(r.code, 'RATE_LIMIT_BURST_EXCEEDED');
  assert.equal(r.status, 413);
  assert.equal(r.canRetry, false);
  assert.equal(r.retryAfterMs, undefined);
  assert.equal(r.details[0]?.path, '/limits/recordsBurst');
  assert.match(r.message, /51 records, more than table t1's recordsBurst \(50\): it can never fit/);
  const b = refusal(() => limiter.precheckBytes(t, 4097));
  assert.equal(b.code, 'RATE_LIMIT_BURST_EXCEEDED');
  assert.equal(b.details[0]?.path, '/limits/bytesBurst');
  assert.deepEqual(refused, [['t1', 'records_burst'], ['t1', 'bytes_burst']]);
  limiter.take(t, 50, 4096);
});

test('records and bytes are taken together or not at all', () => {
  const { limiter } = setup();
  const t = entry(1, { recordsPerSecond: 10, recordsBurst: 10, bytesPerSecond: 1000, bytesBurst: 1000 });
  limiter.take(t, 1, 900);
  // Records fit, bytes do not: the records must not be taken.
  const e = refusal(() => limiter.take(t, 9, 200));
  assert.equal(e.code, 'RATE_LIMITED');
  assert.equal(e.details[0]?.path, '/limits/bytesPerSecond');
  assert.equal(e.retryAfterMs, 100, '100 bytes missing at 1000/s');
  limiter.take(t, 9, 100);
  // The larger wait is the Retry-After.
  const both = refusal(() => limiter.take(t, 5, 500));
  assert.equal(both.retryAfterMs, 500, 'records: 5 at 10/s = 500 ms; bytes: 500 at 1000/s = 500 ms');
});

test('the bytes pre-check refuses before decoding and takes nothing', () => {
  const { limiter, advance } = setup();
  const t = entry(1, { bytesPerSecond: 1000, bytesBurst: 2000 });
  limiter.precheckBytes(t, 2000);
  limiter.take(t, 1, 1500);
  const e = refusal(() => limiter.precheckBytes(t, 1000));
  assert.equal(e.code, 'RATE_LIMITED');
  assert.equal(e.retryAfterMs, 500);
  advance(500);
  limiter.precheckBytes(t, 1000);
  limiter.take(t, 1, 1000);
});

test('other tables, and tables without limits, are unaffected', () => {
  const { limiter } = setup();
  const limited = entry(1, { recordsPerSecond: 1, recordsBurst: 1 });
  const other = entry(2, { recordsPerSecond: 1, recordsBurst: 1 });
  const free = entry(3);
  limiter.take(limited, 1, 1);
  assert.equal(refusal(() => limiter.take(limited, 1, 1)).code, 'RATE_LIMITED');
  limiter.take(other, 1, 1);
  for (let i = 0; i < 1000; i++) limiter.take(free, 1_000_000, 1e9);
  assert.equal(limiter.reserve(free, 1e9, 1e12), 0);
  assert.equal(limiter.limitsOf(free).eventTimeAheadMsMax, 3_600_000);
});

test('in a cluster each node takes its share of the rate, and the whole burst (Loki global)', () => {
  const { limiter, nodes } = setup(4);
  const t = entry(1, { recordsPerSecond: 400, recordsBurst: 100 });
  limiter.take(t, 100, 1);
  const e = refusal(() => limiter.take(t, 50, 1));
  assert.equal(e.retryAfterMs, 500, '50 records at 400/4 = 100/s');
  assert.match(e.message, /100 records\/s on this node \(the table's recordsPerSecond shared by 4 nodes\)/);
  nodes.n = 2;
  assert.equal(refusal(() => limiter.take(t, 50, 1)).retryAfterMs, 250, 'a node leaving raises every other node\'s share at once');
});

test('a limits change applies to the next request; the tokens held are kept', () => {
  const { limiter } = setup();
  const before = entry(1, { recordsPerSecond: 10, recordsBurst: 100 });
  limiter.take(before, 60, 1);
  const after = { ...before, limits: { recordsPerSecond: 1000, recordsBurst: 30 } };
  assert.equal(refusal(() => limiter.take(after, 31, 1)).code, 'RATE_LIMIT_BURST_EXCEEDED');
  limiter.take(after, 30, 1);
  assert.equal(refusal(() => limiter.take(after, 10, 1)).retryAfterMs, 10, 'the new rate: 10 at 1000/s');
  const lifted = { ...before, limits: { eventTimeAheadMsMax: 5 } };
  limiter.take(lifted, 1e6, 1e9);
  assert.equal(limiter.limitsOf(lifted).eventTimeAheadMsMax, 5);
});

test('reserve: waiting sources take tokens in turn and are told how long to wait; a refusing client waits behind them', () => {
  const { limiter } = setup();
  const t = entry(1, { recordsPerSecond: 100, recordsBurst: 100, bytesPerSecond: 1000, bytesBurst: 1000 });
  assert.equal(limiter.reserve(t, 100, 10), 0);
  assert.equal(limiter.reserve(t, 300, 10), 3000, '300 records of debt at 100/s');
  assert.equal(limiter.reserve(t, 1, 3000), 3010, 'records: 301 of debt at 100/s = 3010 ms, bytes: 2020 of debt at 1000/s = 2020 ms; the larger wait wins');
  assert.equal(refusal(() => limiter.take(t, 1, 1)).code, 'RATE_LIMITED');
});
