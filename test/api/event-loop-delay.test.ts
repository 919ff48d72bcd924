/**
 * The event-loop delay histogram: a healthy loop's ticks land in the low
 * buckets, a stall of the main thread is one observation as long as the
 * stall, and a stopped sampler observes nothing more.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { Registry } from 'prom-client';
import { EventLoopDelay } from '../../src/api/event-loop-delay.ts';
import { EVENT_LOOP_SAMPLE_MS } from '../../src/config.ts';

async function counts(d: EventLoopDelay): Promise<{ count: number; atMost: (le: number) => number }> {
  const values = (await d.histogram.get()).values;
  const count = values.find((v) => v.metricName === 'sluice_event_loop_delay_seconds_count')?.value ?? 0;
  const atMost = (le: number): number => values.find((v) => v.metricName === 'sluice_event_loop_delay_seconds_bucket' && v.labels.le === le)?.value ?? 0;
  return { count, atMost };
}

function blockMainThread(ms: number): void {
  const until = performance.now() + ms;
  while (performance.now() < until) {
    // Busy: the stall under test.
  }
}

test('a stall of the main thread is one observation as long as the stall; stop() ends sampling', async () => {
  const d = new EventLoopDelay(new Registry());
  d.start();
  d.start(); // idempotent: one timer
  await sleep(EVENT_LOOP_SAMPLE_MS * 10);
  const idle = await counts(d);
  assert.ok(idle.count >= 3 && idle.count <= 12, `about one tick per ${EVENT_LOOP_SAMPLE_MS} ms, got ${idle.count}`);
  assert.equal(idle.atMost(0.1), idle.count, 'no tick of an idle loop is 100 ms late');

  blockMainThread(300);
  await sleep(EVENT_LOOP_SAMPLE_MS * 3);
  const stalled = await counts(d);
  const late = stalled.count - stalled.atMost(0.25);
  assert.equal(late, 1, 'the 300 ms stall is one observation past 250 ms, not a backlog of late ticks');
  assert.equal(stalled.count - stalled.atMost(1), 0, 'and not longer than it was');

  d.stop();
  d.stop();
  const stopped = (await counts(d)).count;
  await sleep(EVENT_LOOP_SAMPLE_MS * 5);
  assert.equal((await counts(d)).count, stopped, 'nothing observed after stop()');
});
