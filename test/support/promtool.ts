/**
 * Prometheus's own linter and rule checker, `promtool` from Debian's
 * `prometheus` package (scripts/test.js installs it when missing).
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';

/** Where promtool is: $SLUICE_PROMTOOL_BIN, or Debian's path. */
export const PROMTOOL_BIN = process.env['SLUICE_PROMTOOL_BIN'] ?? '/usr/bin/promtool';

/** One promtool run. */
export interface PromtoolResult {
  readonly code: number | null;
  /** stdout and stderr together: promtool reports lint problems on either, depending on the version. */
  readonly output: string;
}

/** Runs `promtool <args>` with `input` on stdin; throws a clear error when promtool is missing. */
export function promtool(args: readonly string[], input?: string): PromtoolResult {
  if (!existsSync(PROMTOOL_BIN)) {
    throw new Error(`${PROMTOOL_BIN} is missing: apt-get install --no-install-recommends prometheus (npm test does it), or set SLUICE_PROMTOOL_BIN`);
  }
  const res = spawnSync(PROMTOOL_BIN, args, { encoding: 'utf8', timeout: 30_000, ...(input === undefined ? {} : { input }) });
  if (res.error !== undefined) throw res.error;
  return { code: res.status, output: `${res.stdout}${res.stderr}` };
}

/** `promtool check metrics` on Prometheus text: its exit code and every problem it names. */
export function lintMetrics(text: string): PromtoolResult {
  return promtool(['check', 'metrics'], text);
}
