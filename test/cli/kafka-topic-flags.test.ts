/**
 * Every flag that names a Kafka topic is checked as a topic name at start
 * (exit 2, the flag named), as `--kafka-incarnations-topic` is: the data
 * topic and the dead-letter topic of `sluice serve` and `sluice kafka`.
 * Unchecked, a bad dead-letter topic was only refused by the broker at the
 * first dead letter, with the source already running. The default
 * dead-letter topic `<topic>.dlq` is checked too: a 246-character topic
 * makes a 250-character name. No broker: options are parsed and mapped.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Command } from 'commander';
import { serveCommand, serveConfig } from '../../src/cli/serve.ts';
import { kafkaCommand, kafkaCommandSource } from '../../src/cli/kafka.ts';

const BAD = ['', '.', '..', 'has space', 'a/b', 'a:b', 'x'.repeat(250)];

/** The options `command` parses from `args`, its action replaced (nothing runs). */
async function parsed<T>(command: Command, args: readonly string[]): Promise<T> {
  let options: T | undefined;
  command.exitOverride().configureOutput({ writeErr: () => {} }).action((o: T) => {
    options = o;
  });
  await command.parseAsync([...args], { from: 'user' });
  assert.ok(options !== undefined, 'the action did not run');
  return options;
}

async function serveRefuses(args: readonly string[], message: RegExp): Promise<void> {
  const o = await parsed<Parameters<typeof serveConfig>[0]>(serveCommand(), args);
  assert.throws(() => serveConfig(o), { message, exitCode: 2 }, JSON.stringify(args));
}

async function kafkaRefuses(args: readonly string[], message: RegExp): Promise<void> {
  const o = await parsed<Parameters<typeof kafkaCommandSource>[0]>(kafkaCommand(), args);
  assert.throws(() => kafkaCommandSource(o), { message, exitCode: 2 }, JSON.stringify(args));
}

test('serve: --kafka-dlq-topic and --kafka-topic are refused when they are no Kafka topic names', async () => {
  const source = ['--kafka-brokers', 'k1:9092', '--kafka-table', 'readings'];
  for (const bad of BAD) {
    await serveRefuses([...source, '--kafka-topic', 'events', '--kafka-dlq-topic', bad], /--kafka-dlq-topic must be a Kafka topic name/);
    await serveRefuses([...source, '--kafka-topic', bad], /--kafka-topic must be a Kafka topic name/);
  }
  const good = serveConfig(await parsed(serveCommand(), [...source, '--kafka-topic', 'events', '--kafka-dlq-topic', 'team-a.events_dlq']));
  assert.equal(good.kafkaSources[0]?.dlqTopic, 'team-a.events_dlq');
});

test('kafka: --dlq-topic and --topic are refused when they are no Kafka topic names', async () => {
  const base = ['--brokers', 'k1:9092', '--table', 'readings'];
  for (const bad of BAD) {
    await kafkaRefuses([...base, '--topic', 'events', '--dlq-topic', bad], /--dlq-topic must be a Kafka topic name/);
    await kafkaRefuses([...base, '--topic', bad], /--topic must be a Kafka topic name/);
  }
  assert.equal(kafkaCommandSource(await parsed(kafkaCommand(), [...base, '--topic', 'events', '--dlq-topic', 'events-dead'])).dlqTopic, 'events-dead');
});

test('the default dead-letter topic <topic>.dlq must be a Kafka topic name too: a long topic needs a named one', async () => {
  const long = 'x'.repeat(246);
  await serveRefuses(['--kafka-brokers', 'k1:9092', '--kafka-table', 't', '--kafka-topic', long], /--kafka-topic .*\.dlq.*--kafka-dlq-topic/);
  await kafkaRefuses(['--brokers', 'k1:9092', '--table', 't', '--topic', long], /--topic .*\.dlq.*--dlq-topic/);
  const named = serveConfig(await parsed(serveCommand(), ['--kafka-brokers', 'k1:9092', '--kafka-table', 't', '--kafka-topic', long, '--kafka-dlq-topic', 'short.dlq']));
  assert.equal(named.kafkaSources[0]?.dlqTopic, 'short.dlq');
  assert.equal(kafkaCommandSource(await parsed(kafkaCommand(), ['--brokers', 'k1:9092', '--table', 't', '--topic', 'x'.repeat(245)])).dlqTopic, `${'x'.repeat(245)}.dlq`);
});
