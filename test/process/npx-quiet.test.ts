/**
 * `npx sluice …` as a user types it in a shell prints only sluice's output.
 *
 * npm runs on the user's Node (often 20) while sluice runs on the Node 24
 * that `npm ci` puts into node_modules (the `node` devDependency). `npx
 * sluice` in the project links the project itself into npx's cache, and npm
 * checks the project's `engines` against the Node running npm: `>=24` there
 * printed two `EBADENGINE` warnings (ten lines) when it did so: the first
 * time a checkout runs `npx sluice` (a new user's first command, every CI
 * run). The test runs npx with the shell's PATH (no node_modules/.bin on it:
 * under `npm test` that would make npx itself run on Node 24 and hide the
 * problem) and an empty npm cache, so npx links the project as it does the
 * first time; offline, as the link needs nothing from a registry.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { ROOT, tempDir } from './harness.ts';

/** npm's cache for this file's runs: empty at the first one, as on a fresh machine. */
const npmCache = tempDir({ after }, 'sluice-npm-cache-');

/** PATH as a shell outside npm has it: without any node_modules/.bin that npm put first. */
function userPath(): string {
  return (process.env['PATH'] ?? '')
    .split(path.delimiter)
    .filter((dir) => dir !== '' && !dir.split(path.sep).includes('node_modules'))
    .join(path.delimiter);
}

/** The npx a user's shell finds. */
function userNpx(searchPath: string): string {
  const found = searchPath.split(path.delimiter).map((dir) => path.join(dir, 'npx')).find((p) => existsSync(p));
  assert.ok(found !== undefined, `no npx on the user's PATH (${searchPath}): npm is needed to run sluice's tools`);
  return found;
}

/** Runs `npx sluice <args>` from the project root as a user would, with this file's npm cache. */
function npxSluice(args: readonly string[]): { code: number | null; stdout: string; stderr: string } {
  const searchPath = userPath();
  const env: NodeJS.ProcessEnv = { ...process.env, PATH: searchPath };
  // npm sets these for its scripts (npm test); a user's shell has none of them.
  for (const key of Object.keys(env)) if (key.toLowerCase().startsWith('npm_')) delete env[key];
  env['npm_config_cache'] = npmCache;
  env['npm_config_offline'] = 'true';
  const res = spawnSync(userNpx(searchPath), ['sluice', ...args], { cwd: ROOT, env, encoding: 'utf8', timeout: 60_000 });
  return { code: res.status, stdout: res.stdout, stderr: res.stderr };
}

// The first run links the project into npx's cache (where the warnings came from); the second finds it there.
test('npx sluice --help, the first time in a checkout, prints sluice\'s help and nothing from npm', () => {
  const res = npxSluice(['--help']);
  assert.equal(res.code, 0, res.stderr);
  assert.match(res.stdout, /^Usage: sluice /);
  assert.doesNotMatch(res.stderr, /EBADENGINE/);
  assert.doesNotMatch(res.stderr, /npm (warn|WARN|notice|error|ERR)/);
  assert.equal(res.stderr, '');
});

test('npx sluice <command> --help, once npx has the project, is as quiet', () => {
  const res = npxSluice(['table', 'list', '--help']);
  assert.equal(res.code, 0, res.stderr);
  assert.match(res.stdout, /^Usage: sluice table list/);
  assert.equal(res.stderr, '');
});
