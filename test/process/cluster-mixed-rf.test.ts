/**
 * Tables of different replication factors share the ring but not their
 * replicas: an RF=1 table's shard lives on the first node of the shard's
 * replica list only. When a node is decommissioned, the node that becomes
 * an RF=1 shard's owner already replicates that shard for the RF=3 table,
 * so "shards it gains" must be worked out per table: by the widest RF
 * alone no node gains anything here, and the RF=1 records were lost once
 * the old owner stopped.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Placement } from '../../src/cluster/placement/placement.ts';
import { shardOf } from '../../src/core/murmur3.ts';
import { TestCluster, waitUntil } from './cluster.ts';
import { http } from './harness.ts';
import { LEDGER } from './load.ts';

const SHARDS = 16;

test('a decommission moves an RF=1 table by its own owners, beside an RF=3 table: nothing of either is lost', { timeout: 180_000 }, async (t) => {
  const cluster = await TestCluster.start(t);
  for (const [name, rf] of [['wide', 3], ['solo', 1]] as const) await cluster.createTable({ ...LEDGER, name, replicationFactor: rf }, 1);
  const written = new Map<string, Map<string, string>>([['wide', new Map()], ['solo', new Map()]]);
  for (let r = 0; r < 20; r++) {
    for (const [name, ids] of written) {
      const records = Array.from({ length: 50 }, (_, i) => ({ account: `acct-${(r * 50 + i) % 64}`, ts: 1_700_000_000_000 + r * 1000 + i, tag: `${name}-${r}-${i}`, amount: '1.00', n: i }));
      const res = await http(`${cluster.url(1)}/v1/tables/${name}/records`, {
        method: 'POST',
        body: records.map((x) => JSON.stringify(x)).join('\n'),
        headers: { 'content-type': 'application/x-ndjson' },
      });
      assert.equal(res.status, 200, res.text);
      (res.body.ids as string[]).forEach((id, i) => ids.set(id, records[i]!.account));
    }
  }

  // The case this test is about must occur: n1 owns RF=1 shards (their heirs replicate every shard at RF=3 already).
  const ring = new Placement({ epoch: 1, nodes: ['n1', 'n2', 'n3'] });
  const moving = [...written.get('solo')!.values()].filter((account) => ring.replicas(shardOf(account, SHARDS), 1)[0] === 'n1');
  assert.ok(moving.length > 0, 'n1 owns some RF=1 records');

  const asked = await http(`${cluster.url(1)}/v1/cluster/nodes/n1/decommission`, { method: 'POST' });
  assert.equal(asked.status, 202, asked.text);
  await waitUntil(
    async () => {
      const view = await cluster.status(1);
      return view.placement.target === undefined && JSON.stringify(view.placement.nodes) === JSON.stringify(['n2', 'n3']);
    },
    60_000,
    'n1 left the ring',
  );
  await cluster.kill(0);

  for (const [name, ids] of written) {
    const exported = await http(`${cluster.url(2)}/v1/tables/${name}/export`);
    assert.equal(exported.status, 200, exported.text);
    const got = new Set(exported.text.trim().split('\n').map((line) => (JSON.parse(line) as { _id: string })._id));
    const missing = [...ids.keys()].filter((id) => !got.has(id));
    assert.deepEqual(missing.length, 0, `${name}: ${missing.length} of ${ids.size} records lost with n1`);
    assert.equal(got.size, ids.size, `${name}: no extra records`);
  }
});
