/**
 * A Kafka topic deleted and created again under the same name is a new
 * topic: its offsets restart at 0, and the node must store its messages as
 * new records beside the old topic's, not as re-deliveries that replace them
 * (decision 49). Real broker, real node processes; the source is stopped
 * while the topic is deleted and created again.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ProduceAcks, Producer } from '@platformatic/kafka';
import { KafkaBroker } from './kafka.ts';
import { committedSum } from './kafka-tools.ts';
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
  assert.equal((await node.kill('SIGTERM')).code, 0);
});
