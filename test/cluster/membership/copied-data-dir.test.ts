/**
 * A data dir copied to another machine (a cloned VM, a restored backup)
 * and started there with the same node id while the original runs: the
 * copy's cluster.json names the original's lease and worker id. Two live
 * nodes must never hold one snowflake worker id.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Etcd3 } from 'etcd3';
import { pino } from 'pino';
import { resolveConfig } from '../../../src/config.ts';
import { newMembership } from '../../../src/cluster/runtime-assembly.ts';
import { EtcdKeys } from '../../../src/cluster/metadata/etcd-keys.ts';
import { EtcdProcess } from '../../process/etcd.ts';

const silent = pino({ level: 'silent' });

test('a copy of a running node\'s data dir started on another machine does not take the original\'s lease and worker id', async (t) => {
  const etcd = await EtcdProcess.start(t);
  const client = new Etcd3({ hosts: [etcd.clientUrl] });
  t.after(() => client.close());
  const keys = new EtcdKeys('sluice/');
  const dirs = [0, 1].map(() => mkdtempSync(path.join(os.tmpdir(), 'sluice-copied-dir-')));
  t.after(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));
  const configOf = (dataDir: string) => resolveConfig({ dataDir, nodeId: 'n1', leaseTtlMs: 2_000, keepAliveMs: 500 });
  const addresses = { grpc: '127.0.0.1:1', peer: '127.0.0.1:2' };

  const original = await newMembership(configOf(dirs[0]!), client, keys, 'http://127.0.0.1:3', addresses, silent);
  await original.start();
  t.after(() => original.stop());
  const workerId = original.info.workerId;

  copyFileSync(path.join(dirs[0]!, 'cluster.json'), path.join(dirs[1]!, 'cluster.json'));
  t.mock.method(os, 'hostname', () => 'another-machine');
  const copy = await newMembership(configOf(dirs[1]!), client, keys, 'http://127.0.0.1:4', addresses, silent);
  t.after(() => copy.stop());
  const started = await copy.start().then(
    () => undefined,
    (err: unknown) => err,
  );
  const both = original.live && copy.live && copy.info.workerId === workerId;
  assert.ok(!both, `the original and its copy are both live under worker id ${workerId}: both stamp ids with it`);
  assert.ok(started instanceof Error && /registered by a live process/.test(started.message), `the copy is refused: ${String(started)}`);
  assert.ok(original.live, 'the original keeps its lease');
  assert.equal(original.info.workerId, workerId);
});

test('a restart on the machine that wrote cluster.json frees the crashed predecessor\'s lease at once and keeps its worker id', async (t) => {
  const etcd = await EtcdProcess.start(t);
  const client = new Etcd3({ hosts: [etcd.clientUrl] });
  t.after(() => client.close());
  const keys = new EtcdKeys('sluice/');
  const dir = mkdtempSync(path.join(os.tmpdir(), 'sluice-copied-dir-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  // What a process SIGKILLed here leaves: its registration under a lease nobody keeps alive, and its cluster.json.
  const crashed = client.lease(60, { autoKeepAlive: false });
  const leaseId = await crashed.grant();
  await crashed.put(keys.node('n1')).value('{}');
  await crashed.put(keys.worker(5)).value('n1');
  crashed.release();
  writeFileSync(path.join(dir, 'cluster.json'), JSON.stringify({ nodeId: 'n1', workerId: 5, leaseId, host: os.hostname() }));
  const config = resolveConfig({ dataDir: dir, nodeId: 'n1', leaseTtlMs: 2_000, keepAliveMs: 500 });
  const restarted = await newMembership(config, client, keys, 'http://127.0.0.1:3', { grpc: '127.0.0.1:1', peer: '127.0.0.1:2' }, silent);
  t.after(() => restarted.stop());
  await restarted.start();
  assert.equal(restarted.info.workerId, 5);
  assert.ok(restarted.live);
});
