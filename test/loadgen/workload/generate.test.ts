import { test } from 'node:test';
import assert from 'node:assert/strict';
import { BENCH_TABLES, benchTableNamed } from '../../../src/loadgen/workload/tables.ts';
import { batchBody, benchRecord, eventTimeMs, isOutOfOrder, nominalTimeMs, shardKeyOf, skewMs } from '../../../src/loadgen/workload/generate.ts';
import { checkWorkloadParams } from '../../../src/loadgen/workload/params.ts';
import { PARAMS } from './params.ts';

test('random access: record j alone equals record j of a sequence, in a record and in a body', () => {
  for (const t of BENCH_TABLES) {
    const sequence = Array.from({ length: 1000 }, (_, j) => benchRecord(PARAMS, t, 5000 + j));
    const lines = batchBody(PARAMS, t, 5000, 1000).split('\n');
    for (const j of [0, 1, 499, 999]) {
      assert.deepEqual(benchRecord(PARAMS, t, 5000 + j), sequence[j], `${t.name} j=${5000 + j}`);
      assert.equal(batchBody(PARAMS, t, 5000 + j, 1), `${lines[j]}\n`);
    }
    // Going backwards regenerates the same records.
    for (let j = 999; j >= 990; j--) assert.deepEqual(benchRecord(PARAMS, t, 5000 + j), sequence[j]);
  }
});

test('different seeds give different records; the same seed the same', () => {
  for (const t of BENCH_TABLES) {
    let differ = 0;
    for (let j = 0; j < 200; j++) {
      const a = JSON.stringify(benchRecord(PARAMS, t, j));
      assert.equal(JSON.stringify(benchRecord({ ...PARAMS }, t, j)), a);
      if (JSON.stringify(benchRecord({ ...PARAMS, seed: 43 }, t, j)) !== a) differ++;
    }
    assert.ok(differ >= 198, `${t.name}: only ${differ} of 200 records differ between seeds`);
  }
});

test('batchBody lines parse to exactly the benchRecord results, every line ending in a newline', () => {
  for (const t of BENCH_TABLES) {
    const first = 123_456;
    const body = batchBody(PARAMS, t, first, 2000);
    assert.ok(body.endsWith('}\n'));
    const lines = body.slice(0, -1).split('\n');
    assert.equal(lines.length, 2000);
    lines.forEach((line, i) => assert.deepEqual(JSON.parse(line), benchRecord(PARAMS, t, first + i), `${t.name} j=${first + i}`));
  }
  assert.equal(batchBody(PARAMS, BENCH_TABLES[0]!, 0, 0), '');
});

test('the run id goes into bodies unescaped, so batchBody refuses one JSON would escape', () => {
  assert.throws(() => batchBody({ ...PARAMS, runId: 'a"b' }, BENCH_TABLES[0]!, 0, 1), /run id must match/);
  assert.throws(() => checkWorkloadParams({ ...PARAMS, skewMinMs: 10, skewMaxMs: -10 }), /skew/);
  assert.throws(() => checkWorkloadParams({ ...PARAMS, outOfOrder: 1.5 }), /out-of-order/);
  assert.throws(() => checkWorkloadParams({ ...PARAMS, keysPerTable: 0 }), /keys per table/);
  checkWorkloadParams(PARAMS);
});

test('out of order: skew within [min, max] for every record, ~5% skewed (6σ of the binomial), others exactly nominal', () => {
  const n = 200_000;
  let skewed = 0;
  let skewSum = 0;
  let atMin = false;
  let atMax = false;
  for (let j = 0; j < n; j++) {
    const skew = eventTimeMs(PARAMS, j) - nominalTimeMs(PARAMS, j);
    assert.equal(skew, skewMs(PARAMS, j));
    if (isOutOfOrder(PARAMS, j)) {
      skewed++;
      skewSum += skew;
      assert.ok(Number.isInteger(skew) && skew >= PARAMS.skewMinMs && skew <= PARAMS.skewMaxMs, `j=${j}: skew ${skew}`);
      atMin ||= skew < PARAMS.skewMinMs + 100;
      atMax ||= skew > PARAMS.skewMaxMs - 100;
    } else {
      assert.equal(skew, 0, `j=${j} is in order but skewed by ${skew}`);
    }
  }
  const p = PARAMS.outOfOrder;
  assert.ok(Math.abs(skewed - n * p) < 6 * Math.sqrt(n * p * (1 - p)), `${skewed} of ${n} skewed`);
  // Uniform on [−30 s, +5 s]: mean −12.5 s, σ of the mean = 35 s / √(12·count).
  const mean = skewSum / skewed;
  assert.ok(Math.abs(mean - (PARAMS.skewMinMs + PARAMS.skewMaxMs) / 2) < (6 * (PARAMS.skewMaxMs - PARAMS.skewMinMs)) / Math.sqrt(12 * skewed), `mean skew ${mean}`);
  assert.ok(atMin && atMax, 'skews reach both ends of the range');
});

test('nominal time follows the schedule; outOfOrder 0 and 1 skew none and all', () => {
  assert.equal(nominalTimeMs(PARAMS, 0), PARAMS.t0Ms);
  assert.equal(nominalTimeMs({ ...PARAMS, recordsPerSecond: 1000 }, 12_345), PARAMS.t0Ms + 12_345);
  assert.equal(nominalTimeMs({ ...PARAMS, recordsPerSecond: 3 }, 1), PARAMS.t0Ms + 333);
  for (let j = 0; j < 1000; j++) {
    assert.equal(isOutOfOrder({ ...PARAMS, outOfOrder: 0 }, j), false);
    assert.equal(isOutOfOrder({ ...PARAMS, outOfOrder: 1 }, j), true);
  }
  // In-order records of one key carry non-decreasing times: the property verify checks per key.
  const t = benchTableNamed('iot.reading')!;
  const lastByKey = new Map<string, number>();
  for (let j = 0; j < 20_000; j++) {
    if (isOutOfOrder(PARAMS, j)) continue;
    const key = shardKeyOf(PARAMS, t, j);
    const ts = eventTimeMs(PARAMS, j);
    assert.ok(ts >= (lastByKey.get(key) ?? 0));
    lastByKey.set(key, ts);
  }
});

test('shard keys: one of keysPerTable per table, with its prefix, spread over most of them', () => {
  const params = { ...PARAMS, keysPerTable: 500 };
  for (const t of BENCH_TABLES) {
    const keys = new Set<string>();
    for (let j = 0; j < 20_000; j++) {
      const key = shardKeyOf(params, t, j);
      assert.match(key, new RegExp(`^${t.keyPrefix}[0-9]{6}$`));
      assert.ok(Number(key.slice(t.keyPrefix.length)) < 500);
      assert.equal(benchRecord(params, t, j)[t.shardKey], key);
      keys.add(key);
    }
    assert.equal(keys.size, 500, `${t.name}: 20,000 draws should reach all 500 keys`);
  }
});
