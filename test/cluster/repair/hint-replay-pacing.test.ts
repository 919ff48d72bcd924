/**
 * Hint replay must not hurt the peer it repairs (DESIGN §7, scylladb#7976:
 * hint replay after an outage multiplied write latency). Found in a review,
 * 2026-12-08: replay sent every hint as fast as the peer took them, and a peer
 * answering OVERLOADED got a retry every replay tick.
 *
 * The replayer runs on a fake clock (its sleeps advance it), so the tests
 * assert on bytes per fake second, not on wall time.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { pino } from 'pino';
import { SluiceError } from '../../../src/core/errors.ts';
import { HintReplayer } from '../../../src/cluster/repair/hint-replayer.ts';
import type { ReplicaMethod, ReplicaMethods } from '../../../src/cluster/transport/replica-messages.ts';
import type { ReplicaTransport } from '../../../src/cluster/transport/replica-transport.ts';
import { InProcessCluster, waitUntil } from '../../support/in-process-cluster.ts';

const silent = pino({ level: 'silent' });

/** A fake clock: sleeping advances it at once. */
function fakeClock(): { ms: number; now: () => number; sleep: (ms: number) => Promise<void> } {
  const c = {
    ms: 1_000_000,
    now: () => c.ms,
    sleep: async (ms: number) => {
      c.ms += ms;
    },
  };
  return c;
}

/** n1 holding hints for n3 (`writes` batches of 50 records), with every node alive again. */
async function hintsForN3(t: Parameters<typeof InProcessCluster.start>[0], writes: number): Promise<InProcessCluster> {
  const cluster = await InProcessCluster.start(t);
  await cluster.waitAllAlive();
  const n1 = cluster.node('n1');
  cluster.faults.isolate('n3', ['n1', 'n2']);
  await waitUntil(() => n1.detector.state('n3') !== 'alive', 5_000, 'n1 suspects n3');
  for (let i = 0; i < writes; i++) await cluster.write('n1', cluster.keysHeldBy('n3', 50, `w${i}-`), { consistency: 'quorum' });
  // A write answers at W acks; its hint for n3 may land a moment later.
  await waitUntil(async () => (await n1.hints.pending())['n3'] === writes, 5_000, `n1 holds ${writes} hints for n3`);
  cluster.faults.heal();
  await cluster.waitAllAlive();
  assert.equal((await n1.hints.pending()).n3, writes);
  return cluster;
}

/** n1's transport, with the Write calls to n3 recorded (and first passed to `before`, which may throw). */
function recording(inner: ReplicaTransport, clock: { now: () => number }, before: (atMs: number) => void = () => undefined) {
  const writes: { atMs: number; bytes: number }[] = [];
  const transport: ReplicaTransport = {
    call<M extends ReplicaMethod>(node: string, method: M, request: ReplicaMethods[M][0], timeoutMs: number): Promise<ReplicaMethods[M][1]> {
      if (node === 'n3' && method === 'Write') {
        const atMs = clock.now();
        before(atMs);
        writes.push({ atMs, bytes: (request as ReplicaMethods['Write'][0]).batch.length });
      }
      return inner.call(node, method, request, timeoutMs);
    },
    check: (node, timeoutMs) => inner.check(node, timeoutMs),
  };
  return { transport, writes };
}

test('replay to a peer is throttled in bytes per second: what it receives over any span is at most rate × span + one burst', async (t) => {
  const cluster = await hintsForN3(t, 40);
  const n1 = cluster.node('n1');
  const clock = fakeClock();
  const { transport, writes } = recording(n1.transport, clock);
  const rate = 8 * 1024;
  const replayer = new HintReplayer({ nodeId: 'n1', catalog: n1.catalog, hints: n1.hints, transport, detector: n1.detector, placement: () => cluster.placement, replicaTimeoutMs: 1_000, intervalMs: 1_000, bytesPerSecMax: rate, clock, log: silent });
  await replayer.run();
  assert.equal(writes.length, 40, 'every hint delivered');
  assert.deepEqual(await n1.hints.pending(), { n3: 0 });
  const total = writes.reduce((a, w) => a + w.bytes, 0);
  const largest = Math.max(...writes.map((w) => w.bytes));
  assert.ok(total > 4 * rate, `enough hints (${total} bytes) to need several seconds at ${rate} B/s`);
  // The throttle's promise, checked at every send: bytes sent from the first send through this one fit the rate.
  let sent = 0;
  for (const w of writes) {
    sent += w.bytes;
    const spanMs = w.atMs - writes[0]!.atMs;
    assert.ok(sent <= (rate * spanMs) / 1000 + rate + largest, `${sent} bytes within ${spanMs} ms at ${rate} B/s`);
  }
  const spanMs = writes.at(-1)!.atMs - writes[0]!.atMs;
  assert.ok(spanMs >= ((total - rate - largest) * 1000) / rate, `${total} bytes took ${spanMs} fake ms`);
});

test('a peer answering OVERLOADED or RATE_LIMITED gets replay backed off, not retried every tick, and loses no hint', async (t) => {
  const cluster = await hintsForN3(t, 5);
  const n1 = cluster.node('n1');
  const clock = fakeClock();
  const busyUntilMs = clock.ms + 20_000;
  let refused = 0;
  const { transport, writes } = recording(n1.transport, clock, (atMs) => {
    if (atMs >= busyUntilMs) return;
    refused++;
    throw refused % 2 === 1 ? new SluiceError('OVERLOADED', 'replica n3: group commit queue full') : new SluiceError('RATE_LIMITED', 'replica n3: slow down', [], { retryAfterMs: 500 });
  });
  const replayer = new HintReplayer({ nodeId: 'n1', catalog: n1.catalog, hints: n1.hints, transport, detector: n1.detector, placement: () => cluster.placement, replicaTimeoutMs: 1_000, intervalMs: 1_000, clock, log: silent });
  // A replay tick every second of fake time, for 40 s: 20 s busy, then 20 s of room.
  for (let s = 0; s < 40; s++) {
    await replayer.run();
    clock.ms += 1_000;
  }
  assert.ok(refused >= 2 && refused <= 8, `${refused} attempts in 20 s of OVERLOADED (20 ticks): backed off, yet retried`);
  assert.equal(writes.length, 5, 'then every hint delivered once');
  assert.deepEqual(await n1.hints.pending(), { n3: 0 }, 'nothing dropped or left');
  assert.equal(n1.hints.expired + n1.hints.dropped, 0);
});

test('a RATE_LIMITED answer\'s retry-after is honoured before the next attempt', async (t) => {
  const cluster = await hintsForN3(t, 2);
  const n1 = cluster.node('n1');
  const clock = fakeClock();
  const attempts: number[] = [];
  const { transport } = recording(n1.transport, clock, (atMs) => {
    attempts.push(atMs);
    if (attempts.length === 1) throw new SluiceError('RATE_LIMITED', 'replica n3: slow down', [], { retryAfterMs: 7_000 });
  });
  const replayer = new HintReplayer({ nodeId: 'n1', catalog: n1.catalog, hints: n1.hints, transport, detector: n1.detector, placement: () => cluster.placement, replicaTimeoutMs: 1_000, intervalMs: 1_000, clock, log: silent });
  for (let s = 0; s < 10; s++) {
    await replayer.run();
    clock.ms += 1_000;
  }
  assert.ok(attempts.length >= 2, 'retried');
  assert.ok(attempts[1]! - attempts[0]! >= 7_000, `second attempt ${attempts[1]! - attempts[0]!} ms after the first`);
  assert.deepEqual(await n1.hints.pending(), { n3: 0 });
});
