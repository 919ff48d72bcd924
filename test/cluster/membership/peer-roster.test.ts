/**
 * The roster of nodes allowed to call the peer listener: members the watch
 * lists pass without an etcd read; an id it does not list is looked up in
 * etcd once (concurrent calls share the read) and a miss is remembered for
 * a second; decommissioned ids are refused whatever etcd says; an etcd
 * that cannot answer is NOT_READY, not a verdict.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Etcd3 } from 'etcd3';
import { PeerRoster } from '../../../src/cluster/membership/peer-roster.ts';
import { EtcdKeys } from '../../../src/cluster/metadata/etcd-keys.ts';
import { isSluiceError } from '../../../src/core/errors.ts';

/** An etcd client whose `get(key).string()` answers from `registered` (or fails while `down`), counting reads. */
function fakeEtcd(registered: Set<string>): { client: Etcd3; reads: string[]; down: { value: boolean } } {
  const reads: string[] = [];
  const down = { value: false };
  const client = {
    get: (key: string) => ({
      string: async () => {
        reads.push(key);
        await new Promise((resolve) => setImmediate(resolve));
        if (down.value) throw new Error('etcd unreachable');
        return registered.has(key) ? '{}' : null;
      },
    }),
  } as unknown as Etcd3;
  return { client, reads, down };
}

const keys = new EtcdKeys('sluice/');

test('watched members pass without etcd; decommissioned ids are refused', async () => {
  const etcd = fakeEtcd(new Set());
  const roster = new PeerRoster({ client: etcd.client, keys, decommissioned: (id) => id === 'n3' });
  roster.observe(['n1', 'n2', 'n3']);
  await roster.admit('n2');
  await assert.rejects(roster.admit('n3'), (err: unknown) => isSluiceError(err, 'PERMISSION_DENIED') && /n3 is decommissioned/.test(err.message));
  assert.deepEqual(etcd.reads, []);
});

test('an id the watch has not shown is looked up in etcd once; a miss is remembered for a second', async () => {
  let now = 1_000;
  const registered = new Set([keys.node('n4')]);
  const etcd = fakeEtcd(registered);
  const roster = new PeerRoster({ client: etcd.client, keys, decommissioned: () => false, now: () => now });
  roster.observe(['n1']);
  await roster.admit('n4');
  assert.deepEqual(etcd.reads, [keys.node('n4')], 'a node that registered before the watch said so');

  const refused = (err: unknown): boolean => isSluiceError(err, 'PERMISSION_DENIED') && /n9 is not registered in etcd/.test(err.message);
  await Promise.all([assert.rejects(roster.admit('n9'), refused), assert.rejects(roster.admit('n9'), refused)]);
  assert.equal(etcd.reads.filter((k) => k === keys.node('n9')).length, 1, 'concurrent calls share one read');
  now += 500;
  await assert.rejects(roster.admit('n9'), refused);
  assert.equal(etcd.reads.filter((k) => k === keys.node('n9')).length, 1, 'the miss is remembered');
  now += 600;
  registered.add(keys.node('n9'));
  await roster.admit('n9');
  assert.equal(etcd.reads.filter((k) => k === keys.node('n9')).length, 2, 'asked again after a second');
});

test('a watched registration clears a remembered miss; an etcd that cannot answer is NOT_READY', async () => {
  const etcd = fakeEtcd(new Set());
  const roster = new PeerRoster({ client: etcd.client, keys, decommissioned: () => false });
  await assert.rejects(roster.admit('n5'), (err: unknown) => isSluiceError(err, 'PERMISSION_DENIED'));
  roster.observe(['n5']);
  await roster.admit('n5');
  etcd.down.value = true;
  await assert.rejects(roster.admit('n6'), (err: unknown) => isSluiceError(err, 'NOT_READY') && /cannot check in etcd whether node n6 is registered/.test(err.message));
});
