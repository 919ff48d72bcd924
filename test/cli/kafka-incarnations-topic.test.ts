/**
 * `--kafka-incarnations-topic` (serve) and `--incarnations-topic` (kafka):
 * the registry topic of decision 49 is the operator's to name (brokers with
 * ACLs or naming rules), and the name reaches the source config. No broker:
 * the commands' options are parsed and mapped, the sources not started.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Command } from 'commander';
import { serveCommand, serveConfig } from '../../src/cli/serve.ts';
import { kafkaCommand, kafkaCommandSource } from '../../src/cli/kafka.ts';
import { KAFKA_SOURCE_DEFAULTS } from '../../src/sources/kafka/kafka-source-config.ts';

const SOURCE = ['--kafka-brokers', 'k1:9092', '--kafka-topic', 'events', '--kafka-table', 'readings'];
const KAFKA = ['--brokers', 'k1:9092', '--topic', 'events', '--table', 'readings'];

/** The options `command` parses from `args`, its action replaced (nothing runs); a usage error throws instead of exiting. */
async function parsed<T>(command: Command, args: readonly string[]): Promise<T> {
  let options: T | undefined;
  command.exitOverride().configureOutput({ writeErr: () => {} }).action((o: T) => {
    options = o;
  });
  await command.parseAsync([...args], { from: 'user' });
  assert.ok(options !== undefined, 'the action did not run');
  return options;
}

test('serve: --kafka-incarnations-topic names the registry topic of the source it configures; without it the default', async () => {
  const named = serveConfig(await parsed(serveCommand(), [...SOURCE, '--kafka-incarnations-topic', 'team-a.sluice-incarnations']));
  assert.equal(named.kafkaSources[0]?.incarnationsTopic, 'team-a.sluice-incarnations');
  const unnamed = serveConfig(await parsed(serveCommand(), SOURCE));
  assert.equal(unnamed.kafkaSources[0]?.incarnationsTopic, KAFKA_SOURCE_DEFAULTS.incarnationsTopic);
});

test('serve: --kafka-incarnations-topic is refused when it is no Kafka topic name, and without --kafka-brokers', async () => {
  for (const bad of ['', '.', '..', 'has space', 'a/b', 'x'.repeat(250)]) {
    const o = await parsed<Parameters<typeof serveConfig>[0]>(serveCommand(), [...SOURCE, '--kafka-incarnations-topic', bad]);
    assert.throws(() => serveConfig(o), { message: /--kafka-incarnations-topic must be a Kafka topic name/, exitCode: 2 }, JSON.stringify(bad));
  }
  assert.equal(serveConfig(await parsed(serveCommand(), [...SOURCE, '--kafka-incarnations-topic', 'x'.repeat(249)])).kafkaSources[0]?.incarnationsTopic, 'x'.repeat(249));
  const alone = await parsed<Parameters<typeof serveConfig>[0]>(serveCommand(), ['--kafka-incarnations-topic', 'regs']);
  assert.throws(() => serveConfig(alone), { message: /--kafka-incarnations-topic needs --kafka-brokers/, exitCode: 2 });
});

test('kafka: --incarnations-topic names the registry topic of its source; without it the default; a bad name is refused', async () => {
  assert.equal(kafkaCommandSource(await parsed(kafkaCommand(), [...KAFKA, '--incarnations-topic', 'team-a.regs'])).incarnationsTopic, 'team-a.regs');
  assert.equal(kafkaCommandSource(await parsed(kafkaCommand(), KAFKA)).incarnationsTopic, KAFKA_SOURCE_DEFAULTS.incarnationsTopic);
  const bad = await parsed<Parameters<typeof kafkaCommandSource>[0]>(kafkaCommand(), [...KAFKA, '--incarnations-topic', 'a:b']);
  assert.throws(() => kafkaCommandSource(bad), { message: /--incarnations-topic must be a Kafka topic name/, exitCode: 2 });
});
