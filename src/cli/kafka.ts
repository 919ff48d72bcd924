/**
 * `sluice kafka`: runs a Kafka source in its own process, writing to a node
 * over HTTP, until SIGTERM/SIGINT. Same consumer group, commit order, dead
 * letters and dedupe keys as the source inside `sluice serve --kafka-*`
 * (the node's dedupe fence applies to them the same way).
 */
import { Command, Option } from 'commander';
import { pino } from 'pino';
import { KAFKA_SOURCE_DEFAULTS, kafkaSourceConfig, type KafkaSourceConfig } from '../sources/kafka/kafka-source-config.ts';
import { CliError } from './cli-error.ts';
import { intOption } from './int-option.ts';
import { kafkaTopicNames } from './kafka-topic-option.ts';
import { DEFAULT_URL } from './http-client.ts';
import { authHeaders } from './client-auth.ts';
import { addKafkaSecurityOptions, checkKafkaSecurityFiles, kafkaSecurityOf, type KafkaSecurityFlags } from './kafka-security-flags.ts';
import { tuneHeapGrowing } from './v8-heap.ts';

/** `sluice kafka`'s options as commander parses them. */
export interface KafkaOptions extends KafkaSecurityFlags {
  brokers: string;
  topic: string;
  table: string;
  group?: string;
  dlqTopic?: string;
  incarnationsTopic?: string;
  url: string;
  format: 'json' | 'protobuf';
  batchRecords: string;
  inFlight: string;
  statusEveryMs: string;
  sessionTimeoutMs: string;
  retries: string;
  commitIntervalMs: string;
  logLevel: string;
}

/** The kafka command. */
export function kafkaCommand(): Command {
  const command = new Command('kafka')
    .description('consume a Kafka topic into a table of a node, exactly once, until SIGTERM')
    .requiredOption('--brokers <host:port,...>', 'Kafka bootstrap brokers')
    .requiredOption('--topic <topic>', 'topic to consume')
    .requiredOption('--table <table>', 'table the messages go to')
    .option('--group <group>', 'consumer group (default sluice-<table>)')
    .option('--dlq-topic <topic>', 'dead-letter topic for refused messages (default <topic>.dlq)')
    .option('--incarnations-topic <topic>', `compacted topic recording which incarnation of a topic keeps the plain dedupe keys, created if missing (default ${KAFKA_SOURCE_DEFAULTS.incarnationsTopic})`)
    .option('--url <url>', 'sluice node URL', DEFAULT_URL)
    .addOption(new Option('--format <format>', 'message values: JSON, or the table\'s protobuf message').choices(['json', 'protobuf']).default('json'))
    .option('--batch-records <n>', 'most messages per write', String(KAFKA_SOURCE_DEFAULTS.batchRecordsMax))
    .option('--in-flight <n>', 'writes in flight at once', String(KAFKA_SOURCE_DEFAULTS.inFlightBatchesMax))
    .option('--commit-interval-ms <ms>', 'while batches keep finishing, commit the durable offsets at most this often (an idle source commits at once)', String(KAFKA_SOURCE_DEFAULTS.commitIntervalMs))
    .option('--status-every-ms <ms>', 'print progress to stderr this often (0: never)', '5000')
    .option('--session-timeout-ms <ms>', 'consumer group session: a member silent this long loses its partitions (the broker allows 6000 and up by default)', String(KAFKA_SOURCE_DEFAULTS.sessionTimeoutMs))
    .option('--retries <n>', 'times the Kafka client retries a failed request (250 ms apart) before it reconnects with back-off', String(KAFKA_SOURCE_DEFAULTS.clientRetries))
    .option('--log-level <level>', 'pino log level (logs go to stderr)', 'warn');
  return addKafkaSecurityOptions(command).action(async (o: KafkaOptions) => {
    tuneHeapGrowing();
    await runKafka(o);
  });
}

/** The source config of `sluice kafka`'s parsed options; a CliError (exit 2) for a value out of bounds. */
export function kafkaCommandSource(o: KafkaOptions): KafkaSourceConfig {
  return kafkaSourceConfig({
    brokers: o.brokers.split(',').map((b) => b.trim()).filter((b) => b !== ''),
    table: o.table,
    group: o.group ?? `sluice-${o.table}`,
    batchRecordsMax: intOption(o.batchRecords, '--batch-records', 1, 100_000),
    inFlightBatchesMax: intOption(o.inFlight, '--in-flight', 1, 64),
    format: o.format,
    sessionTimeoutMs: intOption(o.sessionTimeoutMs, '--session-timeout-ms', 1_000, 3_600_000),
    clientRetries: intOption(o.retries, '--retries', 0, 1_000),
    commitIntervalMs: intOption(o.commitIntervalMs, '--commit-interval-ms', 1, 3_600_000),
    security: kafkaSecurityOf(o),
    ...kafkaTopicNames({ topic: o.topic, dlqTopic: o.dlqTopic, incarnationsTopic: o.incarnationsTopic, flags: { topic: '--topic', dlqTopic: '--dlq-topic', incarnationsTopic: '--incarnations-topic' } }),
  });
}

async function runKafka(o: KafkaOptions): Promise<void> {
  // Loaded here, not at the top: the Kafka client is heavy and every other command would load it.
  const [{ KafkaSource }, { HttpDoor }, { describeKafkaError }] = await Promise.all([
    import('../sources/kafka/kafka-source.ts'),
    import('../sources/kafka/http-door.ts'),
    import('../sources/kafka/kafka-security.ts'),
  ]);
  const log = pino({ level: o.logLevel }, pino.destination(2));
  // Built before the node is asked anything: a bad flag is a usage error whether or not the node answers.
  const config = kafkaCommandSource(o);
  await checkKafkaSecurityFiles(config.security);
  const door = new HttpDoor(o.url, intOption(o.inFlight, '--in-flight', 1, 64), authHeaders());
  let primaryKey: string | undefined;
  try {
    const table = await door.describe(o.table);
    primaryKey = table.primaryKey;
    if (o.format === 'protobuf') {
      if (table.proto === undefined) throw new Error('it has no protobuf message (create it with "proto" to read protobuf values)');
      // Described again when a write is refused for a schema reason: a rename after this start must not break it.
      door.useProto(table.proto, table.fields, { name: o.table, version: table.version });
    }
  } catch (err) {
    throw new CliError(`table ${o.table} at ${o.url}: ${(err as Error).message}`, 2);
  }
  const source = new KafkaSource(config, { door, hasPrimaryKey: () => primaryKey !== undefined, log });
  try {
    await source.start();
  } catch (err) {
    throw new CliError(`cannot start the Kafka source: ${describeKafkaError(err)}`);
  }
  const statusEveryMs = Number(o.statusEveryMs);
  const timer =
    statusEveryMs > 0
      ? setInterval(() => {
          const s = source.status();
          process.stderr.write(`${s.state}: ${s.progress.records} records, ${s.progress.rejected} dead-lettered, lag ${JSON.stringify(s.detail?.['lag'] ?? {})}${s.error === undefined ? '' : `, last error: ${s.error}`}\n`);
        }, statusEveryMs)
      : undefined;
  await new Promise<void>((resolve) => {
    const stop = (): void => resolve();
    process.once('SIGTERM', stop);
    process.once('SIGINT', stop);
  });
  clearInterval(timer);
  await source.stop();
  const s = source.status();
  process.stdout.write(`${s.progress.records} records written, ${s.progress.rejected} dead-lettered, ${s.progress.batches} batches\n`);
  if (s.state === 'failed') throw new CliError(`the Kafka source failed: ${s.error}`);
}
