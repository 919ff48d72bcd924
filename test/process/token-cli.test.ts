/**
 * `sluice token` end to end on a real node: create (printed once), list,
 * rotate, revoke, whoami; the CLI finding ./sluice-data/admin.token by
 * itself against the default node; --bootstrap-token-file; and
 * reset-admin, refused while the node runs, a way back in once it stops.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { NodeProcess, ROOT, http, runCli, tempDir } from './harness.ts';

const BIN = path.join(ROOT, 'bin', 'sluice.js');

test('token create, list, rotate, revoke and whoami through the CLI', async (t) => {
  const node = await NodeProcess.start(t, { dataDir: tempDir(t, 'sluice-token-cli-') });
  const url = ['--url', node.url];
  const created = runCli(['token', 'create', '--name', 'ingest-bot', '--scope', 'write:payments', '--scope', 'read:pay*', '--expires', '90d', ...url]);
  assert.equal(created.code, 0, created.stderr);
  const token = created.stdout.trim();
  assert.match(token, /^slc_[0-9a-f]{16}_[0-9A-Za-z]{49}$/, 'the secret alone on stdout');
  assert.match(created.stderr, /ingest-bot.*write:payments,read:pay\*.*expires 20/);
  const id = token.slice(4, 20);
  const who = runCli(['token', 'whoami', ...url], undefined, { SLUICE_TOKEN: token });
  assert.equal(who.code, 0, who.stderr);
  assert.match(who.stdout, new RegExp(`^${id}\\tingest-bot\\twrite:payments,read:pay\\*\\texpires `));
  const list = runCli(['token', 'list', ...url]);
  assert.match(list.stdout, new RegExp(`^${id}\\tingest-bot\\t`, 'm'));
  assert.ok(!list.stdout.includes(token), 'list never shows a secret');
  const rotated = runCli(['token', 'rotate', id, '--grace', '1h', ...url]);
  assert.equal(rotated.code, 0, rotated.stderr);
  const successor = rotated.stdout.trim();
  assert.notEqual(successor, token);
  assert.equal((await http(`${node.url}/v1/auth/whoami`, { token })).status, 200, 'the old one works during the grace');
  assert.equal((await http(`${node.url}/v1/auth/whoami`, { token: successor })).status, 200);
  const revoked = runCli(['token', 'revoke', id, ...url]);
  assert.equal(revoked.code, 0, revoked.stderr);
  assert.equal((await http(`${node.url}/v1/auth/whoami`, { token })).status, 401);
  const denied = runCli(['token', 'list', ...url], undefined, { SLUICE_TOKEN: successor });
  assert.equal(denied.code, 1);
  assert.match(denied.stderr, /PERMISSION_DENIED \(HTTP 403\): .*lacks admin/);
  const none = runCli(['token', 'list', ...url], undefined, { SLUICE_TOKEN: '' });
  assert.equal(none.code, 1);
  assert.match(none.stderr, /UNAUTHENTICATED.*\n.*--token-file, --token or \$SLUICE_TOKEN/);
});

test('against the default node the CLI reads ./sluice-data/admin.token; --bootstrap-token-file names the admin token; reset-admin needs the node stopped', async (t) => {
  const cwd = tempDir(t, 'sluice-token-cwd-');
  const dataDir = path.join(cwd, 'sluice-data');
  const first = await NodeProcess.start(t, { dataDir, bootstrapToken: null });
  const printed = /slc_\S+/.exec(first.stderr)?.[0] ?? '';
  const cli = (args: string[], env: Record<string, string> = {}): { code: number | null; stdout: string; stderr: string } => {
    // No SLUICE_TOKEN: the CLI must find the token itself; SLUICE_URL makes this node "the default node".
    const { SLUICE_TOKEN: _drop, ...rest } = process.env;
    const res = spawnSync(process.execPath, [BIN, ...args], { cwd, encoding: 'utf8', env: { ...rest, SLUICE_URL: first.url, ...env }, timeout: 60_000 });
    return { code: res.status, stdout: res.stdout, stderr: res.stderr };
  };
  const who = cli(['token', 'whoami']);
  assert.equal(who.code, 0, who.stderr);
  assert.match(who.stdout, /\tadmin\tadmin\t/);
  assert.equal(cli(['token', 'whoami', '--url', first.url.replace('127.0.0.1', 'localhost')]).code, 1, 'another URL than the default gets no token by itself');
  const whileRunning = cli(['token', 'reset-admin', '--data-dir', dataDir]);
  assert.equal(whileRunning.code, 2, 'the data dir lock says the node runs');
  assert.match(whileRunning.stderr, /in use by process/);
  await first.kill('SIGTERM');

  const reset = cli(['token', 'reset-admin', '--data-dir', dataDir]);
  assert.equal(reset.code, 0, reset.stderr);
  const fresh = reset.stdout.trim();
  assert.match(fresh, /^slc_/);
  assert.equal(readFileSync(path.join(dataDir, 'admin.token'), 'utf8').trim(), fresh);
  assert.equal(statSync(path.join(dataDir, 'admin.token')).mode & 0o777, 0o600);

  // Restart with an operator's admin token from a file: it, the reset one and the first one all work.
  const secrets = path.join(cwd, 'secrets');
  mkdirSync(secrets, { mode: 0o700 });
  const file = path.join(secrets, 'bootstrap');
  writeFileSync(file, 'an-operator-chosen-admin-token-from-a-file-0042\n', { mode: 0o600 });
  const second = await NodeProcess.start(t, { dataDir, bootstrapToken: null, args: ['--bootstrap-token-file', file] });
  for (const token of ['an-operator-chosen-admin-token-from-a-file-0042', fresh, printed]) assert.equal((await http(`${second.url}/v1/auth/tokens`, { token })).status, 200, token.slice(0, 12));
  const tooShort = path.join(secrets, 'short');
  writeFileSync(tooShort, 'short\n', { mode: 0o600 });
  const refused = NodeProcess.spawn({ dataDir: tempDir(t), bootstrapToken: null, args: ['--bootstrap-token-file', tooShort] });
  t.after(() => refused.kill('SIGKILL').then(() => undefined));
  assert.equal((await refused.waitExit()).code, 2);
  assert.match(refused.stderr, /bootstrap token is 32 to 512 printable characters/);
});
