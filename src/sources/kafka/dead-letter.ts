/**
 * The dead-letter topic: every message the table refuses is produced here,
 * key, value and headers unchanged, with why in `sluice.error.*` headers
 * and where it came from in `sluice.source.*`, so nothing is dropped
 * silently (Kafka Connect's DLQ convention).
 *
 * Once, even across a crash: the letters of a source partition are
 * produced in a Kafka transaction that also commits the consumer group's
 * offset past them (TxnOffsetCommit). A consumer killed after producing
 * and before committing leaves an open transaction; the next owner of the
 * partition uses the same transactional id (`sluice-dlq:<group>:<topic>:
 * <partition>`), which fences the dead one and aborts its transaction, and
 * then produces the re-delivered letters in a transaction of its own. A
 * reader of the topic with isolation level read_committed (the default of
 * @platformatic/kafka, not of the Java client) sees each letter once; a
 * read_uncommitted reader also sees aborted copies. Within one transaction
 * the producer is idempotent, so a retried request adds no second copy
 * either (see decision 0009).
 */
import type { Consumer, Producer } from '@platformatic/kafka';
import { kafkaClient, type KafkaClient } from './kafka-client.ts';
import type { NeededTopic } from './ensure-topic.ts';
import type { KafkaMessage, LetterMessage } from './packed-batch.ts';
import { failpoint } from '../../core/failpoint.ts';
import type { WriteResult } from '../../ingest/pipeline.ts';

/** One refused message and its error. */
export interface DeadLetter {
  readonly message: LetterMessage;
  /** The error code of the refusal: INVALID_JSON, KEY_TOO_LARGE or SCHEMA_VIOLATION. */
  readonly code: string;
  /** For SCHEMA_VIOLATION, the violation (REQUIRED, TYPE, FORMAT, ...); else empty. */
  readonly violation: string;
  readonly path: string;
  readonly reason: string;
}

/** Rejection codes that are errors of their own; any other is a schema violation's code. */
const RECORD_CODES = new Set(['INVALID_JSON', 'INVALID_PROTOBUF', 'KEY_TOO_LARGE']);

/**
 * The letters of a batch's refused messages (those without an id), with
 * their errors, one per message: after a rebalance the client fetches a
 * partition again from its committed offset, into the batch being packed,
 * so a batch may hold a message twice.
 */
export function lettersOf(batch: { readonly count: number; letterMessage(i: number): LetterMessage }, result: WriteResult): DeadLetter[] {
  const why = new Map((result.rejected ?? []).map((r) => [r.index, r]));
  const letters: DeadLetter[] = [];
  const lettered = new Set<string>();
  for (let i = 0; i < batch.count; i++) {
    if (result.ids.isWritten(i)) continue;
    const message = batch.letterMessage(i);
    const at = `${message.partition}:${message.offset}`;
    if (lettered.has(at)) continue;
    lettered.add(at);
    const r = why.get(i);
    // Past errorDetailsMax the pipeline counts rejections without details.
    letters.push(
      r === undefined
        ? { message, code: 'SCHEMA_VIOLATION', violation: '', path: '', reason: 'refused by the table schema (details beyond the per-batch limit were not kept)' }
        : RECORD_CODES.has(r.code)
          ? { message, code: r.code, violation: '', path: r.path, reason: r.message }
          : { message, code: 'SCHEMA_VIOLATION', violation: r.code, path: r.path, reason: r.message },
    );
  }
  return letters;
}

/** The consumer whose group the dead-letter transactions commit offsets for. */
export type GroupConsumer = Consumer<Buffer, Buffer, Buffer, Buffer>;

/**
 * How long a transaction may stay open before the broker aborts it, ms: a
 * dead consumer's open transaction holds read_committed readers of the
 * topic back until then, unless the partition's next owner fences it first.
 */
const TRANSACTION_TIMEOUT_MS = 10_000;

/** The dead-letter topic as a source needs it: made unless it exists, one partition (dead letters are few and read in order). */
export function deadLetterTopic(name: string): NeededTopic {
  return { name, role: 'the dead-letter topic', operations: 'WRITE (and WRITE on the transactional ids sluice-dlq:<group>:, prefixed)' };
}

/** Produces refused messages to the dead-letter topic. */
export class DeadLetterQueue {
  readonly topic: string;
  private readonly table: string;
  private readonly client: { clientId: string; bootstrapBrokers: string[] };
  private readonly group: string;
  /** One transactional producer per source partition: its id must be the same for whoever owns the partition next. */
  private readonly producers = new Map<number, Producer>();

  constructor(topic: string, table: string, group: string, client: { clientId: string; bootstrapBrokers: string[] }) {
    this.topic = topic;
    this.table = table;
    this.group = group;
    this.client = client;
  }

  /**
   * Produces the letters of one source partition and commits the group's
   * offset past `through` (the last message of the batch in that partition)
   * in one transaction; resolves once it is committed. Every earlier offset
   * of the partition must be durable already.
   */
  async send(letters: readonly DeadLetter[], consumer: GroupConsumer, through: KafkaMessage): Promise<void> {
    if (letters.length === 0) return;
    const producer = this.producerOf(await kafkaClient(), through.topic, through.partition);
    try {
      // -1/-1: a fresh InitProducerId for the transactional id (the library's 0/0 reads as "producer 0, epoch 0" and is
      // answered PRODUCER_FENCED once another process has used the id), which fences the last owner and aborts its transaction.
      const tx = await producer.beginTransaction({ producerId: -1n, producerEpoch: -1 });
      try {
        await tx.addConsumer(consumer);
        await tx.send({ messages: this.records(letters) });
        failpoint('kafka.after-dlq-send');
        await tx.addOffset(through);
        await tx.commit();
      } catch (err) {
        if (!tx.completed) await tx.abort().catch(() => undefined);
        throw err;
      }
    } catch (err) {
      // A producer whose transaction failed (fenced, aborted, or left open) is not reused: the next send starts afresh.
      this.producers.delete(through.partition);
      await producer.close().catch(() => undefined);
      throw err;
    }
  }

  private producerOf(kafka: KafkaClient, topic: string, partition: number): Producer {
    let producer = this.producers.get(partition);
    if (producer === undefined) {
      producer = new kafka.Producer({
        ...this.client,
        clientId: `${this.client.clientId}-dlq-${partition}`,
        transactionalId: `sluice-dlq:${this.group}:${topic}:${partition}`,
        idempotent: true,
        acks: kafka.ProduceAcks.ALL,
        retries: 10,
        retryDelay: 200,
        // Also the transaction timeout the producer registers (InitProducerId).
        timeout: TRANSACTION_TIMEOUT_MS,
      });
      this.producers.set(partition, producer);
    }
    return producer;
  }

  private records(letters: readonly DeadLetter[]) {
    return letters.map((l) => {
        const headers = new Map<Buffer, Buffer>(l.message.headers);
        const put = (k: string, v: string): void => {
          headers.set(Buffer.from(k), Buffer.from(v));
        };
        put('sluice.error.code', l.code);
        if (l.violation !== '') put('sluice.error.violation', l.violation);
        put('sluice.error.path', l.path);
        put('sluice.error.message', l.reason);
        put('sluice.source.topic', l.message.topic);
        put('sluice.source.partition', String(l.message.partition));
        put('sluice.source.offset', String(l.message.offset));
        put('sluice.table', this.table);
        // No value (a tombstone) stays a tombstone.
        return { topic: this.topic, ...(l.message.key === undefined ? {} : { key: l.message.key }), ...(l.message.value === undefined ? {} : { value: l.message.value }), headers };
      });
  }

  /** Closes every producer; idempotent. */
  async close(): Promise<void> {
    const producers = [...this.producers.values()];
    this.producers.clear();
    await Promise.allSettled(producers.map((p) => p.close()));
  }
}
