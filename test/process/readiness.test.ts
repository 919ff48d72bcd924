/**
 * /readyz is 503 NOT_READY while the WAL is replayed and 200 after; /healthz
 * answers throughout; writes during recovery get 503, not a hang.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import path from 'node:path';
import { NodeProcess, http, sleep, tempDir } from './harness.ts';
import { createLedger } from './load.ts';

test('not ready while replaying the WAL, ready after', async (t) => {
  const dataDir = tempDir(t);
  const args = ['--index-sync-interval-ms', '3600000'];
  const node = await NodeProcess.start(t, { dataDir, args });
  await createLedger(node.url);
  const line = (i: number): string => JSON.stringify({ account: `a${i % 100}`, ts: i, tag: `t${i}`, amount: '1.00', n: i });
  for (let b = 0; b < 40; b++) {
    const body = Array.from({ length: 5000 }, (_, i) => line(b * 5000 + i)).join('\n');
    const res = await http(`${node.url}/v1/tables/ledger/records`, { method: 'POST', body, headers: { 'content-type': 'application/x-ndjson' } });
    assert.equal(res.status, 200, res.text);
  }
  await node.kill('SIGKILL');
  // Without its index the node must replay all 200,000 records before it is ready.
  rmSync(path.join(dataDir, 'index'), { recursive: true, force: true });
  const again = NodeProcess.spawn({ dataDir, args });
  t.after(() => again.kill('SIGKILL'));
  while (again.events('listening').length === 0) {
    assert.equal(again.child.exitCode, null, again.stderr);
    await sleep(2);
  }
  const url = String(again.events('listening')[0]?.['url']);
  const seen: number[] = [];
  let write: number | undefined;
  for (;;) {
    const ready = await http(`${url}/readyz`);
    seen.push(ready.status);
    if (ready.status === 503) {
      assert.equal(ready.body.error.code, 'NOT_READY');
      assert.equal((await http(`${url}/healthz`)).status, 200);
      write ??= (await http(`${url}/v1/tables/ledger/records`, { method: 'POST', body: line(1) })).status;
    }
    if (ready.status === 200) break;
    await sleep(5);
  }
  assert.equal(seen[0], 503, `first answers while recovering: ${seen.slice(0, 5).join(',')}`);
  assert.equal(write, 503, 'a write during recovery is refused with 503');
  assert.equal(again.events('wal_replayed')[0]?.['records'], 200_000);
  const all = await http(`${url}/v1/tables/ledger/export`);
  assert.equal(all.text.trim().split('\n').length, 200_000);
});
