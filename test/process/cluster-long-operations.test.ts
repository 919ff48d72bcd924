/**
 * `sluice cluster cleanup` and `sluice cluster repair` wait for the node's
 * answer as long as the operation takes. fetch gives up on an answer after
 * undici's headers timeout (300 s), and the CLI then said it could not
 * reach a node that was still cleaning up or repairing. Here the CLI's
 * fetch timeouts are lowered to 1 s (test/support/short-fetch-timeouts.ts)
 * and the real node answers after 3 s: it is frozen (SIGSTOP) while the
 * request waits in its socket, as a node busy for longer than the timeout
 * would be. Ctrl-C still ends the CLI at once, saying the node goes on.
 */
import assert from 'node:assert/strict';
import path from 'node:path';
import { test } from 'node:test';
import { TestCluster } from './cluster.ts';
import { ROOT, cliProcessEnv, sleep } from './harness.ts';
import { spawnOwned } from './owned-spawn.ts';

const BIN = path.join(ROOT, 'bin', 'sluice.js');
const PRELOAD = path.join(ROOT, 'test', 'support', 'short-fetch-timeouts.ts');
/** The CLI's fetch timeouts in this test. */
const FETCH_TIMEOUT_MS = 1_000;
/** How long the node is frozen: well past the timeouts, well within its etcd lease (6 s in FAST_CLUSTER_FLAGS). */
const FROZEN_MS = 3_000;

interface Cli {
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string }>;
  readonly kill: (signal: NodeJS.Signals) => void;
}

/** Runs the CLI with the lowered fetch timeouts, without blocking this process. */
function cli(t: { after: (fn: () => void) => void }, args: readonly string[]): Cli {
  const child = spawnOwned(process.execPath, ['--import', PRELOAD, BIN, ...args], {
    cwd: ROOT,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...cliProcessEnv(), SLUICE_TEST_FETCH_TIMEOUT_MS: String(FETCH_TIMEOUT_MS) },
  });
  t.after(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  });
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (s: string) => (stdout += s));
  child.stderr.setEncoding('utf8').on('data', (s: string) => (stderr += s));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string }>((resolve) =>
    child.once('close', (code, signal) => resolve({ code, signal, stdout, stderr })),
  );
  return { exited, kill: (signal) => child.kill(signal) };
}

/** Freezes node 0 until `thaw` is called (or the test ends). */
function freeze(t: { after: (fn: () => void) => void }, cluster: TestCluster): () => void {
  const pid = cluster.node(0).pid;
  process.kill(pid, 'SIGSTOP');
  let frozen = true;
  const thaw = (): void => {
    if (frozen) process.kill(pid, 'SIGCONT');
    frozen = false;
  };
  t.after(thaw);
  return thaw;
}

test('cluster cleanup and repair wait for a node that answers after the fetch timeouts; Ctrl-C ends the wait', { timeout: 120_000 }, async (t) => {
  const cluster = await TestCluster.start(t, { size: 1 });
  const url = cluster.url(0);

  for (const [args, answer] of [
    [['cluster', 'cleanup', '--url', url], /dropped 0 table shards/],
    [['cluster', 'repair', '--url', url], /^repaired \d+ shards/],
  ] as const) {
    const thaw = freeze(t, cluster);
    const run = cli(t, args);
    await sleep(FROZEN_MS);
    thaw();
    const done = await run.exited;
    assert.equal(done.code, 0, `${args.join(' ')}: ${done.stdout}${done.stderr}`);
    assert.match(done.stdout, answer);
  }

  // Ctrl-C while the node works: the CLI ends now, and says the operation is not cancelled.
  const thaw = freeze(t, cluster);
  const run = cli(t, ['cluster', 'cleanup', '--url', url]);
  await sleep(FETCH_TIMEOUT_MS * 2);
  const interrupted = Date.now();
  run.kill('SIGINT');
  const done = await run.exited;
  assert.ok(Date.now() - interrupted < 5_000, 'Ctrl-C ends the CLI at once');
  assert.equal(done.code, 130, `${done.stdout}${done.stderr}`);
  assert.match(done.stderr, /interrupted.*the node goes on/);
  thaw();
});
