/**
 * Kafka topic names given as flags, checked at start with a message that
 * names the flag (exit code 2), rather than failing later at the broker
 * with the source already in the background.
 */
import { KAFKA_TOPIC_NAME_CHARS_MAX } from '../config.ts';
import { CliError } from './cli-error.ts';

/** `value` if Kafka accepts it as a topic name ([a-zA-Z0-9._-], 1 to 249 characters, not `.` or `..`); a CliError naming `flag` otherwise. */
export function kafkaTopicOption(value: string, flag: string): string {
  const legal = /^[a-zA-Z0-9._-]+$/.test(value) && value.length <= KAFKA_TOPIC_NAME_CHARS_MAX && value !== '.' && value !== '..';
  if (!legal) throw new CliError(`${flag} must be a Kafka topic name ([a-zA-Z0-9._-], 1 to ${KAFKA_TOPIC_NAME_CHARS_MAX} characters, not . or ..), got ${JSON.stringify(value)}`, 2);
  return value;
}
