/**
 * `sluice cluster cleanup --all` cleans every registered node in turn. A
 * node it cannot reach (killed a moment ago: its lease, and so its address
 * in the status, outlives it by up to --lease-ttl-ms) is reported, and the
 * nodes after it are still cleaned; the command then exits 1.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import path from 'node:path';
import { test } from 'node:test';
import { TestCluster } from './cluster.ts';
import { ROOT, cliProcessEnv } from './harness.ts';

/** Runs the CLI without blocking this process's event loop; resolves with its exit code and output. */
function runCli(args: readonly string[]): Promise<{ status: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [path.join(ROOT, 'bin', 'sluice.js'), ...args], { cwd: ROOT, env: cliProcessEnv() });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString('utf8')));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString('utf8')));
    child.on('error', reject);
    child.on('close', (status) => resolve({ status, stdout, stderr }));
  });
}

test('cleanup --all goes on past a registered node it cannot reach, reports it, and exits 1', { timeout: 120_000 }, async (t) => {
  const cluster = await TestCluster.start(t);
  // n1 sorts first: with the old loop, its failure kept n2 and n3 from being cleaned at all.
  assert.equal(cluster.nodeId(0), 'n1');
  await cluster.kill(0);
  const cli = await runCli(['cluster', 'cleanup', '--all', '--url', cluster.url(2)]);
  const out = cli.stdout + cli.stderr;
  assert.equal(cli.status, 1, out);
  assert.ok(out.includes(cluster.url(0)) && /cannot reach/.test(out), `n1 is reported: ${out}`);
  for (const i of [1, 2]) assert.match(cli.stdout, new RegExp(`${cluster.url(i)}: dropped 0 table shards`), `n${i + 1} is cleaned: ${out}`);
});
