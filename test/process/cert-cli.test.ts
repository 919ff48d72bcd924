/**
 * `sluice cert` run as a real process: the files it writes (modes, no
 * overwrites), its exit codes (2 for usage errors, 1 for `check` failures),
 * `list`, and that what it writes serves mutual TLS as written.
 */
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, existsSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { loadNodeCerts } from '../../src/security/certs/load-cert-pair.ts';
import { handshake } from '../support/tls-handshake.ts';
import { runCli, tempDir } from './harness.ts';

const mode = (file: string): number => statSync(file).mode & 0o777;

function ok(args: string[]): string {
  const res = runCli(args);
  assert.equal(res.code, 0, `sluice ${args.join(' ')}: ${res.stderr}`);
  return res.stdout;
}

describe('sluice cert', () => {
  let dir: string;
  let certs: string;
  let caKey: string;
  const cleanups: (() => void)[] = [];
  before(() => {
    dir = tempDir({ after: (fn) => cleanups.push(fn) });
    certs = path.join(dir, 'certs');
    caKey = path.join(dir, 'safe', 'ca.key');
    ok(['cert', 'create-ca', '--certs-dir', certs, '--ca-key', caKey, '--cluster-id', 'prod']);
    const sign = ['--ca-cert', path.join(certs, 'ca.crt'), '--ca-key', caKey];
    ok(['cert', 'create-node', 'n1', '127.0.0.1', 'localhost', '--certs-dir', path.join(certs, 'n1'), ...sign]);
    ok(['cert', 'create-node', 'n2', '127.0.0.1', 'n2.example', '--certs-dir', path.join(certs, 'n2'), ...sign]);
    ok(['cert', 'create-client', 'alice', '--certs-dir', path.join(certs, 'alice'), ...sign]);
  });
  after(() => {
    for (const fn of cleanups) fn();
  });

  test('keys are 0600, certificates 0644; each node dir holds the CA copy, its certificate and key', () => {
    assert.equal(mode(caKey), 0o600);
    assert.equal(mode(path.join(certs, 'ca.crt')), 0o644);
    for (const n of ['n1', 'n2']) {
      assert.equal(mode(path.join(certs, n, 'node.key')), 0o600);
      assert.equal(mode(path.join(certs, n, 'node.crt')), 0o644);
      assert.equal(readFileSync(path.join(certs, n, 'ca.crt'), 'utf8'), readFileSync(path.join(certs, 'ca.crt'), 'utf8'));
    }
    assert.equal(mode(path.join(certs, 'alice', 'client.alice.key')), 0o600);
    assert.equal(existsSync(path.join(certs, 'n1', 'ca.key')), false, 'the CA key stays where --ca-key put it');
  });

  test('what it wrote serves mutual TLS: n2 to n1 as nodes of cluster prod, alice as a client', async () => {
    const n1 = await loadNodeCerts(path.join(certs, 'n1'));
    const n2 = await loadNodeCerts(path.join(certs, 'n2'));
    const node = await handshake(n1.tls, n2.tls);
    assert.equal(node.ok, true, JSON.stringify(node));
    assert.deepEqual(node.clientIdentity, { clusterId: 'prod', role: 'node', name: 'n2' });
    assert.deepEqual(node.serverIdentity, { clusterId: 'prod', role: 'node', name: 'n1' });
    const alice = path.join(certs, 'alice');
    const client = await handshake(n1.tls, { ca: readFileSync(path.join(alice, 'ca.crt'), 'utf8'), cert: readFileSync(path.join(alice, 'client.alice.crt'), 'utf8'), key: readFileSync(path.join(alice, 'client.alice.key'), 'utf8') });
    assert.equal(client.ok, true, JSON.stringify(client));
    assert.deepEqual(client.clientIdentity, { clusterId: 'prod', role: 'client', name: 'alice' });
  });

  test('a node certificate of another CA made by the CLI fails the handshake', async (t) => {
    const other = tempDir(t);
    ok(['cert', 'create-ca', '--certs-dir', other, '--ca-key', path.join(other, 'safe', 'ca.key'), '--cluster-id', 'prod']);
    ok(['cert', 'create-node', 'n2', '127.0.0.1', '--certs-dir', path.join(other, 'n2'), '--ca-cert', path.join(other, 'ca.crt'), '--ca-key', path.join(other, 'safe', 'ca.key')]);
    const n1 = await loadNodeCerts(path.join(certs, 'n1'));
    const foreign = await loadNodeCerts(path.join(other, 'n2'));
    const out = await handshake(n1.tls, { ...foreign.tls, ca: n1.tls.ca });
    assert.equal(out.ok, false);
  });

  test('list shows role, SANs, expiry and key match', () => {
    const report = JSON.parse(ok(['cert', 'list', '--certs-dir', path.join(certs, 'n1'), '--ca-key', caKey, '--json'])) as { certs: { file: string; role: string; name?: string; sans: string[]; daysLeft: number; key: string }[]; problems: string[] };
    assert.deepEqual(report.problems, []);
    const byFile = Object.fromEntries(report.certs.map((c) => [c.file, c]));
    assert.equal(byFile['ca.crt']?.role, 'ca');
    assert.equal(byFile['ca.crt']?.key, 'matches');
    assert.equal(byFile['node.crt']?.role, 'node');
    assert.equal(byFile['node.crt']?.name, 'n1');
    assert.deepEqual(byFile['node.crt']?.sans, ['URI:sluice://prod/node/n1', 'IP Address:127.0.0.1', 'DNS:localhost']);
    assert.equal(byFile['node.crt']?.key, 'matches');
    assert.ok((byFile['node.crt']?.daysLeft ?? 0) >= 364);
    const text = ok(['cert', 'list', '--certs-dir', path.join(certs, 'n1')]);
    assert.match(text, /node\.crt\n {2}subject: {3}CN=node n1/);
    assert.match(text, /role: {6}node n1 of cluster prod/);
    assert.match(text, /days left/);
  });

  test('check: 0 for fresh certificates, 1 under 30 days left, for a key that does not match, or a broken chain', (t) => {
    assert.match(ok(['cert', 'check', '--certs-dir', path.join(certs, 'n1')]), /^ok: 2 certificate\(s\)/);
    const sign = ['--ca-cert', path.join(certs, 'ca.crt'), '--ca-key', caKey];
    const short = path.join(tempDir(t), 'short');
    ok(['cert', 'create-node', 'n3', 'localhost', '--certs-dir', short, '--lifetime', '20d', ...sign]);
    let res = runCli(['cert', 'check', '--certs-dir', short]);
    assert.equal(res.code, 1, res.stderr);
    assert.match(res.stdout, /FAIL node\.crt: expires in 19 days/);
    assert.equal(runCli(['cert', 'check', '--certs-dir', short, '--min-days', '10']).code, 0);

    const mismatched = path.join(tempDir(t), 'mismatched');
    ok(['cert', 'create-node', 'n4', 'localhost', '--certs-dir', mismatched, ...sign]);
    copyFileSync(path.join(certs, 'n2', 'node.key'), path.join(mismatched, 'node.key'));
    res = runCli(['cert', 'check', '--certs-dir', mismatched]);
    assert.equal(res.code, 1);
    assert.match(res.stdout, /FAIL node\.crt: its key .*node\.key does not match it/);

    const broken = path.join(tempDir(t), 'broken');
    ok(['cert', 'create-ca', '--certs-dir', broken, '--ca-key', path.join(broken, '..', 'broken-ca.key')]);
    copyFileSync(path.join(certs, 'n1', 'node.crt'), path.join(broken, 'node.crt'));
    copyFileSync(path.join(certs, 'n1', 'node.key'), path.join(broken, 'node.key'));
    res = runCli(['cert', 'check', '--certs-dir', broken]);
    assert.equal(res.code, 1);
    assert.match(res.stdout, /FAIL node\.crt: chain broken/);
  });

  test('existing files are never overwritten (exit 1); usage errors exit 2', () => {
    const before = readFileSync(path.join(certs, 'ca.crt'), 'utf8');
    let res = runCli(['cert', 'create-ca', '--certs-dir', certs, '--ca-key', path.join(dir, 'other.key')]);
    assert.equal(res.code, 1);
    assert.match(res.stderr, /ca\.crt exists; refusing to overwrite it/);
    assert.equal(existsSync(path.join(dir, 'other.key')), false, 'nothing written on refusal');
    assert.equal(readFileSync(path.join(certs, 'ca.crt'), 'utf8'), before);
    res = runCli(['cert', 'create-node', 'n1', 'localhost', '--certs-dir', path.join(certs, 'n1'), '--ca-key', caKey]);
    assert.equal(res.code, 1);
    assert.match(res.stderr, /node\.crt exists/);

    const usage: string[][] = [
      ['cert', 'create-ca', '--certs-dir', path.join(dir, 'u1'), '--ca-key', path.join(dir, 'u1.key'), '--lifetime', '5w'],
      ['cert', 'create-ca', '--certs-dir', path.join(dir, 'u2'), '--ca-key', path.join(dir, 'u2.key'), '--cluster-id', 'a/b'],
      ['cert', 'create-node', 'bad id', 'localhost', '--certs-dir', path.join(dir, 'u3'), '--ca-cert', path.join(certs, 'ca.crt'), '--ca-key', caKey],
      ['cert', 'create-node', 'n9', 'bad_host!', '--certs-dir', path.join(dir, 'u4'), '--ca-cert', path.join(certs, 'ca.crt'), '--ca-key', caKey],
      ['cert', 'create-node', 'n9', 'localhost', '--certs-dir', path.join(dir, 'u5'), '--ca-key', caKey],
      ['cert', 'check', '--certs-dir', certs, '--min-days', 'soon'],
    ];
    for (const args of usage) {
      res = runCli(args);
      assert.equal(res.code, 2, `${args.join(' ')}: ${res.stderr}`);
      assert.match(res.stderr, /^sluice: /);
      assert.doesNotMatch(res.stderr, /\n\s+at /, 'one line, no stack');
    }
    for (const d of ['u1', 'u2', 'u3', 'u4', 'u5']) assert.equal(existsSync(path.join(dir, d, 'node.key')) || existsSync(path.join(dir, `${d}.key`)), false, d);
  });

  test('--help lists the cert commands', () => {
    const help = ok(['cert', '--help']);
    for (const command of ['create-ca', 'create-node', 'create-client', 'list', 'check']) assert.match(help, new RegExp(`\\n  ${command} `));
    assert.match(ok(['cert', 'create-node', '--help']), /Usage: sluice cert create-node \[options\] <node-id> <host\.\.\.>/);
  });
});
