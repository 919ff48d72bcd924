#!/usr/bin/env node
// `npm test`: type-check, then every test file with node:test. Runs on the
// project's Node 24 (npm puts node_modules/.bin first on PATH).
import { spawnSync } from 'node:child_process';
import { existsSync, globSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const [major] = process.versions.node.split('.').map(Number);
if (major < 24) {
  console.error(`npm test needs Node >= 24 (got ${process.version}); run it through npm after npm ci`);
  process.exit(1);
}

function run(cmd, args) {
  console.log(`$ ${[path.relative(root, cmd) || cmd, ...args].join(' ')}`);
  const res = spawnSync(cmd, args, { cwd: root, stdio: 'inherit' });
  if (res.status !== 0) process.exit(res.status ?? 1);
}

/** etcd for the cluster tests: Debian's etcd-server, installed when missing (CI starts clean). */
function ensureEtcd() {
  const bin = process.env.SLUICE_ETCD_BIN ?? '/usr/bin/etcd';
  if (existsSync(bin)) return;
  console.log(`$ apt-get install -y etcd-server   (${bin} is missing)`);
  const install = () => spawnSync('apt-get', ['install', '-y', '-q', 'etcd-server'], { stdio: 'inherit', env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } });
  let res = install();
  if (res.status !== 0) {
    spawnSync('apt-get', ['update', '-q'], { stdio: 'inherit' });
    res = install();
  }
  if (res.status !== 0 || !existsSync(bin)) {
    console.error(`etcd is needed by the cluster tests and could not be installed: run \`apt-get install etcd-server\` as root, or set SLUICE_ETCD_BIN`);
    process.exit(1);
  }
}

ensureEtcd();
run(path.join(root, 'node_modules', '.bin', 'tsc'), ['--noEmit', '-p', '.']);
const only = process.argv.slice(2);
const files = only.length > 0 ? only : globSync('test/**/*.test.ts', { cwd: root }).sort();
run(process.execPath, ['--test', '--test-reporter=spec', ...files]);
