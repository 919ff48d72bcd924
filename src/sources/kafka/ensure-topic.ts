/**
 * The topics a source makes unless they exist (its dead-letter topic, the
 * incarnation registry of decision 49), and what a broker with ACLs
 * refuses, said as PERMISSION_DENIED naming the topic and the operation.
 *
 * Existence is asked of a client the source has open anyway (one Metadata
 * request, no topic auto-creation), so a start makes no Admin client, no
 * extra connection, TLS handshake or SASL login, once the topics exist.
 * Asking CreateTopics instead is not only dearer: a broker answers it with
 * TOPIC_AUTHORIZATION_FAILED for a principal without CREATE even when the
 * topic exists (Kafka authorizes before it looks), which stopped every
 * source whose operator had made the topics for it.
 */
import type { Base } from '@platformatic/kafka';
import { SluiceError } from '../../core/errors.ts';
import { kafkaClient } from './kafka-client.ts';

/** Client options an Admin is made with (the source's: brokers, retries, TLS and SASL). */
export interface TopicClient {
  readonly clientId: string;
  readonly bootstrapBrokers: string[];
}

/** A topic a source needs, and what the principal must be allowed on it (for the messages). */
export interface NeededTopic {
  readonly name: string;
  /** What the topic is to the source, e.g. "the dead-letter topic". */
  readonly role: string;
  /** ACL operations the source uses on it, e.g. "READ and WRITE". */
  readonly operations: string;
  /** Topic configs it is created with (e.g. compaction). */
  readonly configs?: readonly { name: string; value: string }[];
}

/** Kafka's answers that mean an ACL refused the request. */
const DENIED = ['TOPIC_AUTHORIZATION_FAILED', 'CLUSTER_AUTHORIZATION_FAILED', 'TRANSACTIONAL_ID_AUTHORIZATION_FAILED'];

/** True when a Kafka client error (or one of its causes) is an ACL's refusal. */
export async function isKafkaDenied(err: unknown): Promise<boolean> {
  const { findErrorBy } = await kafkaClient();
  return err instanceof Error && DENIED.some((apiId) => findErrorBy(err, 'apiId', apiId) !== null);
}

/** PERMISSION_DENIED saying what `topic` needs when `err` is an ACL's refusal; `err` itself otherwise. */
export async function deniedOr(err: unknown, message: string): Promise<unknown> {
  return (await isKafkaDenied(err)) ? new SluiceError('PERMISSION_DENIED', message, [], { cause: err }) : err;
}

/**
 * Creates `topic` (one partition, the broker's replication) unless `probe`,
 * an open client of the same brokers and principal, sees it already.
 */
export async function ensureTopic(probe: Base, client: TopicClient, topic: NeededTopic): Promise<void> {
  let hidden = false;
  try {
    // No retries: a topic that is missing answers UNKNOWN_TOPIC_OR_PARTITION, which the client would retry for seconds.
    const metadata = await probe.metadata({ topics: [topic.name], autocreateTopics: false, retries: 0 });
    if (metadata.topics.get(topic.name) !== undefined) return;
  } catch (err) {
    // Missing, or the broker not answering yet: CreateTopics below says which. A user without DESCRIBE on the topic
    // is refused whether or not it exists (Kafka does not tell), and one with CREATE may still make it.
    hidden = await isKafkaDenied(err);
  }
  await createTopic(client, topic, hidden);
}

/** Creates `topic`; `hidden`: the user was refused its metadata, so whether it exists is not known. */
async function createTopic(client: TopicClient, topic: NeededTopic, hidden: boolean): Promise<void> {
  const { Admin, findErrorBy } = await kafkaClient();
  const admin = new Admin({ ...client, clientId: `${client.clientId}-admin` });
  try {
    await admin.createTopics({ topics: [topic.name], partitions: 1, replicas: -1, configs: [...(topic.configs ?? [])] });
  } catch (err) {
    if (findErrorBy(err as Error, 'apiId', 'TOPIC_ALREADY_EXISTS') !== null) return;
    const how = topic.configs === undefined ? 'one partition' : `one partition, ${topic.configs.map((c) => `${c.name}=${c.value}`).join(', ')}`;
    throw await deniedOr(
      err,
      hidden
        ? `the Kafka user may not see or create ${topic.role} ${topic.name} (Kafka does not tell a user without DESCRIBE on a topic whether it exists): grant it ${topic.operations} on the topic, made first if missing (${how}), or grant it CREATE`
        : `the Kafka user may not create ${topic.role} ${topic.name}, which does not exist: create it (${how}) and grant the user ${topic.operations} on it, or grant it CREATE`,
    );
  } finally {
    // A failed close must not hide why the creation failed.
    await admin.close().catch(() => undefined);
  }
}
