/**
 * A Kafka topic deleted and created again under the same name is a new
 * topic: its offsets restart at 0, and the node must store its messages as
 * new records beside the old topic's, not as re-deliveries that replace them
 * (decision 49). Real broker, real node processes; the source is stopped
 * while the topic is deleted and created again, or running. And the upgrade: records an
 * older sluice stored under the plain keys `kafka:<topic>:<partition>:` are
 * still what the re-delivered messages of that topic resolve to.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ProduceAcks, Producer } from '@platformatic/kafka';
import { KafkaBroker } from './kafka.ts';
import { committedSum, readTopic } from './kafka-tools.ts';
import { NodeProcess, authHeaders, http, sleep, tempDir } from './harness.ts';

const PARTITIONS = 2;
const OLD_MESSAGES = 40;
const NEW_MESSAGES = 30;
const WAIT_MS = 60_000;
const TOPIC = 'events-in';
const GROUP = 'sluice-events';

const EVENTS = {
  name: 'sensor_log',
  shardKey: 'device',
  fields: [
    { name: 'seq', type: 'int', required: true },
    { name: 'device', type: 'string', required: true },
    { name: 'gen', type: 'int', required: true },
  ],
};

interface Event {
  seq: number;
  device: string;
  gen: number;
}

async function produce(broker: KafkaBroker, events: readonly Event[]): Promise<void> {
  const producer = new Producer({ ...broker.clientOptions('sluice-test-producer'), acks: ProduceAcks.ALL, idempotent: true });
  try {
    await producer.send({ messages: events.map((e) => ({ topic: TOPIC, key: Buffer.from(e.device), value: Buffer.from(JSON.stringify(e)) })) });
  } finally {
    await producer.close();
  }
}

async function exported(base: string): Promise<Event[]> {
  const res = await fetch(`${base}/v1/tables/sensor_log/export`, { headers: authHeaders() });
  assert.equal(res.status, 200);
  return (await res.text())
    .split('\n')
    .filter((l) => l.length > 0)
    .map((l) => {
      const { seq, device, gen } = JSON.parse(l) as Event;
      return { seq, device, gen };
    })
    .sort((a, b) => a.seq - b.seq);
}

/** Waits until the node's Kafka source has committed `offsets` in all (what it read is durable by then). */
async function committed(base: string, offsets: number): Promise<void> {
  const deadline = Date.now() + WAIT_MS;
  let last: unknown;
  while (Date.now() < deadline) {
    const res = await http(`${base}/v1/sources`);
    const source = (res.body.sources as { kind: string; detail?: { committed: Record<string, string> } }[]).find((s) => s.kind === 'kafka');
    last = source;
    const total = Object.values(source?.detail?.committed ?? {}).reduce((sum, o) => sum + Number(o), 0);
    if (total >= offsets) return;
    await sleep(100);
  }
  throw new Error(`the source did not commit ${offsets} offsets: ${JSON.stringify(last)}`);
}

function events(first: number, count: number, gen: number): Event[] {
  return Array.from({ length: count }, (_, i) => ({ seq: first + i, device: `d${(first + i) % 7}`, gen }));
}

test('a topic deleted and created again: its messages are stored beside the old ones, which stay unchanged', async (t) => {
  const broker = await KafkaBroker.start(t);
  await broker.createTopic(TOPIC, PARTITIONS);
  const old = events(0, OLD_MESSAGES, 1);
  await produce(broker, old);

  const dataDir = tempDir(t);
  const args = ['--kafka-brokers', broker.bootstrap, '--kafka-topic', TOPIC, '--kafka-table', 'sensor_log', '--kafka-group', GROUP];
  let node = await NodeProcess.start(t, { dataDir, args });
  const created = await http(`${node.url}/v1/tables`, { method: 'POST', body: JSON.stringify(EVENTS), headers: { 'content-type': 'application/json' } });
  assert.equal(created.status, 201, created.text);
  await committed(node.url, OLD_MESSAGES);
  assert.deepEqual(await exported(node.url), old);
  // SIGTERM: the source finishes its writes, commits and leaves the group.
  assert.equal((await node.kill('SIGTERM')).code, 0);
  assert.equal(await committedSum(broker, TOPIC, GROUP, PARTITIONS), OLD_MESSAGES);

  await broker.deleteTopic(TOPIC);
  await broker.createTopic(TOPIC, PARTITIONS);
  // Kafka drops a group's offsets of a deleted topic: the group starts the new one from its earliest offset.
  assert.equal(await committedSum(broker, TOPIC, GROUP, PARTITIONS), 0);
  const renewed = events(1_000, NEW_MESSAGES, 2);
  await produce(broker, renewed);

  node = await NodeProcess.start(t, { dataDir, args });
  await committed(node.url, NEW_MESSAGES);
  assert.deepEqual(await exported(node.url), [...old, ...renewed]);
  const [incarnation] = node.events('kafka_topic_incarnation');
  assert.match(String(incarnation?.['keyTopic']), new RegExp(`^${TOPIC}@[A-Za-z0-9_-]{22}$`), JSON.stringify(incarnation));
  assert.equal((await node.kill('SIGTERM')).code, 0);
});

/** What an older sluice's source stored: each message under `kafka:<topic>:<partition>:<offset>`, nothing committed. */
async function storeAsOlderSluice(broker: KafkaBroker, base: string, count: number): Promise<void> {
  const messages = await readTopic(broker, TOPIC, count);
  assert.equal(messages.length, count);
  for (let partition = 0; partition < PARTITIONS; partition++) {
    const mine = messages.filter((m) => m.partition === partition).sort((a, b) => Number(a.offset - b.offset));
    if (mine.length === 0) continue;
    const q = new URLSearchParams({ dedupe_prefix: `kafka:${TOPIC}:${partition}:`, dedupe_first: String(mine[0]?.offset), dedupe_digits: '20' });
    const res = await http(`${base}/v1/tables/sensor_log/records?${q}`, { method: 'POST', body: mine.map((m) => (m.value as Buffer).toString()).join('\n'), headers: { 'content-type': 'application/x-ndjson' } });
    assert.equal(res.status, 200, res.text);
  }
}

test('upgrade: messages an older sluice stored under plain keys are re-delivered into the same records, not stored twice', async (t) => {
  const broker = await KafkaBroker.start(t);
  await broker.createTopic(TOPIC, PARTITIONS);
  const old = events(0, OLD_MESSAGES, 1);
  await produce(broker, old);

  const dataDir = tempDir(t);
  let node = await NodeProcess.start(t, { dataDir });
  const created = await http(`${node.url}/v1/tables`, { method: 'POST', body: JSON.stringify(EVENTS), headers: { 'content-type': 'application/json' } });
  assert.equal(created.status, 201, created.text);
  await storeAsOlderSluice(broker, node.url, OLD_MESSAGES);
  assert.equal((await node.kill('SIGTERM')).code, 0);

  // The upgraded node's source: no group offsets, so every stored message is re-delivered.
  const args = ['--kafka-brokers', broker.bootstrap, '--kafka-topic', TOPIC, '--kafka-table', 'sensor_log', '--kafka-group', GROUP];
  node = await NodeProcess.start(t, { dataDir, args });
  await committed(node.url, OLD_MESSAGES);
  assert.deepEqual(await exported(node.url), old);
  const [incarnation] = node.events('kafka_topic_incarnation');
  assert.equal(incarnation?.['keyTopic'], TOPIC, JSON.stringify(incarnation));
  assert.match(String(incarnation?.['topicId']), /^[A-Za-z0-9_-]{22}$/);
  assert.equal((await node.kill('SIGTERM')).code, 0);
});

test('a topic deleted and created again while the source reads it: the new incarnation is read from its start', async (t) => {
  const broker = await KafkaBroker.start(t);
  await broker.createTopic(TOPIC, PARTITIONS);
  const old = events(0, OLD_MESSAGES, 1);
  await produce(broker, old);

  const dataDir = tempDir(t);
  const args = ['--kafka-brokers', broker.bootstrap, '--kafka-topic', TOPIC, '--kafka-table', 'sensor_log', '--kafka-group', GROUP];
  const node = await NodeProcess.start(t, { dataDir, args });
  const created = await http(`${node.url}/v1/tables`, { method: 'POST', body: JSON.stringify(EVENTS), headers: { 'content-type': 'application/json' } });
  assert.equal(created.status, 201, created.text);
  await committed(node.url, OLD_MESSAGES);

  await broker.deleteTopic(TOPIC);
  await broker.createTopic(TOPIC, PARTITIONS);
  // More than the old topic held per partition: the old offsets are inside the new topic, and reading from them would skip its first messages.
  const renewed = events(1_000, 4 * OLD_MESSAGES, 2);
  await produce(broker, renewed);

  const deadline = Date.now() + WAIT_MS;
  let rows = await exported(node.url);
  while (rows.length < old.length + renewed.length && Date.now() < deadline) {
    await sleep(200);
    rows = await exported(node.url);
  }
  assert.deepEqual(rows, [...old, ...renewed]);
  assert.equal((await node.kill('SIGTERM')).code, 0);
});
