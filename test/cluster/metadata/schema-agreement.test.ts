/**
 * Schema agreement: a table change answered on node A says whether every
 * live node (a registration under `nodes/`) has loaded the new version,
 * waiting at most a bound, and names the nodes that had not. Each node
 * reports the version it loaded under `loaded/<table>/<node>` when its
 * watch (or a reread) installs a table. Three ClusterTables over one real
 * etcd stand for nodes a, b and c; c's watch is held back by cancelling it.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { pino } from 'pino';
import { Etcd3 } from 'etcd3';
import { EtcdProcess } from '../../process/etcd.ts';
import { ClusterTables } from '../../../src/cluster/metadata/cluster-tables.ts';
import { EtcdKeys } from '../../../src/cluster/metadata/etcd-keys.ts';
import { Catalog } from '../../../src/storage/catalog.ts';
import { EVENTS_TABLE, parseTableDef } from '../../../src/core/schema/parse-table-def.ts';
import { evolveSchema } from '../../../src/core/schema/evolve-schema.ts';
import { tempDir } from '../../support/temp-dir.ts';

type Owner = { after: (fn: () => Promise<void> | void) => void };

let etcd: EtcdProcess;
const cleanups: (() => Promise<void> | void)[] = [];
before(async () => {
  etcd = await EtcdProcess.start({ after: (fn) => cleanups.push(fn) });
});
after(async () => {
  for (const fn of cleanups.reverse()) await fn();
});

const FIELDS = [
  { name: 'k', type: 'string', required: true },
  { name: 'v', type: 'int' },
];

/** Node `id`'s cluster catalog under `prefix`, registered as live (its `nodes/<id>` key, as membership writes it). */
async function node(t: Owner, prefix: string, id: string): Promise<ClusterTables> {
  const client = new Etcd3({ hosts: etcd.clientUrl, dialTimeout: 5000 });
  const keys = new EtcdKeys(prefix);
  const tables = new ClusterTables(client, keys, await Catalog.open(tempDir(t, `sluice-agree-${id}-`), [EVENTS_TABLE], 1), pino({ level: 'silent' }), id);
  await tables.start();
  await client.put(keys.node(id)).value(JSON.stringify({ nodeId: id }));
  t.after(async () => {
    await tables.stop();
    client.close();
  });
  return tables;
}

async function until(what: string, check: () => boolean): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (!check()) {
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

test('a schema change is acknowledged once every live node loaded it; a node whose watch is behind is named after the bound, then acknowledges once caught up', { timeout: 60_000 }, async (t) => {
  const [a, b, c] = [await node(t, 'agree1/', 'a'), await node(t, 'agree1/', 'b'), await node(t, 'agree1/', 'c')];
  const created = await a.create(parseTableDef({ name: 'm', shardKey: 'k', fields: FIELDS }, Date.now()), Date.now());
  assert.deepEqual(await a.agreement('m', created, 10_000), { acknowledged: true, pendingNodes: [] });
  await until('c has the table', () => c.catalog.get('m') !== undefined);
  await c.stop();

  const evolved = await a.evolve('m', (current) => evolveSchema(current, { fields: [...FIELDS, { name: 'note', type: 'string' }] }, Date.now()));
  const started = Date.now();
  const held = await a.agreement('m', evolved, 500);
  assert.deepEqual(held, { acknowledged: false, pendingNodes: ['c'] });
  assert.ok(Date.now() - started >= 500, 'waited for the bound');
  assert.equal(b.catalog.get('m')?.versions.length, 2);

  // c catches up (as a write refused under its old version makes it do, decision 57) while a waits.
  const waiting = a.agreement('m', evolved, 10_000);
  await new Promise((r) => setTimeout(r, 200));
  await c.refreshTable('m');
  assert.deepEqual(await waiting, { acknowledged: true, pendingNodes: [] });
});

test('a node that is no longer live (its registration gone) is not waited for; a single node\'s catalog acknowledges at once', { timeout: 60_000 }, async (t) => {
  const [a, b] = [await node(t, 'agree2/', 'a'), await node(t, 'agree2/', 'b')];
  const created = await a.create(parseTableDef({ name: 'm', shardKey: 'k', fields: FIELDS }, Date.now()), Date.now());
  await until('b has the table', () => b.catalog.get('m') !== undefined);
  await b.stop();
  const evolved = await a.evolve('m', (current) => evolveSchema(current, { fields: [...FIELDS, { name: 'note', type: 'string' }] }, Date.now()));
  assert.deepEqual(await a.agreement('m', evolved, 300), { acknowledged: false, pendingNodes: ['b'] });
  // b's lease expired (or it was removed): only live nodes count.
  const client = new Etcd3({ hosts: etcd.clientUrl, dialTimeout: 5000 });
  t.after(() => client.close());
  await client.delete().key(new EtcdKeys('agree2/').node('b'));
  assert.deepEqual(await a.agreement('m', evolved, 300), { acknowledged: true, pendingNodes: [] });
  assert.deepEqual(await a.agreement('m', created, 0), { acknowledged: true, pendingNodes: [] }, 'an older version is acknowledged by a node that loaded a later one');

  const single = await Catalog.open(tempDir(t, 'sluice-agree-single-'), [EVENTS_TABLE], 1);
  const entry = await single.create(parseTableDef({ name: 'm', shardKey: 'k', fields: FIELDS }, Date.now()), Date.now());
  assert.deepEqual(await single.agreement('m', entry, 1_000), { acknowledged: true, pendingNodes: [] });
});
