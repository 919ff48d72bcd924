import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FailureDetector } from '../../../src/cluster/membership/failure-detector.ts';

/** Health answers decided by the test, and a clock it moves. */
function setup(): { detector: FailureDetector; healthy: Map<string, boolean>; clock: { now: number }; round: () => Promise<void>; events: string[]; deadlines: number[] } {
  const healthy = new Map<string, boolean>();
  const clock = { now: 1_000 };
  const deadlines: number[] = [];
  const checks = {
    check: async (id: string, timeoutMs: number): Promise<boolean> => {
      deadlines.push(timeoutMs);
      return healthy.get(id) ?? false;
    },
  };
  const detector = new FailureDetector(checks, { healthIntervalMs: 100, suspectAfterMisses: 3, deadAfterMs: 1_000, now: () => clock.now });
  const events: string[] = [];
  detector.on('state', (id: string, state: string) => events.push(`${id}:${state}`));
  // The periodic round, driven by hand (start() would use real timers).
  const round = (): Promise<void> => (detector as unknown as { round(): Promise<void> }).round();
  return { detector, healthy, clock, round, events, deadlines };
}

test('alive → suspect after the silence window → dead after the grace period → alive again', async () => {
  const { detector, healthy, clock, round, events, deadlines } = setup();
  detector.track('p', true);
  healthy.set('p', true);
  await round();
  assert.equal(detector.state('p'), 'alive');
  assert.deepEqual(deadlines, [300], 'a check may take the whole suspicion window');
  healthy.set('p', false);
  for (let i = 0; i < 2; i++) {
    clock.now += 100;
    await round();
    assert.equal(detector.state('p'), 'alive', `miss ${i + 1}: still inside the window`);
  }
  clock.now += 100;
  await round();
  assert.equal(detector.state('p'), 'suspect');
  for (let i = 0; i < 7; i++) {
    clock.now += 100;
    await round();
  }
  assert.equal(detector.state('p'), 'dead');
  healthy.set('p', true);
  await round();
  assert.equal(detector.state('p'), 'alive');
  assert.deepEqual(events, ['p:suspect', 'p:dead', 'p:alive']);
});

test('a successful replica call keeps a peer alive whose checks are slow; a failed one makes it suspect at once', async () => {
  const { detector, healthy, clock, round } = setup();
  detector.track('r', true);
  healthy.set('r', false);
  for (let i = 0; i < 10; i++) {
    clock.now += 100;
    detector.reportSuccess('r');
    await round();
    assert.equal(detector.state('r'), 'alive');
  }
  detector.reportFailure('r');
  assert.equal(detector.state('r'), 'suspect');
  healthy.set('r', true);
  await round();
  assert.equal(detector.state('r'), 'alive');
});

test('a peer without an etcd lease is suspect even while it answers', async () => {
  const { detector, healthy, round } = setup();
  detector.track('q', true);
  healthy.set('q', true);
  detector.track('q', false);
  assert.equal(detector.state('q'), 'suspect');
  await round();
  assert.equal(detector.state('q'), 'suspect', 'answering is not enough without a lease');
  detector.track('q', true);
  assert.equal(detector.state('q'), 'alive');
  assert.equal(detector.state('never-seen'), 'dead');
});

test("this node's own pause is not its peers' silence: a late round credits the missed time to every peer", async () => {
  const { detector, healthy, clock, round } = setup();
  detector.track('p', true);
  healthy.set('p', true);
  await round();
  healthy.set('p', false);
  // The event loop was blocked for 2 s: the first round after it must not suspect anyone.
  clock.now += 2_000;
  await round();
  assert.equal(detector.state('p'), 'alive', 'a local stall is not a silent peer');
  // A peer that really stopped answering is still found, one window later.
  for (let i = 0; i < 3; i++) {
    clock.now += 100;
    await round();
  }
  assert.equal(detector.state('p'), 'suspect');
  // A failed replica call still suspects at once, whatever the rounds did.
  healthy.set('p', true);
  await round();
  assert.equal(detector.state('p'), 'alive');
  detector.reportFailure('p');
  assert.equal(detector.state('p'), 'suspect');
});
