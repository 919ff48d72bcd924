/**
 * Single-record load with wrk (a C load generator: it leaves the CPU to the
 * server on a 2-core machine, which a Node client would not). Installed from
 * Debian's packages when missing; undefined when it cannot be had.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import path from 'node:path';

/** wrk's summary of one run. */
export interface WrkResult {
  readonly requestsPerSec: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly non2xx: number;
}

/** True when wrk is on PATH (after trying to install it once). */
export function ensureWrk(): boolean {
  if (spawnSync('wrk', ['--version']).error === undefined) return true;
  if (process.getuid?.() === 0) spawnSync('apt-get', ['install', '-y', '-q', 'wrk'], { stdio: 'ignore' });
  return spawnSync('wrk', ['--version']).error === undefined;
}

/**
 * POSTs one generated record per request to `url` for `seconds` over
 * `connections` connections; with `token`, every request carries
 * `Authorization: Bearer <token>`.
 */
export function wrkPost(dir: string, url: string, connections: number, seconds: number, token?: string): WrkResult {
  const script = path.join(dir, 'post.lua');
  writeFileSync(
    script,
    `wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
local i = 0
request = function()
  i = i + 1
  local body = string.format('{"account_id":"acct-%06d","txn_id":"tx-%010d","amount":"%d.%02d","currency":"EUR","ts":%d,"memo":"bench payment %04d for invoice INV-%06d"}', i % 100000, i, i % 1000, i % 100, 1764000000000 + i, i % 1000, i % 77777)
  return wrk.format(nil, nil, nil, body)
end
`,
  );
  return runWrk(script, url, connections, seconds, token);
}

/** Runs wrk with the Lua `script` against `url` and parses its summary. */
function runWrk(script: string, url: string, connections: number, seconds: number, token: string | undefined): WrkResult {
  const auth = token === undefined ? [] : ['-H', `Authorization: Bearer ${token}`];
  const out = execFileSync('wrk', ['-t1', `-c${connections}`, `-d${seconds}s`, '--latency', ...auth, '-s', script, url], { encoding: 'utf8' });
  const rps = Number(/Requests\/sec:\s+([0-9.]+)/.exec(out)?.[1]);
  const non2xx = Number(/Non-2xx or 3xx responses:\s+(\d+)/.exec(out)?.[1] ?? 0);
  return { requestsPerSec: rps, p50Ms: latency(out, '50%'), p99Ms: latency(out, '99%'), non2xx };
}

function latency(out: string, pct: string): number {
  const m = new RegExp(`${pct.replace('%', '%')}\\s+([0-9.]+)(us|ms|s)`).exec(out);
  if (m === null) return Number.NaN;
  const v = Number(m[1]);
  return m[2] === 'us' ? v / 1000 : m[2] === 's' ? v * 1000 : v;
}

/**
 * GETs `paths` in turn (request i: `paths[i % paths.length]`, on `baseUrl`)
 * for `seconds` over `connections` connections; with `token`, every
 * request carries `Authorization: Bearer <token>`. A path must not hold a
 * double quote or a backslash (they are written into a Lua string).
 */
export function wrkGet(dir: string, baseUrl: string, paths: readonly string[], connections: number, seconds: number, token?: string): WrkResult {
  if (paths.length === 0) throw new Error('wrkGet: no paths');
  for (const p of paths) if (/["\\\n]/.test(p)) throw new Error(`wrkGet: path ${p} cannot be quoted`);
  const script = path.join(dir, 'get.lua');
  writeFileSync(
    script,
    `local paths = {
${paths.map((p) => `"${p}",`).join('\n')}
}
local i = 0
request = function()
  i = i + 1
  return wrk.format("GET", paths[(i % #paths) + 1])
end
`,
  );
  return runWrk(script, baseUrl, connections, seconds, token);
}
