/**
 * The dead-letter topic: every message the table refuses is produced here,
 * key, value and headers unchanged, with why in `sluice.error.*` headers
 * and where it came from in `sluice.source.*`, so nothing is dropped
 * silently (Kafka Connect's DLQ convention). The producer is idempotent:
 * a retried request must not add a second copy (see decision 0009).
 */
import { Admin, ProduceAcks, Producer, findErrorBy, type Message } from '@platformatic/kafka';

/** One refused message and its error. */
export interface DeadLetter {
  readonly message: Message;
  /** The error code of the refusal: INVALID_JSON, KEY_TOO_LARGE or SCHEMA_VIOLATION. */
  readonly code: string;
  /** For SCHEMA_VIOLATION, the violation (REQUIRED, TYPE, FORMAT, ...); else empty. */
  readonly violation: string;
  readonly path: string;
  readonly reason: string;
}

/** Produces refused messages to the dead-letter topic. */
export class DeadLetterQueue {
  readonly topic: string;
  private readonly table: string;
  private readonly producer: Producer;

  constructor(topic: string, table: string, client: { clientId: string; bootstrapBrokers: string[] }) {
    this.topic = topic;
    this.table = table;
    this.producer = new Producer({ ...client, clientId: `${client.clientId}-dlq`, idempotent: true, acks: ProduceAcks.ALL, retries: 10, retryDelay: 200 });
  }

  /** Creates the topic unless it exists (one partition: dead letters are few and read in order). */
  static async ensureTopic(topic: string, client: { clientId: string; bootstrapBrokers: string[] }): Promise<void> {
    const admin = new Admin({ ...client, clientId: `${client.clientId}-admin` });
    try {
      await admin.createTopics({ topics: [topic], partitions: 1, replicas: -1 });
    } catch (err) {
      if (findErrorBy(err as Error, 'apiId', 'TOPIC_ALREADY_EXISTS') === null) throw err;
    } finally {
      await admin.close();
    }
  }

  /** Produces the letters; resolves once the broker has them (acks=all). */
  async send(letters: readonly DeadLetter[]): Promise<void> {
    if (letters.length === 0) return;
    await this.producer.send({
      messages: letters.map((l) => {
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
        return { topic: this.topic, ...(l.message.key === undefined ? {} : { key: l.message.key }), value: l.message.value, headers };
      }),
    });
  }

  async close(): Promise<void> {
    await this.producer.close();
  }
}
