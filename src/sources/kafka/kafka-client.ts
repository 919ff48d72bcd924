/**
 * The Kafka client library, loaded when a Kafka source first connects.
 * Importing it costs ~280 ms of a start (measured with Node's compile
 * cache warm: hundreds of protocol modules), which a node with no Kafka
 * source, or a command that never reaches Kafka, should not pay.
 */
/** The library's exports. */
export type KafkaClient = typeof import('@platformatic/kafka');

let loading: Promise<KafkaClient> | undefined;

/** The library's module, imported once. */
export function kafkaClient(): Promise<KafkaClient> {
  loading ??= import('@platformatic/kafka');
  return loading;
}
