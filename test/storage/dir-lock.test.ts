/**
 * The data-dir lock (storage/dir-lock.ts): refused while held (by this
 * process or another live one), free again at release, and free at once
 * when its owner is SIGKILLed, even while the dead owner is still a zombie
 * its parent (this test) has not reaped. Both the platform's kind and the
 * socket-file fallback of non-Linux platforms are exercised.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readFileSync, readdirSync, symlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import type { ChildProcess } from 'node:child_process';
import { lockDataDir, defaultLockKind, type DirLockKind } from '../../src/storage/dir-lock.ts';
import { isSluiceError } from '../../src/core/errors.ts';
import { spawnOwned } from '../process/owned-spawn.ts';
import { tempDir } from '../support/temp-dir.ts';

const MODULE_URL = pathToFileURL(path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', 'src', 'storage', 'dir-lock.ts')).href;
const KINDS: DirLockKind[] = [...new Set<DirLockKind>([defaultLockKind(), 'file'])];

/** Rejects with the refusal: STORAGE_IO, "in use", naming `pid`. */
async function assertRefused(attempt: Promise<unknown>, pid: number): Promise<void> {
  await assert.rejects(attempt, (err: unknown) => {
    assert.ok(isSluiceError(err), String(err));
    assert.equal(err.code, 'STORAGE_IO');
    assert.match(err.message, /is in use by process (\d+)/);
    assert.match(err.message, new RegExp(`process ${pid}\\b`));
    return true;
  });
}

/** A child process that takes the lock of `dir` and then idles; resolves once it holds it. */
async function lockInChild(t: { after: (fn: () => void) => void }, dir: string, kind: DirLockKind): Promise<ChildProcess> {
  const script = `
    const { lockDataDir } = await import(${JSON.stringify(MODULE_URL)});
    await lockDataDir(${JSON.stringify(dir)}, { kind: ${JSON.stringify(kind)} });
    process.stdout.write('locked\\n');
    setInterval(() => {}, 60_000);
  `;
  const child = spawnOwned(process.execPath, ['--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'pipe'] });
  t.after(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  });
  let out = '';
  let err = '';
  child.stderr.setEncoding('utf8').on('data', (s: string) => (err += s));
  await new Promise<void>((resolve, reject) => {
    child.stdout.setEncoding('utf8').on('data', (s: string) => {
      out += s;
      if (out.includes('locked\n')) resolve();
    });
    child.once('exit', (code, signal) => reject(new Error(`lock child exited (${code ?? signal}) before locking: ${err}`)));
  });
  return child;
}

/** Linux: the state letter of `pid` in /proc (Z: zombie), or undefined once it is reaped. */
function procState(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
  } catch {
    return undefined;
  }
}

/**
 * Blocks the event loop (so Node cannot reap `pid`) until it is a zombie
 * with all its threads gone: its main thread shows Z a few ms before the
 * other threads have exited and the descriptors are closed. False if that
 * takes over 5 s.
 */
function waitZombieSync(pid: number): boolean {
  const deadline = Date.now() + 5_000;
  const nap = new Int32Array(new SharedArrayBuffer(4));
  while (Date.now() < deadline) {
    if (procState(pid) === 'Z' && threads(pid) === 1) return true;
    Atomics.wait(nap, 0, 0, 1);
  }
  return false;
}

function threads(pid: number): number {
  try {
    return readdirSync(`/proc/${pid}/task`).length;
  } catch {
    return 0;
  }
}

for (const kind of KINDS) {
  test(`${kind}: held, refused (also to this process), released, taken again`, async (t) => {
    const dir = tempDir(t);
    const lock = await lockDataDir(dir, { kind });
    assert.equal(readFileSync(path.join(dir, 'LOCK'), 'utf8'), `${process.pid}\n`);
    await assertRefused(lockDataDir(dir, { kind, waitMs: 0 }), process.pid);
    // Still refused after the default wait.
    await assertRefused(lockDataDir(dir, { kind }), process.pid);
    lock.release();
    lock.release();
    assert.equal(existsSync(path.join(dir, 'LOCK')), false, 'LOCK removed at release');
    // No wait: the name is free as soon as release() returns.
    const again = await lockDataDir(dir, { kind, waitMs: 0 });
    again.release();
  });

  test(`${kind}: another path to the same dir (a symlink) is the same lock`, async (t) => {
    const dir = tempDir(t);
    const real = path.join(dir, 'data');
    mkdirSync(real);
    symlinkSync(real, path.join(dir, 'link'));
    const lock = await lockDataDir(real, { kind });
    await assertRefused(lockDataDir(path.join(dir, 'link'), { kind, waitMs: 0 }), process.pid);
    lock.release();
  });

  test(`${kind}: a live child holding the lock is refused, its pid named`, async (t) => {
    const dir = tempDir(t);
    const child = await lockInChild(t, dir, kind);
    await assertRefused(lockDataDir(dir, { kind, waitMs: 0 }), child.pid!);
    child.kill('SIGKILL');
  });

  test(`${kind}: the lock of a SIGKILLed child is free at once, while the child is still an unreaped zombie`, async (t) => {
    const dir = tempDir(t);
    for (let round = 0; round < 3; round++) {
      const child = await lockInChild(t, dir, kind);
      const pid = child.pid!;
      process.kill(pid, 'SIGKILL');
      let attempt: Promise<{ release(): void }>;
      if (process.platform === 'linux') {
        // No await between the kill and the bind: the event loop never turns, so Node cannot reap the child.
        assert.ok(waitZombieSync(pid), `child ${pid} did not become a zombie`);
        attempt = lockDataDir(dir, { kind, waitMs: 0 });
        // The bind happens inside listen(), synchronously: the dead owner was a zombie when it ran.
        assert.equal(procState(pid), 'Z');
      } else {
        attempt = lockDataDir(dir, { kind });
      }
      const lock = await attempt;
      // The LOCK left behind by the killed child named a pid that is still "alive" as a zombie: it is information only.
      assert.equal(readFileSync(path.join(dir, 'LOCK'), 'utf8'), `${process.pid}\n`);
      lock.release();
    }
  });
}

for (const kind of KINDS) {
  test(`${kind}: a lock taken right after SIGKILL, while the child is still dying, waits for it`, async (t) => {
    const dir = tempDir(t);
    for (let round = 0; round < 3; round++) {
      const child = await lockInChild(t, dir, kind);
      process.kill(child.pid!, 'SIGKILL');
      const lock = await lockDataDir(dir, { kind });
      lock.release();
    }
  });
}

test('a LOCK naming a live process (a reused pid) does not hold the dir', async (t) => {
  const dir = tempDir(t);
  writeFileSync(path.join(dir, 'LOCK'), '1\n');
  const lock = await lockDataDir(dir);
  lock.release();
});

test('a data dir that does not exist is STORAGE_IO', async (t) => {
  const dir = tempDir(t);
  await assert.rejects(lockDataDir(path.join(dir, 'missing')), (err: unknown) => isSluiceError(err) && err.code === 'STORAGE_IO' && /cannot lock data dir/.test(err.message));
});
