/**
 * Kafka topic names given as flags, checked at start with a message that
 * names the flag (exit code 2), rather than failing later at the broker
 * with the source already in the background (a bad dead-letter topic only
 * at the first dead letter).
 */
import { KAFKA_TOPIC_NAME_CHARS_MAX } from '../config.ts';
import { CliError } from './cli-error.ts';

/** `value` if Kafka accepts it as a topic name ([a-zA-Z0-9._-], 1 to 249 characters, not `.` or `..`); a CliError naming `flag` otherwise. */
export function kafkaTopicOption(value: string, flag: string): string {
  const legal = /^[a-zA-Z0-9._-]+$/.test(value) && value.length <= KAFKA_TOPIC_NAME_CHARS_MAX && value !== '.' && value !== '..';
  if (!legal) throw new CliError(`${flag} must be a Kafka topic name ([a-zA-Z0-9._-], 1 to ${KAFKA_TOPIC_NAME_CHARS_MAX} characters, not . or ..), got ${JSON.stringify(value)}`, 2);
  return value;
}

/** The topic flags of one source as given, and their names on this command. */
export interface KafkaTopicFlags {
  readonly topic: string;
  readonly dlqTopic: string | undefined;
  readonly incarnationsTopic: string | undefined;
  readonly flags: { readonly topic: string; readonly dlqTopic: string; readonly incarnationsTopic: string };
}

/**
 * The source config's topic names, each checked (CliError, exit 2, naming
 * its flag); without a dead-letter topic, the default `<topic>.dlq` is
 * checked too, since a topic of 246 characters or more makes it too long.
 */
export function kafkaTopicNames(t: KafkaTopicFlags): { topic: string; dlqTopic?: string; incarnationsTopic?: string } {
  const topic = kafkaTopicOption(t.topic, t.flags.topic);
  if (t.dlqTopic === undefined && `${topic}.dlq`.length > KAFKA_TOPIC_NAME_CHARS_MAX) {
    throw new CliError(`${t.flags.topic} ${topic.slice(0, 20)}… is ${topic.length} characters: its default dead-letter topic <topic>.dlq would pass Kafka's ${KAFKA_TOPIC_NAME_CHARS_MAX}; name one with ${t.flags.dlqTopic}`, 2);
  }
  return {
    topic,
    ...(t.dlqTopic === undefined ? {} : { dlqTopic: kafkaTopicOption(t.dlqTopic, t.flags.dlqTopic) }),
    ...(t.incarnationsTopic === undefined ? {} : { incarnationsTopic: kafkaTopicOption(t.incarnationsTopic, t.flags.incarnationsTopic) }),
  };
}
