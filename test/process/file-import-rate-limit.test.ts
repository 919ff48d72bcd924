/**
 * `sluice ingest` into a table whose rate limit makes a batch wait longer
 * than a timer can (past 2^31 ms, some 25 days: a table throttled to its
 * slowest rate, 0.001 records/s, to all but stop its writes). The import
 * waits, asking again now and then; a timer overflowing to 1 ms would
 * instead send the same batch to the node again and again, each one
 * decoded and refused.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { NodeProcess, ROOT, authHeaders, cliProcessEnv, http, sleep, tempDir } from './harness.ts';
import { spawnOwned } from './owned-spawn.ts';

const BIN = path.join(ROOT, 'bin', 'sluice.js');
const BATCH = 3_000;

async function rateLimited(url: string, table: string): Promise<number> {
  const text = await (await fetch(`${url}/metrics`, { headers: authHeaders() })).text();
  const m = new RegExp(`^sluice_rate_limited_total\\{table="${table}",reason="records_rate"\\} ([0-9.e+]+)$`, 'm').exec(text);
  return m === null ? 0 : Number(m[1]);
}

test('a RATE_LIMITED answer whose Retry-After is past 2^31 ms is waited on, not retried at once', { timeout: 60_000 }, async (t) => {
  const dir = tempDir(t);
  const node = await NodeProcess.start(t, { dataDir: path.join(dir, 'data') });
  const table = { name: 'throttled', shardKey: 'host', fields: [{ name: 'host', type: 'string', required: true }, { name: 'seq', type: 'int', required: true }] };
  assert.equal((await http(`${node.url}/v1/tables`, { method: 'POST', body: JSON.stringify(table) })).status, 201);
  // A full bucket takes the first batch; the second needs 3,000 records at 0.001/s: 3,000,000 s.
  const patched = await http(`${node.url}/v1/tables/throttled`, { method: 'PATCH', body: JSON.stringify({ limits: { recordsPerSecond: 0.001, recordsBurst: BATCH } }) });
  assert.equal(patched.status, 200, patched.text);
  const file = path.join(dir, 'rows.csv');
  writeFileSync(file, `host,seq\n${Array.from({ length: 2 * BATCH }, (_, i) => `h${i % 5},${i}`).join('\n')}\n`);

  const args = [BIN, 'ingest', file, '--table', 'throttled', '--url', node.url, '--batch-records', String(BATCH), '--concurrency', '1', '--no-progress', '--checkpoint-dir', path.join(dir, 'checkpoints')];
  const child = spawnOwned(process.execPath, args, { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'], env: cliProcessEnv() });
  let stderr = '';
  child.stderr.setEncoding('utf8').on('data', (s: string) => (stderr += s));
  const exited = new Promise((resolve) => child.once('exit', resolve));
  t.after(async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    await exited;
  });
  const deadline = Date.now() + 30_000;
  while ((await rateLimited(node.url, 'throttled')) === 0) {
    assert.ok(Date.now() < deadline && child.exitCode === null, `no refused batch yet (exit ${child.exitCode}): ${stderr}`);
    await sleep(50);
  }
  await sleep(3_000);
  const refused = await rateLimited(node.url, 'throttled');
  assert.equal(child.exitCode, null, `the import is still waiting: ${stderr}`);
  assert.ok(refused <= 2, `the batch was refused ${refused} times in 3 s`);
  assert.doesNotMatch(stderr, /TimeoutOverflowWarning/);
});
