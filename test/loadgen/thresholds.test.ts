/** Thresholds as k6 writes them: parsed with units, checked against a run's figures, refused clearly when malformed. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { checkThreshold, parseThreshold } from '../../src/loadgen/thresholds.ts';

const inputs = { latencyMs: { p50: 4, p99: 48, max: 900, 'service.p99': 12 }, errorFraction: 0.002, rateFraction: 0.97 };

test('latency thresholds take us, ms and s and compare in ms', () => {
  assert.deepEqual(parseThreshold('p99<50ms'), { text: 'p99<50ms', metric: 'p99', op: '<', value: 50 });
  assert.equal(parseThreshold('max <= 1s').value, 1000);
  assert.equal(parseThreshold('p50<500us').value, 0.5);
  assert.equal(parseThreshold('p99<50').value, 50, 'ms by default');
  assert.equal(checkThreshold(parseThreshold('p99<50ms'), inputs).ok, true);
  assert.equal(checkThreshold(parseThreshold('p99<48ms'), inputs).ok, false, 'strictly less');
  assert.equal(checkThreshold(parseThreshold('p99<=48ms'), inputs).ok, true);
  assert.equal(checkThreshold(parseThreshold('max<1s'), inputs).ok, true);
  assert.equal(checkThreshold(parseThreshold('service.p99<10ms'), inputs).ok, false);
  assert.equal(checkThreshold(parseThreshold('service.p99<10ms'), inputs).actual, 12);
});

test('errors and rate take a percentage or a fraction', () => {
  assert.equal(parseThreshold('errors<0.1%').value, 0.001);
  assert.equal(checkThreshold(parseThreshold('errors<0.1%'), inputs).ok, false);
  assert.equal(checkThreshold(parseThreshold('errors<1%'), inputs).ok, true);
  assert.equal(checkThreshold(parseThreshold('rate>=95%'), inputs).ok, true);
  assert.equal(checkThreshold(parseThreshold('rate>0.99'), inputs).ok, false);
});

test('a malformed threshold is refused with what is accepted', () => {
  assert.throws(() => parseThreshold('p99 fast'), /<metric><op><value>/);
  assert.throws(() => parseThreshold('p98<50ms'), /unknown metric p98/);
  assert.throws(() => parseThreshold('p99<5%'), /latency takes us, ms or s/);
  assert.throws(() => parseThreshold('errors<5ms'), /errors takes a %/);
});
