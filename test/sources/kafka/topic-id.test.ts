import assert from 'node:assert/strict';
import { test } from 'node:test';
import { dedupeKeyAt } from '../../../src/ingest/dedupe-keys.ts';
import { dedupeSpans } from '../../../src/ingest/dedupe-spans.ts';
import { PackedBatch, type KafkaMessage } from '../../../src/sources/kafka/packed-batch.ts';
import { kafkaTopicId, keyTopic, newerIncarnation } from '../../../src/sources/kafka/topic-id.ts';

test('a topic id in Kafka text form: the base64url of its 16 bytes, as kafka-topics.sh shows it', () => {
  // Kafka's Uuid.toString(): Base64.getUrlEncoder().withoutPadding() of the two longs, big-endian.
  assert.equal(kafkaTopicId('90eeca4d-9133-4734-840e-afc415c73c73'), 'kO7KTZEzRzSEDq_EFcc8cw');
  assert.equal(kafkaTopicId('90EECA4D-9133-4734-840E-AFC415C73C73'), 'kO7KTZEzRzSEDq_EFcc8cw');
});

test('no topic id: undefined for the zero id, for the topic name the client puts there below Metadata v10, and for none', () => {
  assert.equal(kafkaTopicId('00000000-0000-0000-0000-000000000000'), undefined);
  assert.equal(kafkaTopicId('payments'), undefined);
  assert.equal(kafkaTopicId('0123456789abcdef0123456789abcdeX'), undefined);
  assert.equal(kafkaTopicId(undefined), undefined);
});

test('the incarnation that keeps the plain keys uses the topic name; any other one names its id', () => {
  assert.equal(keyTopic('payments', 'AAAAAAAAAAAAAAAAAAAAAA', 'AAAAAAAAAAAAAAAAAAAAAA'), 'payments');
  assert.equal(keyTopic('payments', 'BBBBBBBBBBBBBBBBBBBBBB', 'AAAAAAAAAAAAAAAAAAAAAA'), 'payments@BBBBBBBBBBBBBBBBBBBBBB');
  assert.equal(keyTopic('payments', undefined, 'AAAAAAAAAAAAAAAAAAAAAA'), 'payments');
});

test("a batch's keys carry its key topic; they stay canonical for the dedupe fence, whatever the id ends in", () => {
  const m = (partition: number, offset: bigint): KafkaMessage => ({ topic: 'payments', partition, offset, leaderEpoch: 0, key: undefined, value: Buffer.from('{}'), headers: new Map() }) as unknown as KafkaMessage;
  // An id ending in digits: the partition and the trailing ':' still end the prefix.
  const batch = new PackedBatch('payments', 10, 1_000, 0, 'payments@kO7KTZEzRzSEDq_EFcc812');
  batch.add(m(3, 7n));
  batch.add(m(3, 8n));
  const keys = batch.dedupeKeys();
  assert.equal(dedupeKeyAt(keys, 0), 'kafka:payments@kO7KTZEzRzSEDq_EFcc812:3:00000000000000000007');
  assert.equal(dedupeKeyAt(keys, 1), 'kafka:payments@kO7KTZEzRzSEDq_EFcc812:3:00000000000000000008');
  // Fresh for the fence (canonical, increasing) and in one entry: the prefix as written, 20 digits.
  const spans = dedupeSpans(keys, 2);
  assert.equal(spans?.freshable, true);
  assert.deepEqual([...(spans?.spans.values() ?? [])].map((e) => ({ ...e })), [{ prefix: 'kafka:payments@kO7KTZEzRzSEDq_EFcc812:3:', digits: 20, min: 7, max: 8 }]);
  assert.equal(batch.letterMessage(0).topic, 'payments');
  const plain = new PackedBatch('payments', 10, 1_000);
  plain.add(m(3, 7n));
  assert.equal(dedupeKeyAt(plain.dedupeKeys(), 0), 'kafka:payments:3:00000000000000000007');
});

test('a newer incarnation: the id the metadata gives now, when it differs from the one read', () => {
  const metadata = (id: string) => ({ topics: new Map([['payments', { id }]]) }) as unknown as Parameters<typeof newerIncarnation>[0];
  const read = kafkaTopicId('90eeca4d-9133-4734-840e-afc415c73c73');
  assert.equal(newerIncarnation(metadata('90eeca4d-9133-4734-840e-afc415c73c73'), 'payments', read), undefined);
  assert.equal(newerIncarnation(metadata('00000000-0000-0000-0000-000000000001'), 'payments', read), 'AAAAAAAAAAAAAAAAAAAAAQ');
  assert.equal(newerIncarnation(metadata('00000000-0000-0000-0000-000000000001'), 'orders', read), undefined);
  assert.equal(newerIncarnation(metadata('00000000-0000-0000-0000-000000000001'), 'payments', undefined), undefined);
  assert.equal(newerIncarnation(undefined, 'payments', read), undefined);
});
