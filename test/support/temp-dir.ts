/** Temporary directories for tests, removed when the test (or the file, with node:test's `after`) ends. */
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

/** A fresh temporary directory removed by `owner.after`. */
export function tempDir(owner: { after: (fn: () => void) => void }, prefix = 'sluice-'): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), prefix));
  // Retried: after-hooks run in the order registered, so a process a test started later may still be writing here.
  owner.after(() => rmSync(dir, { recursive: true, force: true, maxRetries: 5, retryDelay: 100 }));
  return dir;
}
