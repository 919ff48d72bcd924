/**
 * Replica replies that end at their byte bound (`more`, see
 * test/cluster/replica/scan-reply-bytes.test.ts) while the replicas differ:
 * range pages and exports merged from them read every record once, the
 * records past the shortest reply's last included, at one, quorum and all.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { InProcessCluster, waitUntil } from '../../support/in-process-cluster.ts';

test('range pages and exports over replies cut at their byte bound read every record once, with replicas that differ', async (t) => {
  // A few records per reply.
  const cluster = await InProcessCluster.start(t, { scanReplyBytesMax: 200 });
  await cluster.waitAllAlive();
  const [n1, n3] = [cluster.node('n1'), cluster.node('n3')];
  const key = 'dev-1';
  const tsMs = Date.UTC(2024, 0, 1);
  const first = await cluster.write('n1', Array.from({ length: 20 }, () => key), { tsMs });
  // n3 misses the middle of the range for good (its hints are thrown away).
  cluster.faults.isolate('n3', ['n1', 'n2']);
  await waitUntil(() => n1.detector.state('n3') !== 'alive', 5_000, 'n1 suspects n3');
  const middle = await cluster.write('n1', Array.from({ length: 20 }, () => key), { tsMs: tsMs + 100 });
  await n1.hints.discard('n3');
  cluster.faults.heal();
  await cluster.waitAllAlive();
  const last = await cluster.write('n1', Array.from({ length: 20 }, () => key), { tsMs: tsMs + 200, consistency: 'all' });
  const all = [...first.ids, ...middle.ids, ...last.ids];

  for (const consistency of ['one', 'quorum', 'all'] as const) {
    const seen: bigint[] = [];
    let cursor: string | null | undefined;
    for (let pages = 0; cursor !== null && pages < 200; pages++) {
      const page = await n3.coordinator.queryRange(cluster.entry, { key, limit: 25, consistency, ...(cursor === undefined ? {} : { cursor }) });
      for (const r of page.records) seen.push(r.id);
      cursor = page.nextCursor;
    }
    // At `one`, n3 answers from its own copy, which lacks the middle.
    assert.deepEqual(seen, consistency === 'one' ? [...first.ids, ...last.ids] : all, `range at ${consistency}`);
  }
  for (const options of [{ consistency: 'quorum' as const }, { asOf: n3.coordinator.snapshot() }]) {
    const exported: bigint[] = [];
    for await (const page of n3.coordinator.scanTable(cluster.entry, options)) for (const r of page) exported.push(r.id);
    assert.deepEqual(exported, all, `export ${JSON.stringify(options, (_, v: unknown) => (typeof v === 'bigint' ? String(v) : v))}`);
  }
});
