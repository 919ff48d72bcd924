/**
 * `sluice serve` flags against a real node: a value that `--help` and the
 * bounds in config.ts allow starts a node that takes writes.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { NodeProcess, http, tempDir } from './harness.ts';

const TABLE = { name: 'readings', shardKey: 'host', fields: [{ name: 'host', type: 'string', required: true }, { name: 'n', type: 'int' }] };

test('--wal-flush-delay-ms-max below the adaptive flush delay\'s default (0 and 5, within its documented ≤ 200) starts and acknowledges writes', async (t) => {
  for (const delayMs of ['0', '5']) {
    const node = await NodeProcess.start(t, { dataDir: tempDir(t), args: ['--wal-flush-delay-ms-max', delayMs] });
    assert.equal((await http(`${node.url}/v1/tables`, { method: 'POST', body: JSON.stringify(TABLE), headers: { 'content-type': 'application/json' } })).status, 201);
    const res = await http(`${node.url}/v1/tables/readings/records`, { method: 'POST', body: JSON.stringify([{ host: 'a', n: 1 }, { host: 'b', n: 2 }]), headers: { 'content-type': 'application/json' } });
    assert.equal(res.status, 200, res.text);
    assert.equal(res.body.written, 2);
    await node.kill('SIGTERM');
  }
});
