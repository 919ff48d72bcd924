/**
 * Kafka over TLS with SASL, against a real broker with a SASL_SSL listener
 * (SCRAM credentials made at format time; its certificate made with
 * sluice's certificate library): `sluice serve --kafka-tls --kafka-sasl
 * scram-sha-512` and `sluice kafka … scram-sha-256` consume a topic into a
 * table; a wrong password shows in the source's status with what to check,
 * and the source logs in once the file is fixed (read at each login); a
 * broker certificate the CA does not vouch for, and bad flags or files,
 * stop `sluice kafka` with what to fix.
 */
import assert from 'node:assert/strict';
import { chmod, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { after, test } from 'node:test';
import { ProduceAcks, Producer } from '@platformatic/kafka';
import { createCa, createNodeCert } from '../../src/security/certs/issue.ts';
import { KafkaBroker } from './kafka.ts';
import { startSluiceKafka } from './kafka-tools.ts';
import { NodeProcess, authHeaders, http, runCli, sleep, tempDir } from './harness.ts';

const USER = { name: 'sluice', password: 'kafka-pw-3e8d1c907a' };
const TABLE = {
  name: 'events_in',
  shardKey: 'k',
  fields: [
    { name: 'k', type: 'string', required: true },
    { name: 'n', type: 'int', required: true },
  ],
};

// One broker for the file, made at load: after() registered here runs when the file ends.
const fileOwner = { after };
const dir = tempDir(fileOwner, 'sluice-kafka-security-');
const notAfter = new Date(Date.now() + 86_400_000);
const ca = await createCa({ clusterId: 'kafka-test', notAfter });
const brokerCert = await createNodeCert({ certPem: ca.certPem, keyPem: ca.keyPem }, { nodeId: 'kafka', hosts: ['127.0.0.1', 'localhost'], notAfter });
const broker = await KafkaBroker.start(fileOwner, { saslSsl: { certPem: brokerCert.certPem, keyPem: brokerCert.keyPem, users: [USER] } });
const caFile = path.join(dir, 'kafka-ca.crt');
await writeFile(caFile, ca.certPem);
const otherCaFile = path.join(dir, 'other-ca.crt');
await writeFile(otherCaFile, (await createCa({ clusterId: 'other', notAfter })).certPem);
const passwordFile = await secretFile('kafka-password', `${USER.password}\n`);

async function secretFile(name: string, text: string, mode = 0o600): Promise<string> {
  const file = path.join(dir, name);
  await writeFile(file, text, { mode });
  await chmod(file, mode);
  return file;
}

function saslBootstrap(): string {
  assert.ok(broker.saslBootstrap !== undefined);
  return broker.saslBootstrap;
}

/** Produces `n` messages `{k, n}` to a new topic over the PLAINTEXT listener. */
async function topicWith(topic: string, n: number): Promise<void> {
  await broker.createTopic(topic, 2);
  const producer = new Producer({ ...broker.clientOptions(`producer-${topic}`), acks: ProduceAcks.ALL, idempotent: true });
  try {
    await producer.send({ messages: Array.from({ length: n }, (_, i) => ({ topic, key: Buffer.from(`k${i % 7}`), value: Buffer.from(JSON.stringify({ k: `k${i % 7}`, n: i })) })) });
  } finally {
    await producer.close();
  }
}

interface SourceStatus {
  state: string;
  progress: { records: number };
  error?: string;
}

async function sourceStatus(url: string): Promise<SourceStatus | undefined> {
  return ((await http(`${url}/v1/sources`)).body.sources as (SourceStatus & { kind: string })[]).find((s) => s.kind === 'kafka');
}

async function waitFor(what: string, check: () => Promise<boolean>, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(100);
  }
}

async function tableRows(url: string, table: string): Promise<number> {
  const text = await (await fetch(`${url}/v1/tables/${table}/export`, { headers: authHeaders() })).text();
  return text.split('\n').filter((l) => l.length > 0).length;
}

function serveArgs(topic: string, table: string, security: readonly string[]): string[] {
  return ['--kafka-brokers', saslBootstrap(), '--kafka-topic', topic, '--kafka-table', table, ...security];
}

test('sluice serve consumes over SASL_SSL with SCRAM-SHA-512; the password is never logged', { timeout: 120_000 }, async (t) => {
  await topicWith('tls-in', 500);
  const security = ['--kafka-tls', '--kafka-ca', caFile, '--kafka-sasl', 'scram-sha-512', '--kafka-user', USER.name, '--kafka-password-file', passwordFile];
  const node = await NodeProcess.start(t, { dataDir: tempDir(t), args: serveArgs('tls-in', TABLE.name, security) });
  assert.equal((await http(`${node.url}/v1/tables`, { method: 'POST', body: JSON.stringify(TABLE) })).status, 201);
  await waitFor('500 records over SASL_SSL', async () => (await tableRows(node.url, TABLE.name)) === 500);
  assert.equal((await sourceStatus(node.url))?.state, 'running');
  assert.equal(node.events('kafka_sasl_plaintext').length, 0);
  assert.ok(!JSON.stringify(node.logs).includes(USER.password) && !node.stderr.includes(USER.password), 'the Kafka password is never logged');
});

test('a wrong Kafka password shows in the source status with what to check; fixing the file lets the source in', { timeout: 120_000 }, async (t) => {
  await topicWith('fix-in', 200);
  const file = await secretFile('fixable-password', 'wrong-password\n');
  const security = ['--kafka-tls', '--kafka-ca', caFile, '--kafka-sasl', 'scram-sha-512', '--kafka-user', USER.name, '--kafka-password-file', file, '--kafka-retries', '0'];
  const node = await NodeProcess.start(t, { dataDir: tempDir(t), args: serveArgs('fix-in', 'fixed', security) });
  assert.equal((await http(`${node.url}/v1/tables`, { method: 'POST', body: JSON.stringify({ ...TABLE, name: 'fixed' }) })).status, 201);
  await waitFor('the login failure in the status', async () => /SASL authentication failed/.test((await sourceStatus(node.url))?.error ?? ''));
  const failed = await sourceStatus(node.url);
  assert.equal(failed?.state, 'failed');
  assert.match(failed?.error ?? '', /SASL authentication failed.*\(check --kafka-sasl, --kafka-user and the password in --kafka-password-file\)/);
  await writeFile(file, `${USER.password}\n`);
  await waitFor('200 records once the password is right', async () => (await tableRows(node.url, 'fixed')) === 200);
});

test('sluice kafka consumes over SASL_SSL with SCRAM-SHA-256; an untrusted broker certificate stops it with what to check', { timeout: 120_000 }, async (t) => {
  await topicWith('cli-in', 300);
  const node = await NodeProcess.start(t, { dataDir: tempDir(t) });
  assert.equal((await http(`${node.url}/v1/tables`, { method: 'POST', body: JSON.stringify({ ...TABLE, name: 'cli' }) })).status, 201);
  const base = ['--brokers', saslBootstrap(), '--topic', 'cli-in', '--table', 'cli', '--url', node.url, '--status-every-ms', '0', '--retries', '0'];
  const login = ['--kafka-sasl', 'scram-sha-256', '--kafka-user', USER.name, '--kafka-password-file', passwordFile];

  const untrusted = startSluiceKafka(t, [...base, '--kafka-tls', '--kafka-ca', otherCaFile, ...login]);
  assert.equal(await untrusted.exited, 1, untrusted.output());
  assert.match(untrusted.output(), /cannot start the Kafka source: .*(unable to verify|certificate).*\(check --kafka-ca: the CA that issued the brokers' certificates\)/);

  const run = startSluiceKafka(t, [...base, '--kafka-tls', '--kafka-ca', caFile, ...login]);
  await waitFor('300 records through sluice kafka', async () => (await tableRows(node.url, 'cli')) === 300);
  run.child.kill('SIGTERM');
  assert.equal(await run.exited, 0, run.output());
  assert.ok(!run.output().includes(USER.password));
});

test('Kafka security flags: partners required, secret files private, all checked before any dial', async () => {
  const base = ['kafka', '--brokers', '127.0.0.1:1', '--topic', 't', '--table', 't', '--url', 'http://127.0.0.1:1'];
  const noUser = runCli([...base, '--kafka-sasl', 'scram-sha-512']);
  assert.equal(noUser.code, 2, noUser.stderr);
  assert.match(noUser.stderr, /--kafka-sasl scram-sha-512 needs --kafka-user and --kafka-password-file/);
  const caWithoutTls = runCli([...base, '--kafka-ca', caFile]);
  assert.equal(caWithoutTls.code, 2, caWithoutTls.stderr);
  assert.match(caWithoutTls.stderr, /--kafka-ca needs --kafka-tls/);
  const open = await secretFile('open-password', 'x', 0o644);
  const shared = runCli([...base, '--kafka-sasl', 'plain', '--kafka-user', 'u', '--kafka-password-file', open]);
  assert.equal(shared.code, 2, shared.stderr);
  assert.match(shared.stderr, /--kafka-password-file \S+ is readable by group or others \(mode 0644\)/);
  const serve = runCli(['serve', '--kafka-tls']);
  assert.equal(serve.code, 2, serve.stderr);
  assert.match(serve.stderr, /--kafka-tls, --kafka-ca, --kafka-sasl, --kafka-user and --kafka-password-file need --kafka-brokers/);
});
