import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SingleFlight } from '../../src/core/single-flight.ts';

test('a call during a run joins it; after it ends (even failed) the next call starts a new run', async () => {
  let runs = 0;
  let fail = false;
  const flight = new SingleFlight(async () => {
    runs++;
    await new Promise((resolve) => setTimeout(resolve, 10));
    if (fail) throw new Error('round failed');
    return runs;
  });
  const [a, b] = await Promise.all([flight.run(), flight.run()]);
  assert.deepEqual([a, b, runs], [1, 1, 1], 'two calls, one run');
  fail = true;
  const failing = flight.run();
  await flight.idle();
  await assert.rejects(failing, /round failed/);
  fail = false;
  assert.equal(await flight.run(), 3, 'a new run after a failed one');
});
