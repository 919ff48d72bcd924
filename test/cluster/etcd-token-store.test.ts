/**
 * Token records in etcd: an update merges into the stored record under a
 * compare-and-swap, so a rotation on one node that has not yet seen
 * another node's revocation of the same token cannot undo it.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Etcd3 } from 'etcd3';
import { pino } from 'pino';
import { EtcdProcess } from '../process/etcd.ts';
import { EtcdKeys } from '../../src/cluster/metadata/etcd-keys.ts';
import { EtcdTokenStore } from '../../src/cluster/metadata/etcd-token-store.ts';
import type { TokenRecord } from '../../src/security/token-store.ts';

test('an update from a stale copy keeps a revocation another node stored (etcd)', async (t) => {
  const etcd = await EtcdProcess.start(t);
  const client = new Etcd3({ hosts: etcd.clientUrl, dialTimeout: 5000 });
  t.after(() => client.close());
  const keys = new EtcdKeys('t1');
  const [a, b] = [new EtcdTokenStore(client, keys, pino({ level: 'silent' })), new EtcdTokenStore(client, keys, pino({ level: 'silent' }))];
  const record: TokenRecord = { id: 'tok1', name: 'bot', hash: 'a'.repeat(64), scopes: ['write:*'], createdAtMs: 1, createdBy: 'test' };
  assert.equal(await a.create(record), true);
  // Node b revokes; node a, from its copy without the revocation, shortens the expiry (a rotation with grace).
  await b.update({ ...record, revokedAtMs: 5 });
  await a.update({ ...record, expiresAtMs: 10 });
  const stored = JSON.parse((await client.get(keys.token('tok1')).string()) as string) as TokenRecord;
  assert.equal(stored.revokedAtMs, 5, 'the revocation holds');
  assert.equal(stored.expiresAtMs, 10, 'the shorter expiry is kept too');
});
