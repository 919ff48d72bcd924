/**
 * The incarnation registry of decision 49 (and the dead-letter topic) at a
 * source's start, against a real broker with ACLs: a SASL_SSL user that may
 * read the data topic but not create, read or write the registry gets a
 * PERMISSION_DENIED naming the topic and the operation, promptly; a user
 * given the pre-created topics without CREATE starts. And the clients a
 * start makes (Admin, registry consumer and producer, the group's consumer)
 * are all closed after stop, on success, on failure, and when stop comes
 * while the start is still under way (a node's SIGTERM during start). The
 * source runs in this process so its Kafka clients can be counted (the
 * library announces each one on `plt:kafka:instances`); its topics hold no
 * messages, so its door is never written to.
 */
import assert from 'node:assert/strict';
import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import { chmod, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { after, test, type TestContext } from 'node:test';
import { Admin, AclOperations, AclPermissionTypes, ResourcePatternTypes, ResourceTypes, type Base } from '@platformatic/kafka';
import { pino } from 'pino';
import { createCa, createNodeCert } from '../../src/security/certs/issue.ts';
import { KafkaSource } from '../../src/sources/kafka/kafka-source.ts';
import { kafkaSourceConfig, type KafkaSecurity } from '../../src/sources/kafka/kafka-source-config.ts';
import type { SourceDoor } from '../../src/ingest/ingest-door.ts';
import { KafkaBroker } from './kafka.ts';
import { sleep, tempDir } from './harness.ts';

const USER = { name: 'reader', password: 'kafka-pw-5a1f02c3' };
/** How long a refused start may take: the client's retries (2 here, 250 ms apart) and a few round trips, far under it. */
const REFUSAL_MS_MAX = 15_000;
/** How long closed clients may take to let their sockets go. */
const CLOSE_WAIT_MS = 5_000;

const fileOwner = { after };
const dir = tempDir(fileOwner, 'sluice-kafka-registry-');
const notAfter = new Date(Date.now() + 86_400_000);
const ca = await createCa({ clusterId: 'kafka-acl-test', notAfter });
const cert = await createNodeCert({ certPem: ca.certPem, keyPem: ca.keyPem }, { nodeId: 'kafka', hosts: ['127.0.0.1'], notAfter });
const broker = await KafkaBroker.start(fileOwner, { saslSsl: { certPem: cert.certPem, keyPem: cert.keyPem, users: [USER] }, acls: true });
const caFile = path.join(dir, 'ca.crt');
await writeFile(caFile, ca.certPem);
const passwordFile = path.join(dir, 'password');
await writeFile(passwordFile, USER.password, { mode: 0o600 });
await chmod(passwordFile, 0o600);
const LOGIN: KafkaSecurity = { tls: true, caFile, sasl: 'scram-sha-512', user: USER.name, passwordFile };
const SUPER: KafkaSecurity = { tls: false, caFile: '', sasl: 'none', user: '', passwordFile: '' };

const admin = new Admin({ ...broker.clientOptions('acl-test-admin'), timeout: 10_000 });
after(() => admin.close());

/** Every Kafka client this process makes while the test runs (the library announces each). */
function clientsMade(t: TestContext): Base[] {
  const made: Base[] = [];
  const onInstance = (message: unknown): void => {
    const { type, instance } = message as { type: string; instance: Base };
    if (type === 'admin' || type === 'consumer' || type === 'producer') made.push(instance);
  };
  subscribe('plt:kafka:instances', onInstance);
  t.after(async () => {
    unsubscribe('plt:kafka:instances', onInstance);
    // A client a failed test left open would keep this file's process alive: closed here, after the asserts.
    await Promise.all(made.filter((c) => !c.closed).map((c) => c.close().catch(() => undefined)));
  });
  return made;
}

/** TCP sockets this process holds open. */
function tcpSockets(): number {
  return process.getActiveResourcesInfo().filter((r) => r === 'TCPSocketWrap' || r === 'TLSWrap').length;
}

async function assertAllClosed(made: readonly Base[], socketsBefore: number, what: string): Promise<void> {
  const deadline = Date.now() + CLOSE_WAIT_MS;
  while ((made.some((c) => !c.closed) || tcpSockets() > socketsBefore) && Date.now() < deadline) await sleep(50);
  const open = made.filter((c) => !c.closed).map((c) => `${c.type} ${c.clientId}`);
  assert.deepEqual(open, [], `${what}: Kafka clients left open`);
  assert.ok(tcpSockets() <= socketsBefore, `${what}: ${tcpSockets() - socketsBefore} TCP sockets left open`);
}

/** A door no message reaches: the source's topics stay empty. */
const NO_WRITES: SourceDoor = {
  admit: () => Promise.reject(new Error('no message was produced, none should be written')),
  write: () => Promise.reject(new Error('no message was produced, none should be written')),
};

/** A source of topic `<name>-in` into table `name`, stopped when `t` ends (a refused one keeps reconnecting until then). */
function sourceOf(t: TestContext, name: string, registry: string, security: KafkaSecurity): KafkaSource {
  const brokers = [security.sasl === 'none' ? broker.bootstrap : (broker.saslBootstrap ?? '')];
  const config = kafkaSourceConfig({ brokers, topic: `${name}-in`, group: `g-${name}`, table: name, incarnationsTopic: registry, clientRetries: 2, security });
  const source = new KafkaSource(config, { door: NO_WRITES, hasPrimaryKey: () => false, log: pino({ level: 'silent' }) });
  t.after(() => source.stop());
  return source;
}

/** Allows `ops` on the literal topic or group `name` to the SASL user. */
async function allow(resourceType: number, name: string, ops: readonly number[]): Promise<void> {
  await admin.createAcls({
    creations: ops.map((operation) => ({
      resourceType: resourceType as never,
      resourceName: name,
      resourcePatternType: ResourcePatternTypes.LITERAL,
      principal: `User:${USER.name}`,
      host: '*',
      operation: operation as never,
      permissionType: AclPermissionTypes.ALLOW,
    })),
  });
}

/** The data topic, its dead-letter topic and the group, made and granted as an operator without CREATE for sluice would. */
async function readerSetUp(name: string): Promise<void> {
  await broker.createTopic(`${name}-in`, 1);
  await broker.createTopic(`${name}-in.dlq`, 1);
  await allow(ResourceTypes.TOPIC, `${name}-in`, [AclOperations.READ, AclOperations.DESCRIBE]);
  await allow(ResourceTypes.TOPIC, `${name}-in.dlq`, [AclOperations.WRITE, AclOperations.DESCRIBE]);
  await allow(ResourceTypes.GROUP, `g-${name}`, [AclOperations.READ]);
}

async function registryTopic(name: string): Promise<void> {
  await admin.createTopics({ topics: [name], partitions: 1, replicas: 1, configs: [{ name: 'cleanup.policy', value: 'compact' }] });
}

/** Starts `source`, expecting a refusal within REFUSAL_MS_MAX; the error. */
async function refusedStart(source: KafkaSource): Promise<Error & { code?: string }> {
  const started = Date.now();
  const err = await source.start().then(
    () => assert.fail('the source started'),
    (e: unknown) => e as Error & { code?: string },
  );
  assert.ok(Date.now() - started < REFUSAL_MS_MAX, `refused after ${Date.now() - started} ms`);
  return err;
}

test('a start/stop cycle closes every client it made; once the topics exist a start makes no Admin', { timeout: 60_000 }, async (t) => {
  await broker.createTopic('cycle-in', 1);
  const made = clientsMade(t);
  const before = tcpSockets();
  const first = sourceOf(t, 'cycle', 'cycle-registry', SUPER);
  await first.start();
  assert.equal(first.status().state, 'running');
  await first.stop();
  await assertAllClosed(made, before, 'first cycle');
  made.length = 0;
  const second = sourceOf(t, 'cycle', 'cycle-registry', SUPER);
  await second.start();
  await second.stop();
  await assertAllClosed(made, before, 'second cycle');
  assert.deepEqual(made.filter((c) => c.type === 'admin').map((c) => c.clientId), [], 'no Admin once the dead-letter and registry topics exist');
});

test('stop while the start is under way: nothing is left connected, and the source does not come up after it', { timeout: 60_000 }, async (t) => {
  await broker.createTopic('early-in', 1);
  const made = clientsMade(t);
  const before = tcpSockets();
  for (const delayMs of [0, 20, 100, 300]) {
    const source = sourceOf(t, 'early', 'early-registry', SUPER);
    const starting = source.start().catch(() => undefined);
    await sleep(delayMs);
    await source.stop();
    await starting;
    assert.notEqual(source.status().state, 'running', `stopped ${delayMs} ms into the start`);
    await assertAllClosed(made, before, `stopped ${delayMs} ms into the start`);
  }
});

test('ACLs: no CREATE for a missing registry is PERMISSION_DENIED naming the topic, promptly; nothing left open', { timeout: 60_000 }, async (t) => {
  await readerSetUp('nocreate');
  const made = clientsMade(t);
  const before = tcpSockets();
  const source = sourceOf(t, 'nocreate', 'nocreate-registry', LOGIN);
  const err = await refusedStart(source);
  assert.equal(err.code, 'PERMISSION_DENIED', String(err));
  assert.match(err.message, /may not see or create .*nocreate-registry.*grant it CREATE/);
  assert.match(source.status().error ?? '', /may not see or create .*nocreate-registry/);
  await source.stop();
  await assertAllClosed(made, before, 'refused start');
});

test('ACLs: pre-created topics with READ and WRITE but no CREATE anywhere: the source starts', { timeout: 60_000 }, async (t) => {
  await readerSetUp('granted');
  await registryTopic('granted-registry');
  await allow(ResourceTypes.TOPIC, 'granted-registry', [AclOperations.READ, AclOperations.WRITE, AclOperations.DESCRIBE]);
  const source = sourceOf(t, 'granted', 'granted-registry', LOGIN);
  try {
    await source.start();
    assert.equal(source.status().state, 'running');
  } finally {
    await source.stop();
  }
});

test('ACLs: a registry the user may read but not write, or not see, is PERMISSION_DENIED naming the operation', { timeout: 60_000 }, async (t) => {
  await readerSetUp('readonly');
  await registryTopic('readonly-registry');
  await allow(ResourceTypes.TOPIC, 'readonly-registry', [AclOperations.READ, AclOperations.DESCRIBE]);
  const readOnly = sourceOf(t, 'readonly', 'readonly-registry', LOGIN);
  const writeErr = await refusedStart(readOnly);
  await readOnly.stop();
  assert.equal(writeErr.code, 'PERMISSION_DENIED', String(writeErr));
  assert.match(writeErr.message, /may not write .*readonly-registry.*WRITE/);

  await readerSetUp('hidden');
  await registryTopic('hidden-registry');
  const hidden = sourceOf(t, 'hidden', 'hidden-registry', LOGIN);
  const readErr = await refusedStart(hidden);
  await hidden.stop();
  assert.equal(readErr.code, 'PERMISSION_DENIED', String(readErr));
  // Kafka does not tell a user without DESCRIBE whether the topic exists: the message covers both.
  assert.match(readErr.message, /may not see or create .*hidden-registry.*READ and WRITE/);
});
