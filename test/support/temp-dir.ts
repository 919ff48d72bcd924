/**
 * Temporary directories for tests, removed when the test (or the file, with node:test's `after`) ends.
 *
 * node:test runs after-hooks in the order they were registered, so a dir made before the process or node that uses it
 * (`NodeProcess.start(t, { dataDir: tempDir(t) })`) is removed while that one still runs: it may write there
 * meanwhile, and a write through `mkdir -p` (an atomic file, a queue opened late) makes the dir again, left behind in
 * /tmp. Whatever uses a dir registers its stop with `stopBeforeRemoval`, and the removal runs it first.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

/** Stops registered per directory (resolved path). */
const stops = new Map<string, Set<() => Promise<unknown>>>();

/** A fresh temporary directory removed by `owner.after`, after the stops registered under it. */
export function tempDir(owner: { after: (fn: () => void) => void }, prefix = 'sluice-'): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), prefix));
  owner.after(() => removeTempDir(dir));
  return dir;
}

/** Has `stop` run before `dir`, or a directory holding it, is removed by `removeTempDir`; returns its unregistration. */
export function stopBeforeRemoval(dir: string, stop: () => Promise<unknown>): () => void {
  const key = path.resolve(dir);
  const set = stops.get(key) ?? new Set();
  stops.set(key, set);
  set.add(stop);
  return () => {
    set.delete(stop);
    if (set.size === 0 && stops.get(key) === set) stops.delete(key);
  };
}

/** Runs the stops registered under `dir` (whatever they throw), then removes it; synchronous when there are none. */
export function removeTempDir(dir: string): void | Promise<void> {
  const root = path.resolve(dir);
  const pending: Promise<unknown>[] = [];
  for (const [key, set] of stops) {
    if (key !== root && !key.startsWith(`${root}${path.sep}`)) continue;
    stops.delete(key);
    for (const stop of set) pending.push(stop());
  }
  // Retried: a process that registered no stop may still be writing here.
  const remove = (): void => rmSync(dir, { recursive: true, force: true, maxRetries: 5, retryDelay: 100 });
  if (pending.length === 0) return remove();
  return Promise.allSettled(pending).then(remove);
}
