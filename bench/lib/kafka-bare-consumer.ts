/**
 * The Kafka bench's bare consumer as a process of its own: reads a topic
 * to the end with @platformatic/kafka, writing nowhere, and prints its rate
 * as JSON. A fresh process per trial, as the sluice node is, so both sides
 * start with cold code: read in the bench's own process, the consumer ran
 * 1.5× faster from its second trial on (JIT warm-up), against a node that
 * starts cold every trial.
 *
 *   node bench/lib/kafka-bare-consumer.ts OPTIONS_JSON
 *   → {"rate": records per second, from just before `consume` to the last message}
 */
import { Consumer } from '@platformatic/kafka';

/** What the bench passes. */
export interface BareConsumerArgs {
  readonly client: { readonly clientId: string; readonly bootstrapBrokers: string[]; readonly retries: number; readonly retryDelay: number };
  readonly groupId: string;
  readonly topic: string;
  readonly records: number;
}

/** Reads `records` messages of `topic` from the start; the rate, timed from just before joining the group (as the node's). */
export async function consumeAll(a: BareConsumerArgs): Promise<number> {
  const consumer = new Consumer({ ...a.client, groupId: a.groupId, autocommit: false, maxWaitTime: 100, maxBytes: 8 * 1024 * 1024, maxBytesPerPartition: 1024 * 1024, highWaterMark: 4096 });
  try {
    const started = performance.now();
    const stream = await consumer.consume({ topics: [a.topic], mode: 'earliest' });
    let n = 0;
    await new Promise<void>((resolve, reject) => {
      stream.on('data', () => {
        if (++n === a.records) resolve();
      });
      stream.on('error', reject);
    });
    const rate = a.records / ((performance.now() - started) / 1000);
    await stream.close();
    return rate;
  } finally {
    await consumer.close(true);
  }
}

if (import.meta.main) {
  const rate = await consumeAll(JSON.parse(process.argv[2] ?? '{}') as BareConsumerArgs);
  process.stdout.write(`${JSON.stringify({ rate })}\n`);
}
