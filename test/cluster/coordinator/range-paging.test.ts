/**
 * Paging a range read through a cluster: a page as large as the query limit
 * allows must still say when more records follow. Replicas cap the records
 * of one Scan (replica-endpoint.ts), and the coordinator asks for one more
 * than the limit to learn whether another page exists: at the largest limit
 * that extra record was cut off by the cap, the page came back without a
 * cursor, and every record past it was lost to the reader (found in a
 * review, 2026-12-07).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { InProcessCluster } from '../../support/in-process-cluster.ts';
import { resolveConfig } from '../../../src/config.ts';

test('a range read at the largest query limit pages on to the records past it, at one and at quorum', async (t) => {
  // Scans of 10,000 records: the harness's 300 ms replica timeout is short for them on a busy machine (this test is about paging).
  const cluster = await InProcessCluster.start(t, { replicaTimeoutMs: 5_000 });
  await cluster.waitAllAlive();
  const limit = resolveConfig({ dataDir: '/unused' }).queryLimitMax;
  const key = 'dev-1';
  const written = limit + 5;
  const ack = await cluster.write('n1', Array.from({ length: written }, () => key), { tsMs: Date.UTC(2024, 0, 1) });
  assert.equal(ack.ids.length, written);
  for (const consistency of ['one', 'quorum'] as const) {
    const seen: bigint[] = [];
    let cursor: string | null | undefined;
    for (let pages = 0; cursor !== null && pages < 10; pages++) {
      const page = await cluster.node('n2').coordinator.queryRange(cluster.entry, { key, limit, consistency, token: ack.token, ...(cursor === undefined ? {} : { cursor }) });
      assert.ok(page.records.length <= limit);
      for (const r of page.records) seen.push(r.id);
      cursor = page.nextCursor;
    }
    assert.equal(seen.length, written, `${consistency}: every record, across pages`);
    assert.equal(new Set(seen).size, written, `${consistency}: none twice`);
  }
});
