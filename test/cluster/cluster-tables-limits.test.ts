/**
 * Table limits in a cluster live in etcd with the table: one node's change
 * (a CAS on the table's key) reaches another node's catalog through its
 * watch, never becomes a schema version, and a node that starts later
 * loads it. Two ClusterTables over one real etcd stand for two nodes.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Etcd3 } from 'etcd3';
import { pino } from 'pino';
import { EtcdProcess } from '../process/etcd.ts';
import { ClusterTables } from '../../src/cluster/metadata/cluster-tables.ts';
import { EtcdKeys } from '../../src/cluster/metadata/etcd-keys.ts';
import { Catalog } from '../../src/storage/catalog.ts';
import { EVENTS_TABLE, parseTableDef } from '../../src/core/schema/parse-table-def.ts';

async function nodeTables(t: { after: (fn: () => unknown) => void }, url: string): Promise<ClusterTables> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'sluice-ctl-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const client = new Etcd3({ hosts: url, dialTimeout: 5000 });
  const tables = new ClusterTables(client, new EtcdKeys('sluice/'), await Catalog.open(dir, [EVENTS_TABLE], 1), pino({ level: 'silent' }));
  await tables.start();
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

test('limits set on one node reach the others through etcd, and a node started later loads them', async (t) => {
  const etcd = await EtcdProcess.start(t);
  const a = await nodeTables(t, etcd.clientUrl);
  const b = await nodeTables(t, etcd.clientUrl);
  const def = parseTableDef({ name: 'm', shardKey: 'k', fields: [{ name: 'k', type: 'string', required: true }] }, 0);
  await a.create(def, 0, { eventTimeAheadMsMax: 1000 });
  await until('the table on b', () => b.catalog.get('m')?.limits?.eventTimeAheadMsMax === 1000);

  const set = await a.setLimits('m', (current) => ({ ...current, recordsPerSecond: 5 }));
  assert.deepEqual(set.limits, { eventTimeAheadMsMax: 1000, recordsPerSecond: 5 });
  assert.equal(set.versions.length, 1, 'no schema version');
  await until('the limits on b', () => b.catalog.get('m')?.limits?.recordsPerSecond === 5);

  // b changes them next (its CAS reads the current copy from etcd): both see b's.
  const fromB = await b.setLimits('m', () => ({ bytesPerSecond: 4096 }));
  assert.equal(fromB.limitsRevision, 2);
  await until('b\'s limits on a', () => a.catalog.get('m')?.limits?.bytesPerSecond === 4096);
  assert.deepEqual(a.catalog.get('m')?.limits, { bytesPerSecond: 4096 });

  // A schema change keeps the limits (the same entry in etcd).
  const evolved = await a.evolve('m', (current) => ({ ...current, version: current.version + 1 }));
  assert.deepEqual(evolved.limits, { bytesPerSecond: 4096 });

  const c = await nodeTables(t, etcd.clientUrl);
  assert.deepEqual(c.catalog.get('m')?.limits, { bytesPerSecond: 4096 });
  assert.equal(c.catalog.get('m')?.versions.length, 2);
});
