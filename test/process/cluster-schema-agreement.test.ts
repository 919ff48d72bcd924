/**
 * Schema agreement with real processes: a table create and a schema change
 * answered by one node of three say `"acknowledged": true` once every live
 * node loaded the version. A node frozen with SIGSTOP (its watch cannot
 * run; its lease outlives the wait) is named after the bound, and the CLI
 * warns; resumed, it catches up and the next change is acknowledged.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { TestCluster } from './cluster.ts';
import { http, runCli } from './harness.ts';

const FIELDS = [
  { name: 'k', type: 'string', required: true },
  { name: 'v', type: 'int' },
];

test('table create and schema change answer once every live node loaded them, or name the one that had not after the bound', { timeout: 180_000 }, async (t) => {
  // 1.5 s of waiting: well inside the test cluster's 6-s lease, so a frozen node is still live.
  const cluster = await TestCluster.start(t, { size: 3, args: ['--schema-agreement-wait-ms-max', '1500'] });
  const created = await http(`${cluster.url(0)}/v1/tables`, { method: 'POST', body: JSON.stringify({ name: 'm', shardKey: 'k', fields: FIELDS }) });
  assert.equal(created.status, 201, created.text);
  assert.equal(created.body.acknowledged, true, created.text);
  assert.deepEqual(created.body.pendingNodes, []);
  // Acknowledged means loaded: every node describes the table at once.
  for (const i of [1, 2]) assert.equal((await http(`${cluster.url(i)}/v1/tables/m`)).status, 200);

  const frozen = cluster.node(2);
  process.kill(frozen.pid, 'SIGSTOP');
  let resumed = false;
  t.after(() => {
    if (!resumed) process.kill(frozen.pid, 'SIGCONT');
  });
  const started = Date.now();
  const patched = await http(`${cluster.url(0)}/v1/tables/m/schema`, { method: 'PATCH', body: JSON.stringify({ fields: [...FIELDS, { name: 'note', type: 'string' }] }) });
  assert.equal(patched.status, 200, patched.text);
  assert.equal(patched.body.version, 2, 'the change stands');
  assert.equal(patched.body.acknowledged, false, patched.text);
  assert.deepEqual(patched.body.pendingNodes, [cluster.nodeId(2)]);
  assert.ok(Date.now() - started >= 1_400, 'waited for the bound');

  // The CLI prints the answer and warns on stderr.
  const dir = mkdtempSync(path.join(os.tmpdir(), 'sluice-agree-cli-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const file = path.join(dir, 'fields.json');
  writeFileSync(file, JSON.stringify({ fields: [...FIELDS, { name: 'note', type: 'string' }, { name: 'extra', type: 'string' }] }));
  const cli = runCli(['table', 'alter', 'm', '--file', file, '--url', cluster.url(0)]);
  assert.equal(cli.code, 0, cli.stderr);
  assert.match(cli.stderr, new RegExp(`warning: .*schema version 3.*not yet: ${cluster.nodeId(2)}`));

  process.kill(frozen.pid, 'SIGCONT');
  resumed = true;
  writeFileSync(file, JSON.stringify({ fields: [...FIELDS, { name: 'note', type: 'string' }, { name: 'extra', type: 'string' }, { name: 'more', type: 'string' }] }));
  const after = runCli(['table', 'alter', 'm', '--file', file, '--url', cluster.url(1)]);
  assert.equal(after.code, 0, after.stderr);
  assert.doesNotMatch(after.stderr, /warning/);
  const answer = JSON.parse(after.stdout) as { version: number; acknowledged: boolean; pendingNodes: string[] };
  assert.deepEqual([answer.version, answer.acknowledged, answer.pendingNodes], [4, true, []]);
  assert.equal((await http(`${cluster.url(2)}/v1/tables/m`)).body.version, 4, 'the resumed node has it');
});
