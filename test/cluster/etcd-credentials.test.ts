/**
 * A node's etcd credentials without an etcd: which flag combinations
 * config refuses, the plaintext-URL warning, how secret and certificate
 * files are read, and the etcd3 internals the node relies on (the
 * election's key layout, the watch re-login hook). The real handshakes
 * and RBAC are in test/process/etcd-security.test.ts.
 */
import assert from 'node:assert/strict';
import { chmod, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { Writable } from 'node:stream';
import { test } from 'node:test';
import { Etcd3 } from 'etcd3';
import { pino } from 'pino';
import { resolveConfig, type NodeConfig } from '../../src/config.ts';
import { isSluiceError } from '../../src/core/errors.ts';
import { EtcdKeys } from '../../src/cluster/metadata/etcd-keys.ts';
import { warnPlaintextEtcd } from '../../src/cluster/metadata/etcd-connect.ts';
import { reauthenticateWatchStreams } from '../../src/cluster/metadata/etcd-watch-reauth.ts';
import { readCaFile, readClientPair, readSecretFile } from '../../src/security/secret-file.ts';
import { makeEtcdCerts } from '../process/etcd-auth.ts';
import { tempDir } from '../support/temp-dir.ts';

const HTTPS = { etcdUrls: ['https://etcd-1:2379', 'https://etcd-2:2379'] };

function problems(overrides: Partial<NodeConfig>): string[] {
  try {
    // A cluster node also needs its peer certificates (peerProblems); they are not under test here.
    resolveConfig({ certsDir: 'certs', ...overrides });
    return [];
  } catch (err) {
    assert.ok(isSluiceError(err, 'INVALID_ARGUMENT'), String(err));
    return err.details.map((d) => d.message);
  }
}

test('config: etcd credentials go with their partners, TLS files with https:// URLs, and all with --etcd', () => {
  assert.deepEqual(problems({ ...HTTPS, etcdCaFile: 'ca', etcdCertFile: 'c', etcdKeyFile: 'k', etcdUser: 'sluice', etcdPasswordFile: 'p' }), []);
  assert.deepEqual(problems({ ...HTTPS }), [], 'https:// with the system CAs');
  assert.deepEqual(problems({ etcdUrls: ['http://127.0.0.1:2379'], etcdUser: 'sluice', etcdPasswordFile: 'p' }), [], 'a user over plain HTTP (warned, not refused)');
  assert.match(problems({ etcdUser: 'sluice', etcdPasswordFile: 'p' }).join(), /need etcd URLs \(--etcd\)/);
  assert.match(problems({ etcdUrls: ['http://etcd:2379'], etcdCaFile: 'ca' }).join(), /etcd TLS files .* need https:\/\/ etcd URLs/);
  assert.match(problems({ etcdUrls: ['https://a:2379', 'http://b:2379'] }).join(), /all https:\/\/ or all http:\/\//);
  assert.match(problems({ ...HTTPS, etcdCaFile: 'ca', etcdCertFile: 'c' }).join(), /etcdCertFile \(--etcd-cert\) and etcdKeyFile \(--etcd-key\) go together/);
  assert.match(problems({ ...HTTPS, etcdCertFile: 'c', etcdKeyFile: 'k' }).join(), /needs the CA of etcd's server certificate \(--etcd-ca\)/);
  assert.match(problems({ ...HTTPS, etcdPasswordFile: 'p' }).join(), /etcdUser \(--etcd-user\) and etcdPasswordFile \(--etcd-password-file\) go together/);
});

test('a plain-HTTP etcd URL off this machine is warned about; loopback and https:// are not', () => {
  const lines: Record<string, unknown>[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      lines.push(JSON.parse(chunk.toString()) as Record<string, unknown>);
      done();
    },
  });
  const urls = ['http://10.1.2.3:2379', 'etcd.internal:2379', 'http://127.0.0.1:2379', 'http://localhost:2379', 'http://[::1]:2379', 'https://etcd.internal:2379'];
  warnPlaintextEtcd(urls, pino({ level: 'warn' }, sink));
  assert.deepEqual(lines.map((l) => [l['event'], l['url']]), [['etcd_plaintext', 'http://10.1.2.3:2379'], ['etcd_plaintext', 'etcd.internal:2379']]);
  assert.match(String(lines[0]?.['msg']), /plain HTTP.*use https:\/\/ with --etcd-ca/);
});

test('secret files: trimmed, refused when empty or open to group or others; certificate files checked before any dial', async (t) => {
  const dir = tempDir(t);
  const file = path.join(dir, 'password');
  await writeFile(file, '  s3cret-pw \n', { mode: 0o600 });
  assert.equal(await readSecretFile(file, '--etcd-password-file'), 's3cret-pw');
  await chmod(file, 0o640);
  await assert.rejects(readSecretFile(file, '--etcd-password-file'), /--etcd-password-file \S+ is readable by group or others \(mode 0640\).*chmod 600/);
  const empty = path.join(dir, 'empty');
  await writeFile(empty, '\n', { mode: 0o600 });
  await assert.rejects(readSecretFile(empty, '--kafka-password-file'), /--kafka-password-file \S+ is empty/);
  await assert.rejects(readSecretFile(path.join(dir, 'absent'), '--etcd-password-file'), /cannot read --etcd-password-file/);

  const certs = await makeEtcdCerts(dir);
  assert.ok((await readCaFile(certs.client.ca, '--etcd-ca')).length > 0);
  await assert.rejects(readCaFile(file, '--etcd-ca'), /--etcd-ca \S+ holds no PEM certificate/);
  const flags = { cert: '--etcd-cert', key: '--etcd-key' };
  await readClientPair(certs.client.cert, certs.client.key, flags);
  await assert.rejects(readClientPair(certs.client.cert, certs.foreign.key, flags), /--etcd-key \S+foreign\.key is not the key of --etcd-cert \S+client\.crt/);
  await chmod(certs.client.key, 0o644);
  await assert.rejects(readClientPair(certs.client.cert, certs.client.key, flags), /--etcd-key \S+ is readable by group or others \(mode 0644\)/);
});

test('etcd3 internals the node relies on: where election keys live, and the watch re-login hook', () => {
  // A role must grant this prefix too (docs/operations.md); if etcd3 moves the keys, this fails first.
  const keys = new EtcdKeys('sluice/');
  const client = new Etcd3({ hosts: 'http://127.0.0.1:1' });
  try {
    const election = client.election(keys.election) as unknown as { namespace: { prefix: Buffer } };
    assert.equal(election.namespace.prefix.toString(), keys.electionKeys);
    assert.equal(keys.electionKeys, 'election/sluice/election/');
  } finally {
    client.close();
  }
  reauthenticateWatchStreams();
  reauthenticateWatchStreams();
});
