/**
 * The real Kafka broker of test/process/kafka.ts with the client the Kafka
 * source is built on (@platformatic/kafka): keyed JSON messages through a
 * consumer group arrive exactly once, in order per key, and the group's
 * committed offsets are where a restarted consumer resumes. What the source
 * will rely on, proven before it exists.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Consumer, jsonDeserializer, jsonSerializer, ProduceAcks, Producer, stringDeserializer, stringSerializer, type Message, type MessagesStream } from '@platformatic/kafka';
import { KafkaBroker } from './kafka.ts';

const MESSAGES = 10_000;
const PARTITIONS = 6;
const KEYS = 97;
const SEND_BATCH = 1_000;
const CONSUME_TIMEOUT_MS = 60_000;

interface Payload {
  seq: number;
  key: string;
  body: string;
}

type PayloadMessage = Message<string, Payload, string, string>;

function consumer(broker: KafkaBroker, groupId: string, clientId: string): Consumer<string, Payload, string, string> {
  return new Consumer({
    ...broker.clientOptions(clientId),
    groupId,
    deserializers: { key: stringDeserializer, value: jsonDeserializer<Payload>, headerKey: stringDeserializer, headerValue: stringDeserializer },
    // Offsets are committed by hand, after the messages are accounted for, as the source will.
    autocommit: false,
    maxWaitTime: 200,
  });
}

/** Feeds the stream's messages to onMessage until it returns true; rejects on a stream error, a throw, or after timeoutMs. */
function readUntil(stream: MessagesStream<string, Payload, string, string>, onMessage: (m: PayloadMessage) => boolean, timeoutMs: number, what: () => string): Promise<void> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => finish(new Error(`timed out after ${timeoutMs} ms: ${what()}`)), timeoutMs);
    const onData = (m: PayloadMessage): void => {
      try {
        if (onMessage(m)) finish();
      } catch (error) {
        finish(error);
      }
    };
    const onError = (error: Error): void => finish(error);
    function finish(error?: unknown): void {
      clearTimeout(timer);
      stream.off('data', onData);
      stream.off('error', onError);
      stream.pause();
      if (error === undefined) resolve();
      else reject(error instanceof Error ? error : new Error(String(error)));
    }
    stream.on('data', onData);
    stream.on('error', onError);
  });
}

test('Kafka broker + @platformatic/kafka: 10,000 keyed JSON messages through a consumer group exactly once; committed offsets hold', async (t) => {
  const broker = await KafkaBroker.start(t);
  t.diagnostic(`broker started in ${Math.round(broker.startMs)} ms`);
  const topic = 'events-a';
  const groupId = 'sluice-test-group';
  await broker.createTopic(topic, PARTITIONS);

  const producer = new Producer({
    ...broker.clientOptions('sluice-test-producer'),
    serializers: { key: stringSerializer, value: jsonSerializer<Payload>, headerKey: stringSerializer, headerValue: stringSerializer },
    acks: ProduceAcks.ALL,
    // A retried request is deduplicated by the broker; without it @platformatic/kafka resends
    // every partition of a request that failed on one (see KafkaBroker.createTopic).
    idempotent: true,
  });
  t.after(() => producer.close());
  let at = performance.now();
  for (let start = 0; start < MESSAGES; start += SEND_BATCH) {
    const messages = [];
    for (let seq = start; seq < start + SEND_BATCH; seq++) {
      const key = `k${seq % KEYS}`;
      messages.push({ topic, key, value: { seq, key, body: `message ${seq}` } });
    }
    await producer.send({ messages });
  }
  t.diagnostic(`produced ${MESSAGES} in ${Math.round(performance.now() - at)} ms`);

  // First consumer: everything, each message once; per key one partition and rising seq.
  const first = consumer(broker, groupId, 'sluice-test-consumer-1');
  t.after(() => first.close(true));
  at = performance.now();
  const stream = await first.consume({ topics: [topic], mode: 'committed', fallbackMode: 'earliest' });
  const seen = new Uint8Array(MESSAGES);
  const partitionOfKey = new Map<string, number>();
  const lastSeqOfKey = new Map<string, number>();
  const last = new Map<number, PayloadMessage>();
  let received = 0;
  await readUntil(
    stream,
    (m) => {
      const { seq, key } = m.value;
      assert.ok(Number.isInteger(seq) && seq >= 0 && seq < MESSAGES, `unexpected seq ${seq}`);
      assert.equal(seen[seq], 0, `seq ${seq} delivered twice`);
      seen[seq] = 1;
      received++;
      assert.equal(m.key, key);
      assert.equal(m.topic, topic);
      const partition = partitionOfKey.get(key) ?? m.partition;
      assert.equal(m.partition, partition, `key ${key} on partitions ${partition} and ${m.partition}`);
      partitionOfKey.set(key, partition);
      assert.ok(seq > (lastSeqOfKey.get(key) ?? -1), `key ${key}: seq ${seq} after ${lastSeqOfKey.get(key)}`);
      lastSeqOfKey.set(key, seq);
      const previous = last.get(m.partition);
      assert.ok(previous === undefined || m.offset > previous.offset, `partition ${m.partition}: offset ${m.offset} after ${previous?.offset}`);
      last.set(m.partition, m);
      return received === MESSAGES;
    },
    CONSUME_TIMEOUT_MS,
    () => `${received} of ${MESSAGES} messages consumed`,
  );
  t.diagnostic(`consumed ${received} in ${Math.round(performance.now() - at)} ms`);
  assert.equal(seen.indexOf(0), -1);
  assert.equal(new Set(partitionOfKey.values()).size, PARTITIONS, 'the keys spread over every partition');

  // The log holds exactly what was consumed: no duplicate appended by a producer retry.
  const ends = await first.listOffsets({ topics: [topic] });
  const endOffsets = ends.get(topic) ?? [];
  assert.equal(endOffsets.length, PARTITIONS);
  assert.equal(endOffsets.reduce((sum, offset) => sum + offset, 0n), BigInt(MESSAGES));
  for (const [partition, m] of last) assert.equal(endOffsets[partition], m.offset + 1n, `partition ${partition} end offset`);

  // Commit the next offset to read, per partition, and read it back from the group coordinator.
  await first.commit({
    offsets: [...last.values()].map((m) => ({ topic, partition: m.partition, offset: m.offset + 1n, leaderEpoch: m.leaderEpoch })),
  });
  const committed = await first.listCommittedOffsets({ topics: [{ topic, partitions: [...last.keys()] }] });
  for (const [partition, m] of last) assert.equal(committed.get(topic)?.[partition], m.offset + 1n, `partition ${partition} committed offset`);
  await stream.close();
  await first.close();

  // Second consumer, same group: it resumes at the commits. The one message produced after
  // it joined must be the first and only one it sees; any redelivery would come before it.
  const second = consumer(broker, groupId, 'sluice-test-consumer-2');
  t.after(() => second.close(true));
  const stream2 = await second.consume({ topics: [topic], mode: 'committed', fallbackMode: 'earliest' });
  await producer.send({ messages: [{ topic, key: 'sentinel', value: { seq: MESSAGES, key: 'sentinel', body: 'after the commit' } }] });
  const afterCommit: number[] = [];
  await readUntil(
    stream2,
    (m) => {
      afterCommit.push(m.value.seq);
      return m.value.seq === MESSAGES;
    },
    CONSUME_TIMEOUT_MS,
    () => `the sentinel did not arrive; seen ${afterCommit.length} messages`,
  );
  assert.deepEqual(afterCommit, [MESSAGES], 'the second consumer saw only the message produced after the commit');
  await stream2.close();
  await second.close();
});
