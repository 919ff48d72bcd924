import { test } from 'node:test';
import assert from 'node:assert/strict';
import { formatMix, parseMix, tableOfRequest, type Mix } from '../../../src/loadgen/workload/mix.ts';
import { BENCH_TABLES } from '../../../src/loadgen/workload/tables.ts';

function weights(mix: Mix): Record<string, number> {
  return Object.fromEntries(mix.tables.map((t, i) => [t.shortName, Number((mix.weights[i] as number).toFixed(9))]));
}

test('default: every table the same weight', () => {
  const mix = parseMix(undefined);
  assert.deepEqual(mix.tables, BENCH_TABLES);
  for (const w of mix.weights) assert.equal(w, 1 / BENCH_TABLES.length);
  assert.equal(mix.cumulative.at(-1), 1);
});

test('groups split their weight equally over their tables; tables by mix or sluice name; weights are relative', () => {
  assert.deepEqual(weights(parseMix('iot:0.6,logs:0.4')), {
    'iot.reading': 0.2, 'iot.event': 0.2, 'iot.status': 0.2, 'logs.app': 0.133333333, 'logs.access': 0.133333333, 'logs.audit': 0.133333333,
  });
  assert.deepEqual(weights(parseMix('iot.reading:3, bench_payments:1')), { 'iot.reading': 0.75, payments: 0.25 });
  assert.deepEqual(weights(parseMix('metrics,payments')), { 'metrics.sample': 0.5, payments: 0.5 });
  // A table reached through its group and by name gets both shares; a zero weight drops a table.
  assert.deepEqual(weights(parseMix('iot:3,iot.reading:1,logs:0')), { 'iot.reading': 0.5, 'iot.event': 0.25, 'iot.status': 0.25 });
});

test('parse errors name the problem', () => {
  const cases: [string, RegExp][] = [
    ['', /--mix is empty/],
    ['  ', /--mix is empty/],
    ['iot:0.5,,logs:0.5', /empty entry/],
    ['iot:0.6,loggs:0.4', /unknown group or table "loggs".*known: iot, logs, metrics, payments, iot\.reading/],
    ['iot.temp', /unknown group or table "iot\.temp"/],
    ['iot:-1', /bad weight in "iot:-1"/],
    ['iot:abc', /bad weight in "iot:abc"/],
    ['iot:', /bad weight in "iot:"/],
    ['iot:Infinity', /bad weight/],
    ['iot:NaN', /bad weight/],
    ['iot:0,logs:0', /sum to 0/],
    ['iot:1,iot:2', /"iot" is given twice/],
  ];
  for (const [spec, message] of cases) assert.throws(() => parseMix(spec), message, JSON.stringify(spec));
});

test('tableOfRequest: proportions within 6σ of the weights, regenerable from (seed, r)', () => {
  const mix = parseMix('iot:0.6,logs:0.3,payments:0.1');
  const n = 200_000;
  const counts = new Map<string, number>();
  for (let r = 0; r < n; r++) {
    const t = tableOfRequest(mix, 42, r);
    counts.set(t.shortName, (counts.get(t.shortName) ?? 0) + 1);
  }
  assert.equal(counts.size, mix.tables.length);
  mix.tables.forEach((t, i) => {
    const p = mix.weights[i] as number;
    const got = counts.get(t.shortName) ?? 0;
    assert.ok(Math.abs(got - n * p) < 6 * Math.sqrt(n * p * (1 - p)), `${t.shortName}: ${got} of ${n}, expected ${n * p}`);
  });
  for (const r of [0, 1, 99_999]) assert.equal(tableOfRequest(mix, 42, r), tableOfRequest(parseMix('iot:0.6,logs:0.3,payments:0.1'), 42, r));
  let differ = 0;
  for (let r = 0; r < 1000; r++) if (tableOfRequest(mix, 42, r) !== tableOfRequest(mix, 43, r)) differ++;
  assert.ok(differ > 500, `seeds 42 and 43 pick different tables for only ${differ} of 1000 requests`);
});

test('formatMix gives text that parses back to the same weights', () => {
  const mix = parseMix('iot:0.6,logs.app:0.25,payments:0.15');
  assert.deepEqual(weights(parseMix(formatMix(mix))), weights(mix));
});
