import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FailureDetector } from '../../src/cluster/failure-detector.ts';
import type { PeerClients } from '../../src/cluster/transport/peer-clients.ts';

/** Health answers decided by the test, and a clock it moves. */
function setup(): { detector: FailureDetector; healthy: Map<string, boolean>; clock: { now: number }; round: () => Promise<void>; events: string[] } {
  const healthy = new Map<string, boolean>();
  const clock = { now: 1_000 };
  const checks = { check: async (id: string): Promise<boolean> => healthy.get(id) ?? false } as unknown as PeerClients;
  const detector = new FailureDetector(checks, { healthIntervalMs: 100, suspectAfterMisses: 3, deadAfterMs: 1_000, now: () => clock.now });
  const events: string[] = [];
  detector.on('state', (id: string, state: string) => events.push(`${id}:${state}`));
  // The periodic round, driven by hand (start() would use real timers).
  const round = (): Promise<void> => (detector as unknown as { round(): Promise<void> }).round();
  return { detector, healthy, clock, round, events };
}

test('alive → suspect after the configured misses → dead after the grace period → alive again', async () => {
  const { detector, healthy, clock, round, events } = setup();
  detector.track('p', true);
  healthy.set('p', true);
  await round();
  assert.equal(detector.state('p'), 'alive');
  healthy.set('p', false);
  for (let i = 0; i < 2; i++) {
    clock.now += 100;
    await round();
    assert.equal(detector.state('p'), 'alive', `miss ${i + 1} of 3 is tolerated`);
  }
  clock.now += 100;
  await round();
  assert.equal(detector.state('p'), 'suspect');
  clock.now += 1_000;
  await round();
  assert.equal(detector.state('p'), 'dead');
  healthy.set('p', true);
  await round();
  assert.equal(detector.state('p'), 'alive');
  assert.deepEqual(events, ['p:suspect', 'p:dead', 'p:alive']);
});

test('a peer without an etcd lease is suspect even while it answers; a failed call counts as misses', async () => {
  const { detector, healthy, round } = setup();
  detector.track('q', true);
  detector.track('r', true);
  healthy.set('q', true);
  healthy.set('r', true);
  detector.track('q', false);
  assert.equal(detector.state('q'), 'suspect');
  await round();
  assert.equal(detector.state('q'), 'suspect', 'answering is not enough without a lease');
  detector.track('q', true);
  await round();
  assert.equal(detector.state('q'), 'alive');
  detector.reportFailure('r');
  assert.equal(detector.state('r'), 'suspect');
  assert.equal(detector.state('never-seen'), 'dead');
});
