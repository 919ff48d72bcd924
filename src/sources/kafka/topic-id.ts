/**
 * Which incarnation of a topic a message belongs to, in its dedupe key
 * (decision 49). A topic deleted and created again under its name restarts
 * its offsets at 0; only its topic id (a UUID since Kafka 2.8, KIP-516,
 * Metadata v10+) tells the two apart. The first incarnation a (table,
 * topic) was read from keeps the plain `kafka:<topic>:<partition>:` prefix,
 * which every record stored before topic ids were in the keys carries; any
 * other incarnation's prefix names its id: `kafka:<topic>@<id>:<partition>:`.
 * A topic name cannot hold `@` or `:` (Kafka allows [a-zA-Z0-9._-]), so no
 * other topic's prefix can be either form.
 */
import type { ClusterMetadata } from '@platformatic/kafka';

const ZERO_UUID_HEX = '0'.repeat(32);
const UUID_HEX = /^[0-9a-f]{32}$/;

/**
 * Kafka's text form of a topic id (base64url of its 16 bytes, unpadded:
 * what `kafka-topics.sh --describe` shows), from the client's hyphenated
 * hex. Undefined when the broker gave no id: Metadata below v10 (the client
 * then puts the topic's name in its place) or the all-zero id.
 */
export function kafkaTopicId(clientId: string | undefined): string | undefined {
  const hex = clientId?.replaceAll('-', '').toLowerCase();
  if (hex === undefined || !UUID_HEX.test(hex) || hex === ZERO_UUID_HEX) return undefined;
  return Buffer.from(hex, 'hex').toString('base64url');
}

/**
 * The topic part of an incarnation's dedupe keys: the topic's name for the
 * incarnation that keeps the plain keys (or when the broker names no id),
 * else `<topic>@<id>`.
 */
export function keyTopic(topic: string, topicId: string | undefined, plainTopicId: string | undefined): string {
  return topicId === undefined || topicId === plainTopicId ? topic : `${topic}@${topicId}`;
}

/**
 * The id `metadata` gives `topic` now, when it is not `read`, the id of the
 * incarnation a connection reads: the topic was deleted and created again.
 * Undefined otherwise, and when either id is unknown.
 */
export function newerIncarnation(metadata: ClusterMetadata | undefined, topic: string, read: string | undefined): string | undefined {
  const now = kafkaTopicId(metadata?.topics.get(topic)?.id);
  return read === undefined || now === undefined || now === read ? undefined : now;
}
