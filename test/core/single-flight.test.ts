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

test('a fresh run asked for during a run is one more run that starts after the ask; asks meanwhile share it, and idle waits for it', async () => {
  const starts: number[] = [];
  let release: () => void = () => undefined;
  let clock = 0;
  const flight = new SingleFlight(async () => {
    starts.push(++clock);
    await new Promise<void>((resolve) => (release = resolve));
    return starts.length;
  });
  const tick = (): Promise<unknown> => new Promise((resolve) => setImmediate(resolve));
  const running = flight.run();
  const askedAt = ++clock;
  const fresh = flight.runFresh();
  const alsoFresh = flight.runFresh();
  const joined = flight.run();
  let freshDone = false;
  let idleDone = false;
  void fresh.then(() => (freshDone = true));
  void flight.idle().then(() => (idleDone = true));
  release();
  assert.equal(await running, 1);
  assert.equal(await joined, 1, 'a plain call joins the run in progress');
  await tick();
  assert.equal(freshDone, false, 'the fresh run is not the one that was running when it was asked for');
  assert.equal(idleDone, false, 'idle waits for the run asked for meanwhile');
  assert.equal(starts.length, 2, 'one more run started');
  assert.ok((starts[1] as number) > askedAt, `it started (at ${starts[1]}) after the ask (at ${askedAt})`);
  release();
  assert.deepEqual([await fresh, await alsoFresh, starts.length], [2, 2, 2], 'both asks share that one run');
  await tick();
  assert.equal(idleDone, true);
  const alone = flight.runFresh();
  assert.equal(starts.length, 3, 'with no run in progress a fresh run starts at once');
  release();
  assert.equal(await alone, 3);
});

test('a fresh run follows a failed run too', async () => {
  let runs = 0;
  const flight = new SingleFlight(async () => {
    const run = ++runs;
    await new Promise((resolve) => setTimeout(resolve, 10));
    if (run === 1) throw new Error('round failed');
    return run;
  });
  const failing = flight.run();
  const fresh = flight.runFresh();
  await assert.rejects(failing, /round failed/);
  assert.equal(await fresh, 2);
});
