/**
 * Binary protobuf records end to end: a table created from a .proto message
 * with `sluice table create --proto`, written over gRPC as protobuf
 * messages (one that does not decode is refused on its own) and from a real
 * Kafka topic with `--kafka-format protobuf` (the bad one dead-lettered);
 * every value reads back as the message held it.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { promisify } from 'node:util';
import protobuf from 'protobufjs';
import { ProduceAcks, Producer } from '@platformatic/kafka';
import { freePort } from './etcd.ts';
import { NodeProcess, ROOT, authHeaders, cliProcessEnv, http, sleep, tempDir } from './harness.ts';
import { ingestClient, ingestWrite } from './ingest-client.ts';
import { KafkaBroker } from './kafka.ts';
import { headerOf, readTopic, startSluiceKafka } from './kafka-tools.ts';

const PROTO = path.join(ROOT, 'test/core/fixtures/payment.proto');
const run = promisify(execFile);

function paymentType(): protobuf.Type {
  const parsed = protobuf.parse(readFileSync(PROTO, 'utf8'), { keepCase: true });
  parsed.root.addJSON(protobuf.common.get('google/protobuf/timestamp.proto')?.nested ?? {});
  return parsed.root.resolveAll().lookupType('shop.v1.Payment');
}

function payment(T: protobuf.Type, i: number): Uint8Array {
  return T.encode(
    T.fromObject({ account_id: `acct-${i % 7}`, amount_cents: String(9_223_372_036_854_770_000n + BigInt(i)), at: { seconds: 1_700_000_000 + i, nanos: 250_000_000 }, method: i % 2 === 0 ? 'CARD' : 'TRANSFER', tags: [`t${i}`], receipt: Buffer.from(`r${i}`) }),
  ).finish();
}

async function createTable(url: string): Promise<void> {
  const { stdout } = await run(process.execPath, [path.join(ROOT, 'bin/sluice.js'), 'table', 'create', '--url', url, '--proto', PROTO, '--message', 'shop.v1.Payment', '--name', 'payments', '--shard-key', 'account_id', '--time-field', 'at'], { cwd: ROOT, env: cliProcessEnv() });
  assert.equal(JSON.parse(stdout).proto.message, 'shop.v1.Payment');
}

async function exported(url: string): Promise<Record<string, unknown>[]> {
  const text = await (await fetch(`${url}/v1/tables/payments/export`, { headers: authHeaders() })).text();
  return text
    .split('\n')
    .filter((l) => l.length > 0)
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}

test('gRPC: protobuf messages of the table message are stored; one that does not decode is refused alone', async (t) => {
  const port = await freePort();
  const node = await NodeProcess.start(t, { dataDir: tempDir(t), args: ['--grpc', `127.0.0.1:${port}`] });
  await createTable(node.url);
  const T = paymentType();
  const client = ingestClient(port);
  t.after(() => client.close());
  const messages = [payment(T, 1), payment(T, 2), Buffer.from('not protobuf at all {"x":1}'), payment(T, 3)];
  const reply = await ingestWrite(client, { table: 'payments', messages, onInvalid: 'skip' });
  assert.equal(reply.written, 3);
  assert.equal(reply.rejectedCount, 1);
  assert.equal(reply.rejected[0]?.index, 2);
  assert.equal(reply.rejected[0]?.code, 'INVALID_PROTOBUF');
  assert.equal(reply.ids[2], '');
  // All or nothing by default: the same batch is refused whole.
  await assert.rejects(ingestWrite(client, { table: 'payments', messages }), (err: Error & { code?: number }) => err.code === 3);

  const rows = await exported(node.url);
  assert.equal(rows.length, 3);
  const one = rows.find((r) => r['tags'] !== undefined && (r['tags'] as string[])[0] === 't1');
  assert.ok(one !== undefined);
  assert.equal(one['amount_cents'], '9223372036854770001', 'int64 past 2^53 reads back exact, as a decimal string');
  assert.equal(one['at'], 1_700_000_001_250, 'the Timestamp as epoch ms');
  assert.equal(one['method'], 'TRANSFER');
  assert.equal(one['receipt'], Buffer.from('r1').toString('base64'));
});

test('HTTP: an application/x-protobuf body of length-delimited messages is stored; broken framing is refused whole', async (t) => {
  const node = await NodeProcess.start(t, { dataDir: tempDir(t) });
  await createTable(node.url);
  const T = paymentType();
  const delimited = (messages: readonly Uint8Array[]): Buffer => {
    const w = protobuf.Writer.create();
    for (const m of messages) w.bytes(m);
    return Buffer.from(w.finish());
  };
  const post = (body: Buffer, query = '', table = 'payments') =>
    http(`${node.url}/v1/tables/${table}/records${query}`, { method: 'POST', body, headers: { 'content-type': 'application/x-protobuf' } });

  const messages = [payment(T, 10), payment(T, 11), Buffer.from('not protobuf at all {"x":1}'), payment(T, 12)];
  const skipped = await post(delimited(messages), '?on_invalid=skip');
  assert.equal(skipped.status, 200, skipped.text);
  assert.equal(skipped.body.written, 3);
  assert.equal(skipped.body.rejected[0].index, 2);
  assert.equal(skipped.body.rejected[0].code, 'INVALID_PROTOBUF');
  const refused = await post(delimited(messages));
  assert.equal(refused.status, 400, 'all or nothing by default');

  const whole = delimited([payment(T, 13), payment(T, 14)]);
  for (const broken of [whole.subarray(0, whole.length - 3), Buffer.concat([whole, Buffer.from([0xff, 0xff, 0xff, 0xff, 0xff, 0x01])])]) {
    const res = await post(broken);
    assert.equal(res.status, 400, res.text);
    assert.equal(res.body.error.code, 'INVALID_PROTOBUF', res.text);
  }
  const rows = await exported(node.url);
  assert.deepEqual(rows.map((r) => (r['tags'] as string[])[0]).sort(), ['t10', 't11', 't12'], 'nothing of a refused body was stored');
  assert.equal(rows.find((r) => (r['tags'] as string[])[0] === 't11')?.['amount_cents'], '9223372036854770011');

  const json = await http(`${node.url}/v1/tables`, { method: 'POST', body: JSON.stringify({ name: 'plain', shardKey: 'k', fields: [{ name: 'k', type: 'string', required: true }] }) });
  assert.equal(json.status, 201, json.text);
  const noMessage = await post(whole, '', 'plain');
  assert.equal(noMessage.status, 415, noMessage.text);
  assert.equal(noMessage.body.error.code, 'UNSUPPORTED_MEDIA_TYPE');
});

test('Kafka: --kafka-format protobuf stores each message; a corrupt one goes to the DLQ as INVALID_PROTOBUF', async (t) => {
  const broker = await KafkaBroker.start(t);
  const topic = 'payments-pb';
  await broker.createTopic(topic, 2);
  const T = paymentType();
  const producer = new Producer({ ...broker.clientOptions('pb-producer'), acks: ProduceAcks.ALL, idempotent: true });
  t.after(() => producer.close());
  const messages = Array.from({ length: 1_000 }, (_, i) => ({ topic, key: Buffer.from(`acct-${i % 7}`), value: Buffer.from(payment(T, i)) }));
  messages.splice(500, 0, { topic, key: Buffer.from('bad'), value: Buffer.from('not protobuf at all {"x":1}') });
  await producer.send({ messages });

  const node = await NodeProcess.start(t, { dataDir: tempDir(t), args: ['--kafka-brokers', broker.bootstrap, '--kafka-topic', topic, '--kafka-table', 'payments', '--kafka-format', 'protobuf'] });
  await createTable(node.url);
  const deadline = Date.now() + 60_000;
  let rows = await exported(node.url);
  while (rows.length < 1_000 && Date.now() < deadline) {
    await sleep(200);
    rows = await exported(node.url);
  }
  assert.equal(rows.length, 1_000);
  assert.equal(new Set(rows.map((r) => (r['tags'] as string[])[0])).size, 1_000);

  const [letter] = await readTopic(broker, `${topic}.dlq`, 1);
  assert.ok(letter !== undefined);
  assert.equal(letter.value.toString(), 'not protobuf at all {"x":1}');
  assert.equal(headerOf(letter, 'sluice.error.code'), 'INVALID_PROTOBUF');
  const sources = (await http(`${node.url}/v1/sources`)).body.sources as { kind: string; progress: { rejected: number } }[];
  assert.equal(sources.find((s) => s.kind === 'kafka')?.progress.rejected, 1);

  // The same topic through `sluice kafka --format protobuf` into a second node: decoded in the source process.
  const other = await NodeProcess.start(t, { dataDir: tempDir(t) });
  await createTable(other.url);
  const cli = startSluiceKafka(t, ['--brokers', broker.bootstrap, '--topic', topic, '--table', 'payments', '--url', other.url, '--format', 'protobuf', '--group', 'pb-cli', '--dlq-topic', `${topic}.cli-dlq`, '--status-every-ms', '0']);
  const deadline2 = Date.now() + 60_000;
  let rows2 = await exported(other.url);
  while (rows2.length < 1_000 && Date.now() < deadline2) {
    await sleep(200);
    rows2 = await exported(other.url);
  }
  cli.child.kill('SIGTERM');
  assert.equal(await cli.exited, 0, cli.output());
  assert.equal(rows2.length, 1_000, cli.output());
  assert.match(cli.output(), /1000 records written, 1 dead-lettered/);
  const sample = rows2.find((r) => (r['tags'] as string[])[0] === 't1');
  assert.equal(sample?.['amount_cents'], '9223372036854770001');
});
