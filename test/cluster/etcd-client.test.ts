/**
 * The toolchain the cluster (issue #3) stands on: the etcd3 client against
 * a real etcd 3.4 — put/get, leases that expire, watches, compare-and-swap
 * transactions and elections.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Etcd3 } from 'etcd3';
import { EtcdProcess } from '../process/etcd.ts';

test('etcd3 against a real etcd: kv, lease expiry, watch, CAS transaction, election', async (t) => {
  const etcd = await EtcdProcess.start(t);
  const client = new Etcd3({ hosts: etcd.clientUrl, dialTimeout: 5000 });
  t.after(() => client.close());

  await client.put('nodes/a').value('1');
  assert.equal(await client.get('nodes/a').string(), '1');

  const seen: string[] = [];
  const watcher = await client.watch().prefix('nodes/').create();
  watcher.on('put', (kv) => seen.push(`put ${kv.key.toString()}`));
  watcher.on('delete', (kv) => seen.push(`delete ${kv.key.toString()}`));
  t.after(() => watcher.cancel());

  // A lease that is never kept alive expires and takes its key with it.
  const lease = client.lease(2, { autoKeepAlive: false });
  await lease.put('nodes/b').value('2');
  assert.equal(await client.get('nodes/b').string(), '2');
  const deadline = Date.now() + 10_000;
  while ((await client.get('nodes/b').string()) !== null && Date.now() < deadline) await new Promise((r) => setTimeout(r, 200));
  assert.equal(await client.get('nodes/b').string(), null, 'the key went with its lease');

  // Compare-and-swap on a version: only the first of two writers wins.
  const cas = (value: string) =>
    client
      .if('placement/epoch', 'Create', '==', 0)
      .then(client.put('placement/epoch').value(value))
      .commit();
  const [first, second] = [await cas('1'), await cas('2')];
  assert.equal(first.succeeded, true);
  assert.equal(second.succeeded, false);
  assert.equal(await client.get('placement/epoch').string(), '1');

  // One leader at a time.
  const election = client.election('leader', 3);
  const campaign = election.campaign('n1');
  await new Promise<void>((resolve, reject) => {
    campaign.on('elected', () => resolve());
    campaign.on('error', reject);
  });
  assert.equal(await election.leader(), 'n1');
  await campaign.resign();

  await new Promise((r) => setTimeout(r, 200));
  assert.ok(seen.includes('put nodes/b') && seen.includes('delete nodes/b'), `watch saw the lease lifecycle: ${seen.join(', ')}`);
});
