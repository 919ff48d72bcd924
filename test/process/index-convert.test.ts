/**
 * `sluice index convert` on a real node's data dir: a node made with LMDB
 * is stopped, its index copied into LevelDB (over the leftover of an
 * interrupted run), and restarted without --engine: every record, primary
 * key and id reads back the same, and writes go on. Refused while the node
 * runs and when the dir already has the engine.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { NodeProcess, http, runCli, tempDir } from './harness.ts';
import { PAYMENTS } from './tables.ts';



const line = (i: number, amount: string): string => JSON.stringify({ account_id: `acct-${i % 37}`, txn_id: `tx-${i}`, amount, ts: 1_764_000_000_000 + i, memo: `m${i}` });

test('an lmdb data dir converted to level serves the same records, ids and primary keys', async (t) => {
  const dataDir = path.join(tempDir(t), 'data');
  let node = await NodeProcess.start(t, { dataDir, args: ['--engine', 'lmdb'] });
  assert.equal((await http(`${node.url}/v1/tables`, { method: 'POST', body: JSON.stringify(PAYMENTS) })).status, 201);
  const ids: string[] = [];
  for (let b = 0; b < 4; b++) {
    const body = Array.from({ length: 500 }, (_, i) => line(b * 500 + i, `${b}.${i}`)).join('\n');
    const res = await http(`${node.url}/v1/tables/payments/records`, { method: 'POST', body, headers: { 'content-type': 'application/x-ndjson' } });
    assert.equal(res.status, 200, res.text);
    ids.push(...(res.body.ids as string[]));
  }
  // Upserts: 100 primary keys get a newer version (same ids).
  const upserted = await http(`${node.url}/v1/tables/payments/records`, {
    method: 'POST',
    body: Array.from({ length: 100 }, (_, i) => line(i * 7, '99.99')).join('\n'),
    headers: { 'content-type': 'application/x-ndjson' },
  });
  assert.equal(upserted.status, 200, upserted.text);
  const exportOf = async (url: string): Promise<string[]> => {
    const res = await http(`${url}/v1/tables/payments/export?format=ndjson`);
    assert.equal(res.status, 200);
    return res.text.trim().split('\n').sort();
  };
  const before = await exportOf(node.url);
  assert.equal(before.length, 2_000);

  const busy = runCli(['index', 'convert', '--data-dir', dataDir, '--engine', 'level']);
  assert.equal(busy.code, 2, 'refused while the node runs');
  assert.match(busy.stderr, /STORAGE_IO/);

  assert.equal((await node.kill('SIGTERM')).code, 0);
  // The leftover of a conversion killed half-way: discarded, never read.
  mkdirSync(path.join(dataDir, 'index', 'level'), { recursive: true });
  writeFileSync(path.join(dataDir, 'index', 'level', 'CURRENT'), 'garbage\n');

  const converted = runCli(['index', 'convert', '--data-dir', dataDir, '--engine', 'level']);
  assert.equal(converted.code, 0, converted.stderr);
  assert.match(converted.stdout, /^lmdb -> level: \d+ index entries copied/);
  assert.equal(JSON.parse(readFileSync(path.join(dataDir, 'node.json'), 'utf8')).engine, 'level');
  assert.equal(existsSync(path.join(dataDir, 'index', 'lmdb')), false, 'the old index is gone');

  node = await NodeProcess.start(t, { dataDir });
  assert.deepEqual(await exportOf(node.url), before, 'every record, at its newest version');
  for (const i of [0, 7, 1_999]) {
    const got = await http(`${node.url}/v1/tables/payments/records/${ids[i]}`);
    assert.equal(got.status, 200, `id ${ids[i]}`);
    assert.equal(got.body.txn_id, `tx-${i}`);
    assert.equal(got.body.amount, i === 7 || i === 0 ? '99.99' : `${Math.floor(i / 500)}.${i % 500}`);
  }
  // The primary keys came along: an upsert keeps its id instead of adding a record.
  const again = await http(`${node.url}/v1/tables/payments/records`, { method: 'POST', body: line(1_999, '7.77'), headers: { 'content-type': 'application/x-ndjson' } });
  assert.equal(again.status, 200, again.text);
  assert.equal(again.body.ids[0], ids[1_999]);
  assert.equal((await exportOf(node.url)).length, 2_000);
  await node.kill('SIGTERM');

  const same = runCli(['index', 'convert', '--data-dir', dataDir, '--engine', 'level']);
  assert.equal(same.code, 2);
  assert.match(same.stderr, /already level/);
});
