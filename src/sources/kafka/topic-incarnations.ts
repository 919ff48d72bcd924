/**
 * Per (table, topic), the topic id whose messages keep the plain dedupe
 * keys `kafka:<topic>:<partition>:<offset>` (decision 49), kept in a
 * compacted Kafka topic of one partition (`sluice-topic-incarnations` by
 * default). Kafka holds it because every reader of a topic reaches Kafka:
 * a source inside any node of a cluster and `sluice kafka` in its own
 * process alike, and it outlives the consumer group's offsets, which Kafka
 * drops with a deleted topic and expires for an idle group.
 *
 * The first time a source reads a (table, topic) with no record here, it
 * records the topic's current id: after an upgrade that is the incarnation
 * whose records are stored under plain keys, so its re-deliveries keep
 * resolving to them. Every later incarnation then gets keys with its id.
 *
 * Record, version 1: key = JSON `{"table","topic"}`, value = JSON
 * `{"v":1,"table","topic","plainTopicId","at"}` (`at`: ISO time, for
 * operators). The newest record of a key holds, as compaction keeps it.
 */
import type { Consumer } from '@platformatic/kafka';
import { SluiceError } from '../../core/errors.ts';
import { deniedOr, ensureTopic, type NeededTopic } from './ensure-topic.ts';
import { kafkaClient } from './kafka-client.ts';
import { kafkaTopicId, keyTopic } from './topic-id.ts';

/** Client options the registry's own clients are made with (the source's: brokers, retries, TLS and SASL). */
export interface RegistryClient {
  readonly clientId: string;
  readonly bootstrapBrokers: string[];
}

/** The incarnation of a topic a source reads now. */
export interface Incarnation {
  /** Kafka's id of it (topic-id.ts), undefined when the broker names none (before Kafka 2.8). */
  readonly topicId: string | undefined;
  /** The topic part of its dedupe keys: the name, or `<topic>@<id>`. */
  readonly keyTopic: string;
}

/**
 * The current incarnation of `topic` as `consumer`'s brokers see it, and
 * whether it keeps the plain keys for `table` (recorded in `registry`).
 */
export async function currentIncarnation(consumer: Consumer<Buffer, Buffer, Buffer, Buffer>, registry: string, client: RegistryClient, table: string, topic: string): Promise<Incarnation> {
  const metadata = await consumer.metadata({ topics: [topic], forceUpdate: true });
  const topicId = kafkaTopicId(metadata.topics.get(topic)?.id);
  // No id, no incarnations to tell apart: the plain keys, as before topic ids were in keys.
  if (topicId === undefined) return { topicId, keyTopic: topic };
  await ensureTopic(consumer, client, registryTopic(registry));
  return { topicId, keyTopic: keyTopic(topic, topicId, await plainTopicId(registry, client, table, topic, topicId)) };
}

interface Entry {
  readonly v: 1;
  readonly table: string;
  readonly topic: string;
  readonly plainTopicId: string;
  readonly at: string;
}

/** Bytes one fetch of the registry returns at most: its records are ~150 bytes, one per (table, topic). */
const REGISTRY_FETCH_BYTES_MAX = 1024 * 1024;
/** Kafka's error code in a Fetch answer's partition when an ACL refuses the read. */
const TOPIC_AUTHORIZATION_FAILED = 29;
/** Fetches one read of the registry makes at most before it fails: far above what its records fill. */
const REGISTRY_FETCHES_MAX = 1_000;

/** The registry as a topic the source needs: compacted (its newest record per key is the one that holds). */
function registryTopic(registry: string): NeededTopic {
  return { name: registry, role: 'the topic incarnation registry (decision 49)', operations: 'READ and WRITE', configs: [{ name: 'cleanup.policy', value: 'compact' }] };
}

/**
 * The topic id whose messages keep plain keys for (`table`, `topic`);
 * records `currentTopicId` when there is none yet. The registry topic
 * exists (currentIncarnation makes it).
 */
async function plainTopicId(registry: string, client: RegistryClient, table: string, topic: string, currentTopicId: string): Promise<string> {
  const known = await readEntry(registry, client, table, topic);
  if (known !== undefined) return known.plainTopicId;
  await writeEntry(registry, client, { v: 1, table, topic, plainTopicId: currentTopicId, at: new Date().toISOString() });
  // Read back: of two sources recording at once, the later record holds (as compaction will keep it).
  const recorded = await readEntry(registry, client, table, topic);
  if (recorded === undefined) throw new SluiceError('INTERNAL', `the topic incarnation of ${table}/${topic} was recorded in ${registry} but does not read back`);
  return recorded.plainTopicId;
}

function entryKey(table: string, topic: string): string {
  return JSON.stringify({ table, topic });
}

async function writeEntry(registry: string, client: RegistryClient, entry: Entry): Promise<void> {
  const { Producer, ProduceAcks } = await kafkaClient();
  // Idempotent with acks=all, as everything sluice produces (decision 9).
  const producer = new Producer({ ...client, clientId: `${client.clientId}-incarnations`, acks: ProduceAcks.ALL, idempotent: true });
  try {
    await producer.send({ messages: [{ topic: registry, key: Buffer.from(entryKey(entry.table, entry.topic)), value: Buffer.from(JSON.stringify(entry)) }] });
  } catch (err) {
    throw await deniedOr(err, `the Kafka user may not write ${registryTopic(registry).role} ${registry}, to record the incarnation of ${entry.topic} that table ${entry.table} reads first: grant it WRITE on the topic`);
  } finally {
    await producer.close();
  }
}

/** The newest entry of (`table`, `topic`), reading the registry's one partition from its start to its end. */
async function readEntry(registry: string, client: RegistryClient, table: string, topic: string): Promise<Entry | undefined> {
  const { Consumer } = await kafkaClient();
  // A group id is required by the client; no group is joined: the reads below are plain ListOffsets and Fetch.
  const consumer = new Consumer({ ...client, clientId: `${client.clientId}-incarnations`, groupId: `${client.clientId}-incarnations` });
  try {
    const key = entryKey(table, topic);
    let found: Entry | undefined;
    await readAll(consumer, registry, (k, value) => {
      if (k === key) found = parseEntry(registry, value);
    });
    return found;
  } catch (err) {
    throw await deniedOr(err, `the Kafka user may not read ${registryTopic(registry).role} ${registry}: grant it READ (and WRITE) on the topic`);
  } finally {
    await consumer.close(true);
  }
}

/** Calls `onRecord` for every record of the registry's partition 0, oldest first, up to its end when the read began. */
async function readAll(consumer: Consumer<Buffer, Buffer, Buffer, Buffer>, registry: string, onRecord: (key: string, value: Buffer | null) => void): Promise<void> {
  const [start, end] = await Promise.all([
    consumer.listOffsets({ topics: [registry], timestamp: -2n }),
    consumer.listOffsets({ topics: [registry], timestamp: -1n }),
  ]);
  let offset = start.get(registry)?.[0] ?? 0n;
  const last = end.get(registry)?.[0] ?? 0n;
  const metadata = await consumer.metadata({ topics: [registry] });
  const partition = metadata.topics.get(registry)?.partitions[0];
  const topicId = metadata.topics.get(registry)?.id;
  if (partition === undefined || topicId === undefined) throw new SluiceError('NOT_READY', `Kafka has no metadata for ${registry} yet`);
  for (let fetches = 0; offset < last; fetches++) {
    if (fetches >= REGISTRY_FETCHES_MAX) throw new SluiceError('INTERNAL', `${registry} did not read to its end (${last}) in ${REGISTRY_FETCHES_MAX} fetches`);
    const res = await consumer.fetch({
      node: partition.leader,
      maxBytes: REGISTRY_FETCH_BYTES_MAX,
      topics: [{ topicId, partitions: [{ partition: 0, fetchOffset: offset, partitionMaxBytes: REGISTRY_FETCH_BYTES_MAX, currentLeaderEpoch: -1, lastFetchedEpoch: -1 }] }],
    });
    const answer = res.responses[0]?.partitions[0];
    if (answer?.errorCode === TOPIC_AUTHORIZATION_FAILED) throw new SluiceError('PERMISSION_DENIED', `the Kafka user may not read ${registryTopic(registry).role} ${registry}: grant it READ (and WRITE) on the topic`);
    if (answer === undefined || answer.errorCode !== 0) throw new SluiceError('NOT_READY', `reading ${registry} failed (Kafka error ${answer?.errorCode ?? 'none: no partition in the answer'})`);
    for (const batch of answer.records ?? []) {
      for (const r of batch.records) {
        const at = batch.firstOffset + BigInt(r.offsetDelta);
        if (at >= offset && r.key !== null) onRecord(r.key.toString('utf8'), r.value);
      }
      // Past the batch even when compaction left none of its records (or it held control records only).
      const next = batch.firstOffset + BigInt(batch.lastOffsetDelta) + 1n;
      if (next > offset) offset = next;
    }
  }
}

/** A registry value, shape-checked: a record sluice cannot read stops the source rather than guess its keys. */
function parseEntry(registry: string, value: Buffer | null): Entry {
  let parsed: unknown;
  try {
    parsed = value === null ? null : JSON.parse(value.toString('utf8'));
  } catch {
    parsed = null;
  }
  const e = parsed as Partial<Entry> | null;
  if (e === null || typeof e !== 'object' || e.v !== 1 || typeof e.plainTopicId !== 'string' || typeof e.table !== 'string' || typeof e.topic !== 'string') {
    throw new SluiceError('INTERNAL', `${registry} holds a record sluice cannot read: ${value?.toString('utf8').slice(0, 200) ?? 'null'}`);
  }
  return e as Entry;
}
