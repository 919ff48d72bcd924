/**
 * Dead letters in a cluster: three nodes dead-letter into the same new
 * table at once, so they race to create `<table>__dead_letters` in etcd;
 * every write is answered 200 (the losers wait for their catalog to learn
 * the winner's table), the letters have the table's replication factor,
 * and every node serves all of them. Then the table gets a rate limit:
 * each node enforces its share of the table's rate (the rate divided by
 * the nodes registered in etcd), and when a node dies the others' shares
 * grow once its lease is gone.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { TestCluster, waitUntil } from './cluster.ts';
import { authHeaders, http } from './harness.ts';

const METERS = {
  name: 'meters',
  shardKey: 'meter',
  replicationFactor: 3,
  fields: [
    { name: 'meter', type: 'string', required: true },
    { name: 'kwh', type: 'int', required: true },
  ],
};

async function exportOf(url: string, table: string): Promise<Record<string, unknown>[]> {
  const res = await fetch(`${url}/v1/tables/${table}/export?consistency=all`, { headers: authHeaders() });
  assert.equal(res.status, 200);
  return (await res.text())
    .split('\n')
    .filter((l) => l.length > 0)
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}

test('cluster: three coordinators race to create the dead-letter table; every letter stored once, on every node', { timeout: 120_000 }, async (t) => {
  const cluster = await TestCluster.start(t);
  await cluster.createTable(METERS);
  const body = (node: number): string =>
    Array.from({ length: 20 }, (_, i) => JSON.stringify(i % 4 === 3 ? { meter: `m${node}-${i}`, kwh: `${i}.5` } : { meter: `m${node}-${i}`, kwh: i })).join('\n');
  const answers = await Promise.all(
    [0, 1, 2].map((node) => http(`${cluster.url(node)}/v1/tables/meters/records?on_invalid=dead_letter&consistency=all`, { method: 'POST', body: body(node), headers: { 'content-type': 'application/x-ndjson' } })),
  );
  for (const [node, res] of answers.entries()) {
    assert.equal(res.status, 200, `node ${node}: ${res.text}`);
    assert.equal(res.body.written, 15);
    assert.equal(res.body.dead_lettered.count, 5);
  }
  const described = await http(`${cluster.url(1)}/v1/tables/meters__dead_letters`);
  assert.equal(described.status, 200, described.text);
  assert.equal(described.body.replicationFactor, 3);
  for (let node = 0; node < 3; node++) {
    const letters = await exportOf(cluster.url(node), 'meters__dead_letters');
    assert.equal(letters.length, 15, `node ${node}: every letter once`);
    assert.equal(new Set(letters.map((l) => l['dead_letter_id'])).size, 15);
    assert.equal((await exportOf(cluster.url(node), 'meters')).length, 45);
  }

  // 3 records/s for the table: 1/s on each of three nodes; the burst (20) is not divided.
  const patched = await http(`${cluster.url(0)}/v1/tables/meters`, { method: 'PATCH', body: JSON.stringify({ limits: { recordsPerSecond: 3, recordsBurst: 20 } }) });
  assert.equal(patched.status, 200, patched.text);
  const twenty = (prefix: string): string => Array.from({ length: 20 }, (_, i) => JSON.stringify({ meter: `${prefix}-${i}`, kwh: i })).join('\n');
  let probes = 0;
  const refusalOn = async (node: number, share: RegExp): Promise<string> => {
    let last = '';
    await waitUntil(
      async () => {
        const res = await http(`${cluster.url(node)}/v1/tables/meters/records`, { method: 'POST', body: twenty(`rl${probes++}`), headers: { 'content-type': 'application/x-ndjson' } });
        // 200 while node 1 has not learnt the limit yet, or had refilled its burst; then 429.
        if (res.status === 429) last = String(res.body.error.message);
        return res.status === 429 && share.test(last);
      },
      20_000,
      `a 429 from node ${node} matching ${share}; last: ${last}`,
    );
    return last;
  };
  const thirds = await refusalOn(1, /shared by 3 nodes/);
  assert.match(thirds, /limited to 1(\.0+)? records\/s on this node \(the table's recordsPerSecond shared by 3 nodes\), burst 20/);
  await cluster.kill(2);
  // Once node 3's lease is gone (--lease-ttl-ms 6000), two nodes share the rate.
  const halves = await refusalOn(1, /shared by 2 nodes/);
  assert.match(halves, /limited to 1\.50* records\/s on this node \(the table's recordsPerSecond shared by 2 nodes\), burst 20/);
});
