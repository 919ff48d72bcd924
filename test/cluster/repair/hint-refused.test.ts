/**
 * A hint its peer refuses for good must not block the peer's queue (found in
 * a review, 2026-12-08): replay is in order and stopped at the first failure,
 * so one hint for a table the peer does not know (TABLE_NOT_FOUND, whatever
 * it reloads) held every later hint for that peer until the hint window
 * (3 h) expired it. Such a hint is skipped and counted; a refusal that may
 * pass (CLOCK_SKEW, STALE_PLACEMENT, NOT_READY, OVERLOADED) keeps it queued.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { pino } from 'pino';
import { SluiceError, type ErrorCode } from '../../../src/core/errors.ts';
import { encodeFields } from '../../../src/core/codec/fields-codec.ts';
import { RecordBatchBuilder } from '../../../src/core/codec/record-batch-v1.ts';
import { shardOf } from '../../../src/core/murmur3.ts';
import { parseTableDef } from '../../../src/core/schema/parse-table-def.ts';
import { HintReplayer } from '../../../src/cluster/repair/hint-replayer.ts';
import type { ReplicaMethod, ReplicaMethods } from '../../../src/cluster/transport/replica-messages.ts';
import type { ReplicaTransport } from '../../../src/cluster/transport/replica-transport.ts';
import { InProcessCluster, waitUntil } from '../../support/in-process-cluster.ts';

const silent = pino({ level: 'silent' });

/** n1 and n2 know table `gone`, n3 does not (as if it had been removed there); n3 is out while n1 takes writes. */
async function n3Missing(t: Parameters<typeof InProcessCluster.start>[0]) {
  const cluster = await InProcessCluster.start(t);
  await cluster.waitAllAlive();
  const n1 = cluster.node('n1');
  const def = parseTableDef({ name: 'gone', shardKey: 'k', timeField: 'ts', replicationFactor: 3, fields: [{ name: 'k', type: 'string', required: true }, { name: 'ts', type: 'timestamp', required: true }] }, Date.now());
  const gone = await n1.catalog.create(def, Date.now());
  await cluster.node('n2').catalog.install(gone);
  cluster.faults.isolate('n3', ['n1', 'n2']);
  await waitUntil(() => n1.detector.state('n3') !== 'alive', 5_000, 'n1 suspects n3');
  const b = new RecordBatchBuilder(gone.id, 1, Date.now());
  for (const k of ['a', 'b', 'c']) b.add(shardOf(k, cluster.shards), k, undefined, Date.now(), encodeFields([k, Date.now()]));
  return { cluster, n1, gone, goneBatch: Buffer.from(b.finish()) };
}

test('a hint its peer refuses for good (TABLE_NOT_FOUND) is skipped and counted; the hints behind it are delivered', async (t) => {
  const { cluster, n1, gone, goneBatch } = await n3Missing(t);
  // First the hint n3 will refuse, then hints it takes: in order, the refused one is in their way.
  await n1.coordinator.write(gone, goneBatch, 3, () => undefined, { consistency: 'quorum' });
  const keys = cluster.keysHeldBy('n3', 20, 'after-');
  await cluster.write('n1', keys.slice(0, 10), { consistency: 'quorum' });
  await cluster.write('n1', keys.slice(10), { consistency: 'quorum' });
  // (A write's hint for a replica it tried may land just after the write's answer.)
  await waitUntil(async () => (await n1.hints.pending()).n3 === 3, 3_000, 'n1 holds three hints for n3');
  cluster.faults.heal();
  await cluster.waitAllAlive();
  assert.equal((await n1.hints.pending()).n3, 3);

  await n1.replayer.run();
  assert.deepEqual(await n1.hints.pending(), { n3: 0 }, 'nothing left waiting behind the refused hint');
  assert.equal(n1.hints.refused, 1, 'the refused hint counted');
  assert.equal(n1.hints.replayed, 2, 'the two others delivered');
  const stored = await cluster.storedIds('n3');
  assert.equal(stored.size, 20, 'n3 holds every record written after the refused hint');
});

test('a refusal that may pass (CLOCK_SKEW, STALE_PLACEMENT, NOT_READY, OVERLOADED, INTERNAL, REPLICA_PROTOCOL, NO_QUORUM) keeps the hint queued, then delivers it', async (t) => {
  const { cluster, n1 } = await n3Missing(t);
  await cluster.write('n1', cluster.keysHeldBy('n3', 5), { consistency: 'quorum' });
  await waitUntil(async () => (await n1.hints.pending()).n3 === 1, 3_000, 'n1 holds a hint for n3');
  cluster.faults.heal();
  await cluster.waitAllAlive();
  const answers: ErrorCode[] = ['CLOCK_SKEW', 'STALE_PLACEMENT', 'NOT_READY', 'OVERLOADED', 'INTERNAL', 'REPLICA_PROTOCOL', 'NO_QUORUM'];
  let writes = 0;
  const transport: ReplicaTransport = {
    call<M extends ReplicaMethod>(node: string, method: M, request: ReplicaMethods[M][0], timeoutMs: number): Promise<ReplicaMethods[M][1]> {
      if (node === 'n3' && method === 'Write') {
        const code = answers[writes++];
        if (code !== undefined) return Promise.reject(new SluiceError(code, `replica n3: ${code}`));
      }
      return n1.transport.call(node, method, request, timeoutMs);
    },
    check: (node, timeoutMs) => n1.transport.check(node, timeoutMs),
  };
  const clock = { ms: 1_000_000, now: () => clock.ms, sleep: async (ms: number) => void (clock.ms += ms) };
  const replayer = new HintReplayer({ nodeId: 'n1', catalog: n1.catalog, hints: n1.hints, transport, detector: n1.detector, placement: () => cluster.placement, replicaTimeoutMs: 1_000, intervalMs: 1_000, clock, log: silent });
  for (let i = 0; i < answers.length; i++) {
    await replayer.run();
    assert.deepEqual(await n1.hints.pending(), { n3: 1 }, `after ${answers[i]}: the hint stays queued`);
    clock.ms += 120_000;
  }
  await replayer.run();
  assert.deepEqual(await n1.hints.pending(), { n3: 0 });
  assert.equal(n1.hints.refused, 0, 'none counted as refused');
  assert.equal((await cluster.storedIds('n3')).size, 5);
});
