/**
 * Keys in a real 3-node cluster (RF=3): a primary key upserted through
 * different coordinators keeps one record and one id, and a batch with
 * dedupe keys re-sent through another coordinator (a source resuming after
 * a crash) keeps its ids and adds nothing. Every node's export agrees.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { TestCluster } from './cluster.ts';
import { authHeaders, http } from './harness.ts';

const ACCOUNTS = {
  name: 'accounts',
  shardKey: 'account',
  primaryKey: 'account',
  replicationFactor: 3,
  fields: [
    { name: 'account', type: 'string', required: true },
    { name: 'balance', type: 'int', required: true },
  ],
};
const CLICKS = {
  name: 'clicks',
  shardKey: 'user',
  replicationFactor: 3,
  fields: [
    { name: 'user', type: 'string', required: true },
    { name: 'n', type: 'int', required: true },
  ],
};

async function exportOf(url: string, table: string): Promise<Record<string, unknown>[]> {
  const text = await (await fetch(`${url}/v1/tables/${table}/export?consistency=all`, { headers: authHeaders() })).text();
  return text
    .split('\n')
    .filter((l) => l.length > 0)
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}

test('cluster: primary-key upserts and dedupe-keyed re-sends through different coordinators keep one record per key', { timeout: 120_000 }, async (t) => {
  const cluster = await TestCluster.start(t);
  for (const def of [ACCOUNTS, CLICKS]) await cluster.createTable(def);

  // Upserts of 20 accounts, three rounds, each through another node.
  const ids = new Map<string, string>();
  for (let round = 0; round < 3; round++) {
    const body = Array.from({ length: 20 }, (_, i) => JSON.stringify({ account: `a${i}`, balance: round * 100 + i })).join('\n');
    const res = await http(`${cluster.url(round)}/v1/tables/accounts/records`, { method: 'POST', body, headers: { 'content-type': 'application/x-ndjson' } });
    assert.equal(res.status, 200, res.text);
    (res.body.ids as string[]).forEach((id, i) => {
      const known = ids.get(`a${i}`);
      if (known !== undefined) assert.equal(id, known, `a${i} kept its id through node ${round}`);
      ids.set(`a${i}`, id);
    });
  }

  // A source's batch with dedupe keys, then the overlapping re-send after its "crash", through another node.
  const batch = (first: number, n: number): string => Array.from({ length: n }, (_, i) => JSON.stringify({ user: `u${(first + i) % 5}`, n: first + i })).join('\n');
  const sent = await http(`${cluster.url(0)}/v1/tables/clicks/records?dedupe_prefix=src:&dedupe_first=0&dedupe_digits=8`, { method: 'POST', body: batch(0, 300) });
  assert.equal(sent.status, 200, sent.text);
  const resent = await http(`${cluster.url(1)}/v1/tables/clicks/records?dedupe_prefix=src:&dedupe_first=100&dedupe_digits=8`, { method: 'POST', body: batch(100, 300) });
  assert.equal(resent.status, 200, resent.text);
  assert.deepEqual(resent.body.ids.slice(0, 200), sent.body.ids.slice(100), 'rows 100..299 kept the ids of their first write');

  for (let node = 0; node < 3; node++) {
    const accounts = await exportOf(cluster.url(node), 'accounts');
    assert.equal(accounts.length, 20, `node ${node}: one record per account`);
    assert.deepEqual(accounts.map((r) => r['balance']).sort((a, b) => Number(a) - Number(b)), Array.from({ length: 20 }, (_, i) => 200 + i), `node ${node}: the last round won`);
    const clicks = await exportOf(cluster.url(node), 'clicks');
    assert.equal(clicks.length, 400, `node ${node}: rows 0..399 once each`);
    assert.equal(new Set(clicks.map((r) => r['n'])).size, 400);
  }
});
