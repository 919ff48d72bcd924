/**
 * A Kafka source's TLS and SASL settings mapped to @platformatic/kafka's
 * `tls` and `sasl` options, and its errors made readable. The real broker
 * logins are in test/process/kafka-security.test.ts.
 */
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { test } from 'node:test';
import { AuthenticationError, MultipleErrors, NetworkError } from '@platformatic/kafka';
import { createCa } from '../../../src/security/certs/issue.ts';
import { KAFKA_PLAINTEXT } from '../../../src/sources/kafka/kafka-source-config.ts';
import { describeKafkaError, kafkaConnectionOptions } from '../../../src/sources/kafka/kafka-security.ts';
import { tempDir } from '../../support/temp-dir.ts';

test('plaintext maps to no options; TLS to node:tls options with the CA; SASL to a mechanism, a user and a password read at each login', async (t) => {
  assert.deepEqual(await kafkaConnectionOptions(KAFKA_PLAINTEXT), {});
  assert.deepEqual(await kafkaConnectionOptions({ ...KAFKA_PLAINTEXT, tls: true }), { tls: {} }, 'no CA: the system CAs, verification on');

  const dir = tempDir(t);
  const ca = path.join(dir, 'ca.crt');
  const pem = (await createCa({ clusterId: 'k', notAfter: new Date(Date.now() + 86_400_000) })).certPem;
  await writeFile(ca, pem);
  const passwordFile = path.join(dir, 'password');
  await writeFile(passwordFile, 'first\n', { mode: 0o600 });
  const options = await kafkaConnectionOptions({ tls: true, caFile: ca, sasl: 'scram-sha-512', user: 'sluice', passwordFile });
  assert.equal(options.tls?.ca?.toString(), pem);
  assert.equal(options.sasl?.mechanism, 'SCRAM-SHA-512');
  assert.equal(options.sasl?.username, 'sluice');
  const password = options.sasl?.password;
  assert.equal(typeof password, 'function', 'a provider, not the password itself');
  assert.equal(await (password as () => Promise<string>)(), 'first');
  await writeFile(passwordFile, 'rotated\n');
  assert.equal(await (password as () => Promise<string>)(), 'rotated', 'a rotated file is used at the next login');

  for (const [flag, mechanism] of [['plain', 'PLAIN'], ['scram-sha-256', 'SCRAM-SHA-256']] as const) {
    assert.equal((await kafkaConnectionOptions({ ...KAFKA_PLAINTEXT, sasl: flag, user: 'u', passwordFile })).sasl?.mechanism, mechanism);
  }
  await assert.rejects(kafkaConnectionOptions({ ...KAFKA_PLAINTEXT, sasl: 'plain', user: 'u', passwordFile: path.join(dir, 'absent') }), /cannot read --kafka-password-file/);
  await assert.rejects(kafkaConnectionOptions({ ...KAFKA_PLAINTEXT, caFile: ca }), /--kafka-ca needs --kafka-tls/);
});

test('a Kafka client error reads as its chain of causes, with a hint for a refused login or an untrusted certificate', () => {
  const login = new MultipleErrors('Cannot connect to any broker.', [new NetworkError('Connection to 127.0.0.1:9093 failed.', { cause: new AuthenticationError('SASL authentication failed.') })]);
  assert.equal(describeKafkaError(login), 'Cannot connect to any broker: Connection to 127.0.0.1:9093 failed: SASL authentication failed (check --kafka-sasl, --kafka-user and the password in --kafka-password-file)');
  const tls = new NetworkError('Connection to 127.0.0.1:9093 failed.', { cause: Object.assign(new Error('unable to verify the first certificate'), { code: 'UNABLE_TO_VERIFY_LEAF_SIGNATURE' }) });
  assert.match(describeKafkaError(tls), /unable to verify the first certificate \(check --kafka-ca: the CA that issued the brokers' certificates\)$/);
  assert.equal(describeKafkaError(new Error('plain')), 'plain');
});
