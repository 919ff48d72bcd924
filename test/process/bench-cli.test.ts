/**
 * `sluice bench` against a real node: a short mixed run with two source
 * addresses reads back clean; a node SIGKILLed and restarted mid-run loses
 * no acknowledged record and stores none twice; a failed threshold exits 99.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { NodeProcess, ROOT, cliProcessEnv, runCli, sleep, tempDir } from './harness.ts';

const BIN = path.join(ROOT, 'bin', 'sluice.js');

/** Runs `sluice bench` in the background; resolves with its exit code and output. */
function bench(args: readonly string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = spawn(process.execPath, [BIN, 'bench', ...args], { cwd: ROOT, env: cliProcessEnv(), stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (c: string) => (stdout += c));
  child.stderr.setEncoding('utf8').on('data', (c: string) => (stderr += c));
  return new Promise((resolve) => child.once('exit', (code) => resolve({ code, stdout, stderr })));
}

// The CI machine is shared: the generator's own lag limit is relaxed so the run's validity is not a coin toss there.
const LAG = ['--max-send-lag', '500ms', '--no-progress'];

test('a mixed run over 200 connections from two source addresses verifies clean', async (t) => {
  const node = await NodeProcess.start(t, { dataDir: tempDir(t) });
  const json = path.join(tempDir(t), 'run.json');
  const run = await bench([
    '--url', node.url, '--connections', '200', '--source-ips', '127.0.0.2,127.0.0.3', '--rate', '2000', '--batch', '1..20', '--duration', '3s',
    '--mix', 'iot:0.5,logs:0.5', '--out-of-order', '0.05', '--verify', '--json', json, '--server-pid', String(node.pid), ...LAG,
  ]);
  assert.equal(run.code, 0, `${run.stdout}\n${run.stderr}`);
  const r = JSON.parse(readFileSync(json, 'utf8'));
  assert.equal(r.connections.opened, 200);
  assert.deepEqual(r.connections.sourceAddresses, ['127.0.0.2', '127.0.0.3']);
  assert.ok(r.records.acked > 4000, `acked ${r.records.acked}`);
  assert.equal(r.verify.lost, 0);
  assert.equal(r.verify.duplicated, 0);
  assert.equal(r.verify.mismatched, 0);
  assert.equal(r.verify.readBack, r.records.acked, 'every acknowledged record read back, nothing else');
  assert.ok(r.verify.keysChecked > 0 && r.verify.outOfOrderKeys === 0);
  assert.equal(r.valid, true, r.invalidReasons.join('; '));
  assert.ok(r.latency.response.p99Ms > 0 && r.latency.response.count === r.requests.acked);
  assert.ok(r.timeline.length >= 3, 'a point per second');
  // iot and logs have three tables each; with ~200 requests all six get some.
  assert.equal(Object.keys(r.tables).length, 6);
  for (const [name, counts] of Object.entries(r.tables) as [string, { ackedRecords: number }][]) assert.ok(counts.ackedRecords > 0, name);
  assert.match(run.stdout, /verify: clean/);
});

test('a node SIGKILLed and restarted mid-run loses no acknowledged record and stores none twice', async (t) => {
  const dataDir = tempDir(t);
  const node = await NodeProcess.start(t, { dataDir });
  const port = Number(new URL(node.url).port);
  const json = path.join(tempDir(t), 'run.json');
  const running = bench([
    '--url', node.url, '--connections', '50', '--rate', '3000', '--batch', '1..30', '--duration', '6s', '--max-retries', '40', '--timeout', '5s', '--verify', '--json', json, ...LAG,
  ]);
  await sleep(2500);
  await node.kill('SIGKILL');
  await sleep(300);
  await NodeProcess.start(t, { dataDir, port });
  const run = await running;
  const r = JSON.parse(readFileSync(json, 'utf8'));
  assert.ok(r.requests.retries > 0 || Object.keys(r.errors.failed).length > 0, `the kill cut requests off: ${JSON.stringify(r.errors)}`);
  assert.ok(r.connections.closed > 0, 'connections were cut and reopened');
  assert.ok(r.connections.connectErrors.ECONNREFUSED > 0, `reconnects while the node was down are counted by kind: ${JSON.stringify(r.connections.connectErrors)}`);
  assert.ok(r.records.acked > 3000, `acked ${r.records.acked}`);
  assert.equal(r.verify.lost, 0, r.verify.problems.join('\n'));
  assert.equal(r.verify.duplicated, 0, r.verify.problems.join('\n'));
  assert.equal(r.verify.mismatched, 0);
  assert.equal(run.code, 0, `${run.stdout}\n${run.stderr}`);
});

test('a threshold that fails exits 99 and says which', async (t) => {
  const node = await NodeProcess.start(t, { dataDir: tempDir(t) });
  const run = await bench(['--url', node.url, '--connections', '4', '--rate', '200', '--duration', '1s', '--threshold', 'p99<1us', '--threshold', 'errors<1%', ...LAG]);
  assert.equal(run.code, 99, run.stderr);
  assert.match(run.stdout, /threshold p99<1us: FAIL/);
  assert.match(run.stdout, /threshold errors<1%: pass/);
});

test('a node past its --connections-max refuses the rest: counted by code, backed off, and the run is invalid', async (t) => {
  const node = await NodeProcess.start(t, { dataDir: tempDir(t), args: ['--connections-max', '10'] });
  const json = path.join(tempDir(t), 'run.json');
  const run = await bench(['--url', node.url, '--connections', '20', '--rate', '0', '--duration', '2s', '--json', json, ...LAG]);
  assert.equal(run.code, 2, `${run.stdout}\n${run.stderr}`);
  const r = JSON.parse(readFileSync(json, 'utf8'));
  // The bench's own /metrics scrape keeps a keep-alive connection of its own, which the cap counts too.
  assert.ok(r.connections.opened >= 9 && r.connections.opened <= 10, `open when the clock started: ${r.connections.opened}`);
  assert.ok(r.connections.connectErrors.TOO_MANY_CONNECTIONS >= 10, JSON.stringify(r.connections.connectErrors));
  // Refused slots retry with back-off (50 ms doubling): a handful of connects each in 2 s, not a tight loop.
  assert.ok(r.connections.openedTotal < 150, `connects in all: ${r.connections.openedTotal}`);
  assert.equal(r.valid, false);
  assert.match(r.invalidReasons.join(' '), /only (9|10) of 20 connections were open/);
});

test('usage errors and a run the machine cannot hold exit 2 with what to change', () => {
  const cases: [string[], RegExp][] = [
    [['--batch', '0'], /--batch must be a count like 20 or a range like 1\.\.40/],
    [['--threshold', 'p98<1ms'], /unknown metric p98/],
    [['--mix', 'iot:0.5,nosuch:1'], /nosuch/],
    [['--run-id', 'a b'], /--run-id must match/],
    [['--skew', '+5s..-30s'], /low end is above the high end/],
  ];
  for (const [args, message] of cases) {
    const res = runCli(['bench', '--url', 'http://127.0.0.1:9', ...args]);
    assert.equal(res.code, 2, `${args.join(' ')}: ${res.stderr}`);
    assert.match(res.stderr, message);
  }
  // More connections than any process may open files for (past fs.nr_open): refused before connecting, naming the limit.
  const nrOpen = Number(readFileSync('/proc/sys/fs/nr_open', 'utf8').trim());
  const res = runCli(['bench', '--url', 'http://127.0.0.1:9', '--connections', String(nrOpen + 1)]);
  assert.equal(res.code, 2, res.stderr);
  assert.match(res.stderr, /cannot hold the run:.*file descriptors.*raise it/s);
});
