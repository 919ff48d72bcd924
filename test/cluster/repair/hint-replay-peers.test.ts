/**
 * One peer's hint replay must not hold up another's (found in a review,
 * 2026-12-08): a replay round went peer by peer, so a large queue paced at
 * --hint-replay-bytes-per-sec-max kept every other peer's hints waiting
 * until it drained (at 8 MiB/s, minutes for a full queue).
 *
 * The replayer's clock parks every throttle wait until the test lets it go,
 * so "still draining" is a state the test holds, not a race against time.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { pino } from 'pino';
import { HintReplayer, type ReplayClock } from '../../../src/cluster/repair/hint-replayer.ts';
import type { ReplicaMethod, ReplicaMethods } from '../../../src/cluster/transport/replica-messages.ts';
import type { ReplicaTransport } from '../../../src/cluster/transport/replica-transport.ts';
import { InProcessCluster, waitUntil } from '../../support/in-process-cluster.ts';

const silent = pino({ level: 'silent' });

/** A clock whose sleeps wait until `release` (then advance it), or end when aborted. */
function gatedClock(): ReplayClock & { parked: number; release: () => void } {
  let open = false;
  const waiting: (() => void)[] = [];
  const c = {
    ms: 1_000_000,
    parked: 0,
    now: () => c.ms,
    sleep: (ms: number, signal: AbortSignal) =>
      new Promise<void>((resolve, reject) => {
        const go = (): void => {
          c.ms += ms;
          resolve();
        };
        if (signal.aborted) return reject(signal.reason as Error);
        if (open) return go();
        c.parked++;
        waiting.push(go);
        signal.addEventListener('abort', () => reject(signal.reason as Error), { once: true });
      }),
    release: () => {
      open = true;
      for (const w of waiting.splice(0)) w();
    },
  };
  return c;
}

/** Keys of shards replicated by n1, n2 and `peer` (so a write reaches quorum while `peer` and the other one are out). */
function keysOn(cluster: InProcessCluster, peer: string, n: number, prefix: string): string[] {
  const out: string[] = [];
  for (let i = 0; out.length < n; i++) {
    const key = `${prefix}${i}`;
    const replicas = cluster.placement.replicas(cluster.batchShard(key), 3);
    if (replicas.includes(peer) && replicas.every((r) => r === peer || r === 'n1' || r === 'n2')) out.push(key);
  }
  return out;
}

test('a peer\'s hints are delivered while another peer\'s large queue is still being paced out, and stop waits for both', async (t) => {
  const cluster = await InProcessCluster.start(t, { size: 4 });
  await cluster.waitAllAlive();
  const n1 = cluster.node('n1');
  cluster.faults.isolate('n3', ['n1', 'n2', 'n4']);
  cluster.faults.isolate('n4', ['n1', 'n2', 'n3']);
  await waitUntil(() => n1.detector.state('n3') !== 'alive' && n1.detector.state('n4') !== 'alive', 5_000, 'n1 suspects n3 and n4');
  // n3's queue first: replayed peer by peer, it would be first in the round, and in the way.
  for (let i = 0; i < 30; i++) await cluster.write('n1', keysOn(cluster, 'n3', 20, `big${i}-`), { consistency: 'quorum' });
  await cluster.write('n1', keysOn(cluster, 'n4', 5, 'small-'), { consistency: 'quorum' });
  // (A write's hint for a replica it tried may land just after the write's answer.)
  await waitUntil(async () => (await n1.hints.pending()).n4 === 1, 3_000, 'n1 holds n4\'s hint');
  cluster.faults.heal();
  await cluster.waitAllAlive();
  assert.deepEqual(await n1.hints.pending(), { n3: 30, n4: 1 });

  const delivered = new Map<string, number>();
  const transport: ReplicaTransport = {
    call<M extends ReplicaMethod>(node: string, method: M, request: ReplicaMethods[M][0], timeoutMs: number): Promise<ReplicaMethods[M][1]> {
      if (method === 'Write') delivered.set(node, (delivered.get(node) ?? 0) + 1);
      return n1.transport.call(node, method, request, timeoutMs);
    },
    check: (node, timeoutMs) => n1.transport.check(node, timeoutMs),
  };
  const clock = gatedClock();
  // A second's burst holds n4's one hint, not n3's thirty: n3's replay waits on the throttle.
  const replayer = new HintReplayer({ nodeId: 'n1', catalog: n1.catalog, hints: n1.hints, transport, detector: n1.detector, placement: () => cluster.placement, replicaTimeoutMs: 1_000, intervalMs: 1_000, bytesPerSecMax: 4 * 1024, clock, log: silent });
  const round = replayer.run();
  try {
    await waitUntil(async () => (await n1.hints.pending()).n4 === 0, 3_000, 'n4\'s hint is delivered while n3\'s queue is paced');
    assert.ok((await n1.hints.pending()).n3! > 20, 'most of n3\'s queue still to go');
    await waitUntil(() => clock.parked > 0, 3_000, 'n3\'s replay waits on its throttle');
    assert.equal(delivered.get('n4'), 1);
    // A tick while n3 drains joins its replay: no second replay of one queue (hints stay in order, sent once).
    const tick = replayer.run();
    clock.release();
    await Promise.all([round, tick]);
  } finally {
    // A failed assertion leaves n3's replay parked: end it, or closing the cluster's hint queue waits for ever.
    await replayer.stop();
  }
  assert.deepEqual(await n1.hints.pending(), { n3: 0, n4: 0 });
  assert.equal(delivered.get('n3'), 30, 'each of n3\'s hints sent once');

  // stop() waits for every peer's replay in progress, not only the first.
  const slow = gatedClock();
  cluster.faults.isolate('n3', ['n1']);
  await waitUntil(() => n1.detector.state('n3') !== 'alive', 5_000, 'n1 suspects n3 again');
  for (let i = 0; i < 30; i++) await cluster.write('n1', keysOn(cluster, 'n3', 20, `again${i}-`), { consistency: 'quorum' });
  cluster.faults.heal();
  await cluster.waitAllAlive();
  const second = new HintReplayer({ nodeId: 'n1', catalog: n1.catalog, hints: n1.hints, transport, detector: n1.detector, placement: () => cluster.placement, replicaTimeoutMs: 1_000, intervalMs: 1_000, bytesPerSecMax: 4 * 1024, clock: slow, log: silent });
  let settled = false;
  const parked = second.run().finally(() => {
    settled = true;
  });
  await waitUntil(() => slow.parked > 0, 3_000, 'n3\'s replay parked on its throttle');
  await second.stop();
  await new Promise((resolve) => setImmediate(resolve));
  assert.equal(settled, true, 'stop resolved after the replay it cut short ended');
  await parked;
});
