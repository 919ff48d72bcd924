/**
 * Options of one Kafka source: where to read, which table to write, and
 * the bounds that keep its memory constant whatever the topic's backlog.
 */

/** One Kafka topic consumed into one table. */
export interface KafkaSourceConfig {
  /** `host:port` of one or more brokers. */
  readonly brokers: readonly string[];
  readonly topic: string;
  /** Consumer group: members share the partitions; committed offsets are the group's. */
  readonly group: string;
  readonly table: string;
  /** Invalid messages go here with the error in headers. @default `<topic>.dlq` */
  readonly dlqTopic: string;
  /**
   * Compacted topic that records, per (table, topic), which incarnation of
   * the topic keeps the plain dedupe keys (topic-incarnations.ts, decision
   * 49); created with one partition if missing. @default 'sluice-topic-incarnations'
   */
  readonly incarnationsTopic: string;
  /** Value format: JSON, or the table's protobuf message (a table created with `proto`). @default 'json' */
  readonly format: 'json' | 'protobuf';
  /** Most messages in one write. @default 5_000 */
  readonly batchRecordsMax: number;
  /** Most value bytes in one write (also bounded by the node's body limit). @default 4 MiB */
  readonly batchBytesMax: number;
  /** Writes of this source in flight at once; 1 for tables with a primary key (per-key order). @default 3 */
  readonly inFlightBatchesMax: number;
  /**
   * Most bytes one fetch may return, and per partition. The client makes
   * objects for a whole fetch at once: 8 MiB (~50,000 messages) outlived
   * scavenges and cost a third more in GC per message than 1 MiB
   * (docs/benchmarks.md). A record batch over the partition bound still
   * comes when its partition is the first with data in a response
   * (KIP-74), and the broker's fetch session moves partitions that
   * returned data to the back, so a large batch waits a turn, never
   * forever.
   * @default 1 MiB and 256 KiB
   */
  readonly fetchBytesMax: number;
  readonly fetchPartitionBytesMax: number;
  /**
   * While batches keep finishing, the durable offsets are committed at most
   * this often (Kafka Connect's `offset.flush.interval.ms`). A source with
   * nothing left to write commits at once, whatever the interval.
   * @default 200
   */
  readonly commitIntervalMs: number;
  /** Messages the consumer stream buffers before it stops fetching. @default 4_096 */
  readonly bufferedMessagesMax: number;
  /** How often lag per partition is measured for `/metrics`. @default 5_000 */
  readonly lagIntervalMs: number;
  /** Consumer group session: a member silent this long loses its partitions. @default 10_000 */
  readonly sessionTimeoutMs: number;
  /**
   * Times the client retries a failed request (250 ms apart) before the
   * source gives the connection up and reconnects with back-off. @default 20
   */
  readonly clientRetries: number;
  /** TLS and SASL toward the brokers (`--kafka-tls`, `--kafka-sasl`, ...). @default plaintext, no SASL */
  readonly security: KafkaSecurity;
}

/** The SASL mechanisms a source can log in with. */
export const KAFKA_SASL_MECHANISMS = ['plain', 'scram-sha-256', 'scram-sha-512'] as const;
export type KafkaSaslMechanism = (typeof KAFKA_SASL_MECHANISMS)[number];

/** How a source reaches its brokers. Secrets stay in files, read at each connection (a rotated password is picked up on reconnect). */
export interface KafkaSecurity {
  /** Dial the brokers over TLS. @default false */
  readonly tls: boolean;
  /** CA certificates (PEM file) the brokers' certificates chain to; empty: the system's CAs. @default '' */
  readonly caFile: string;
  /** SASL mechanism, or none. @default 'none' */
  readonly sasl: KafkaSaslMechanism | 'none';
  /** SASL user and the file holding its password (trimmed; open to its owner only). @default '' */
  readonly user: string;
  readonly passwordFile: string;
}

/** Plaintext, no SASL. */
export const KAFKA_PLAINTEXT: KafkaSecurity = { tls: false, caFile: '', sasl: 'none', user: '', passwordFile: '' };

const MiB = 1024 * 1024;

/** The defaults of every setting but where to read and write (the CLIs show them in --help). */
export const KAFKA_SOURCE_DEFAULTS = {
  format: 'json',
  incarnationsTopic: 'sluice-topic-incarnations',
  batchRecordsMax: 5_000,
  batchBytesMax: 4 * MiB,
  inFlightBatchesMax: 3,
  fetchBytesMax: 1 * MiB,
  fetchPartitionBytesMax: MiB / 4,
  bufferedMessagesMax: 4_096,
  commitIntervalMs: 200,
  lagIntervalMs: 5_000,
  sessionTimeoutMs: 10_000,
  clientRetries: 20,
  security: KAFKA_PLAINTEXT,
} as const satisfies Omit<KafkaSourceConfig, 'brokers' | 'topic' | 'group' | 'table' | 'dlqTopic'>;

/** A source config with defaults for everything but where to read and write. */
export function kafkaSourceConfig(required: Pick<KafkaSourceConfig, 'brokers' | 'topic' | 'group' | 'table'> & Partial<KafkaSourceConfig>): KafkaSourceConfig {
  return { dlqTopic: `${required.topic}.dlq`, ...KAFKA_SOURCE_DEFAULTS, ...required };
}
