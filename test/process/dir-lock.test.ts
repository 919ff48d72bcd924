/**
 * The data-dir lock on real `sluice serve` processes: a node SIGKILLed and
 * started again at once, 10 times on one data dir, starts every time, even
 * though the killed node is still a zombie this test has not reaped when
 * the next one takes the lock (the PID-file lock refused that: the zombie's
 * PID was "alive"); and a second node on the dir of a live one exits
 * non-zero saying the dir is in use.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { NodeProcess, tempDir } from './harness.ts';

const RESTARTS = 10;
const LINUX = process.platform === 'linux';

/** Linux: the state letter of `pid` in /proc (Z: zombie), or undefined once it is reaped. */
function procState(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const end = stat.lastIndexOf(')');
    return stat.slice(end + 2, end + 3);
  } catch {
    return undefined;
  }
}

/** The PID in DATA_DIR/LOCK, if any. */
function lockPid(dataDir: string): number | undefined {
  try {
    const pid = Number(readFileSync(path.join(dataDir, 'LOCK'), 'utf8').trim());
    return Number.isInteger(pid) && pid > 0 ? pid : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Blocks this process's event loop (so Node cannot reap any child) until
 * LOCK names a process other than `previous` or `timeoutMs` passes.
 */
function waitLockTakenSync(dataDir: string, previous: number, timeoutMs: number): boolean {
  const nap = new Int32Array(new SharedArrayBuffer(4));
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const pid = lockPid(dataDir);
    if (pid !== undefined && pid !== previous) return true;
    Atomics.wait(nap, 0, 0, 2);
  }
  return false;
}

test(`a node SIGKILLed and restarted at once starts every time (${RESTARTS} times), its predecessor still an unreaped zombie`, { timeout: 60_000 }, async (t) => {
  const dataDir = tempDir(t);
  let node = await NodeProcess.start(t, { dataDir });
  let takenFromZombie = 0;
  for (let i = 0; i < RESTARTS; i++) {
    const killed = node.pid;
    assert.equal(lockPid(dataDir), killed);
    // Not node.kill(): it waits for the exit event, i.e. for this process to reap the child.
    process.kill(killed, 'SIGKILL');
    const starting = NodeProcess.start(t, { dataDir });
    if (LINUX) {
      // The event loop stays blocked until the new node holds the lock, so the killed one cannot be reaped meanwhile.
      const taken = waitLockTakenSync(dataDir, killed, 15_000);
      if (taken && procState(killed) === 'Z') takenFromZombie++;
    }
    node = await starting;
    assert.equal(lockPid(dataDir), node.pid, `restart ${i + 1}`);
  }
  if (LINUX) assert.equal(takenFromZombie, RESTARTS, 'every restart took the lock while the killed node was a zombie');
});

test('a second node on the data dir of a live one exits non-zero: the dir is in use', { timeout: 30_000 }, async (t) => {
  const dataDir = tempDir(t);
  const first = await NodeProcess.start(t, { dataDir });
  const second = NodeProcess.spawn({ dataDir });
  t.after(async () => {
    await second.kill('SIGKILL');
  });
  const exit = await second.waitExit();
  const output = `${second.stderr}\n${second.logs.map((l) => JSON.stringify(l)).join('\n')}`;
  assert.notEqual(exit.code, 0, output);
  assert.notEqual(exit.code, null, `killed by ${exit.signal}: ${output}`);
  assert.match(output, new RegExp(`data dir .* is in use by process ${first.pid}\\b`));
  assert.equal(second.events('ready').length, 0);
  // The first node is untouched: still running, still the owner.
  assert.equal(first.child.exitCode, null);
  assert.equal(first.child.signalCode, null);
  assert.equal(lockPid(dataDir), first.pid);
});
