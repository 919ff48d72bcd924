/**
 * Dead letters in a cluster: three nodes dead-letter into the same new
 * table at once, so they race to create `<table>__dead_letters` in etcd;
 * every write is answered 200 (the losers wait for their catalog to learn
 * the winner's table), the letters have the table's replication factor,
 * and every node serves all of them. Then the table gets a rate limit:
 * each node enforces its share of the table's rate (the rate divided by
 * the nodes registered in etcd), and when a node dies the others' shares
 * grow once its lease is gone. A dead-letter table made before letters
 * kept their dedupe key gets the field once when three nodes race to add
 * it, and the replay writes under the keys (decision 50).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseTableDef } from '../../src/core/schema/parse-table-def.ts';
import { DEAD_LETTER_FIELDS, deadLetterTableDefinition } from '../../src/ingest/dead-letters/dead-letter-table.ts';
import { TestCluster, waitUntil } from './cluster.ts';
import { authHeaders, http, runCli } from './harness.ts';

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

test("cluster: three coordinators add dedupe_key to yesterday's dead-letter table at once; replay and re-send store each row once", { timeout: 120_000 }, async (t) => {
  const cluster = await TestCluster.start(t);
  await cluster.createTable({ ...METERS, name: 'gauges' });
  // The dead-letter table as made before letters kept their dedupe key (decision 50): no dedupe_key field.
  const described = await http(`${cluster.url(0)}/v1/tables`, {
    method: 'POST',
    body: JSON.stringify({ ...deadLetterTableDefinition(parseTableDef({ ...METERS, name: 'gauges' }, 0)), fields: DEAD_LETTER_FIELDS.filter((f) => f.name !== 'dedupe_key') }),
  });
  assert.equal(described.status, 201, described.text);
  const rows = (node: number): string => [JSON.stringify({ meter: `g${node}-0`, kwh: 1 }), JSON.stringify({ meter: `g${node}-1`, kwh: 1.5 })].join('\n');
  const send = (node: number) =>
    http(`${cluster.url(node)}/v1/tables/gauges/records?on_invalid=dead_letter&consistency=all&dedupe_prefix=g${node}:&dedupe_digits=4&dedupe_first=0`, { method: 'POST', body: rows(node), headers: { 'content-type': 'application/x-ndjson' } });
  const answers = await Promise.all([0, 1, 2].map(send));
  for (const [node, res] of answers.entries()) {
    assert.equal(res.status, 200, `node ${node}: ${res.text}`);
    assert.equal(res.body.dead_lettered.count, 1);
  }
  const table = await http(`${cluster.url(2)}/v1/tables/gauges__dead_letters`);
  assert.deepEqual(table.body.fields.filter((f: { name: string }) => f.name === 'dedupe_key').map((f: { type: string; required: boolean }) => [f.type, f.required]), [['string', false]], 'added once, optional');
  const letters = await exportOf(cluster.url(1), 'gauges__dead_letters');
  assert.deepEqual(letters.map((l) => l['dedupe_key']).sort(), ['g0:0001', 'g1:0001', 'g2:0001']);

  const fixed = await http(`${cluster.url(0)}/v1/tables/gauges/schema`, { method: 'PATCH', body: JSON.stringify({ fields: [METERS.fields[0], { name: 'kwh', type: 'float', required: true }] }) });
  assert.equal(fixed.status, 200, fixed.text);
  const replay = runCli(['dlq', 'replay', '--table', 'gauges', '--url', cluster.url(0)]);
  assert.equal(replay.code, 0, replay.stderr);
  assert.deepEqual(JSON.parse(replay.stdout), { replayed: 3, still_refused: 0, already_replayed: 0 });
  // Each client sends its request again, through another node: the replayed rows are already there.
  for (const node of [0, 1, 2]) {
    const again = await http(`${cluster.url((node + 1) % 3)}/v1/tables/gauges/records?consistency=all&dedupe_prefix=g${node}:&dedupe_digits=4&dedupe_first=0`, { method: 'POST', body: rows(node), headers: { 'content-type': 'application/x-ndjson' } });
    assert.equal(again.status, 200, again.text);
  }
  const stored = await exportOf(cluster.url(2), 'gauges');
  assert.deepEqual(stored.map((r) => r['meter']).sort(), ['g0-0', 'g0-1', 'g1-0', 'g1-1', 'g2-0', 'g2-1']);
});
