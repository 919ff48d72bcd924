/**
 * Test helpers around the Kafka source: a `sluice kafka` child process,
 * reading dead letters back with their headers, and a group's committed offsets.
 */
import type { ChildProcess } from 'node:child_process';
import path from 'node:path';
import { Consumer, type Message } from '@platformatic/kafka';
import type { KafkaBroker } from './kafka.ts';
import { ROOT, cliProcessEnv } from './harness.ts';
import { spawnOwned } from './owned-spawn.ts';

/** A running `sluice kafka`: its process, everything it printed, and its exit. */
export interface SluiceKafkaProcess {
  readonly child: ChildProcess;
  output(): string;
  readonly exited: Promise<number | null>;
}

/** Starts `sluice kafka ARGS` (with SLUICE_TOKEN=TEST_TOKEN, then `env`); SIGKILLed when the test ends if still running. */
export function startSluiceKafka(t: { after: (fn: () => unknown) => void }, args: readonly string[], env: Readonly<Record<string, string>> = {}): SluiceKafkaProcess {
  const child = spawnOwned(process.execPath, [path.join(ROOT, 'bin', 'sluice.js'), 'kafka', ...args], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'], env: cliProcessEnv(env) });
  let output = '';
  child.stdout?.setEncoding('utf8').on('data', (c: string) => (output += c));
  child.stderr?.setEncoding('utf8').on('data', (c: string) => (output += c));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  t.after(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  });
  return { child, output: () => output, exited };
}

/** The sum of `group`'s committed offsets over `topic`'s first `partitions` partitions (0 for a partition with none). */
export async function committedSum(broker: KafkaBroker, topic: string, group: string, partitions: number): Promise<number> {
  const probe = new Consumer({ ...broker.clientOptions(`offsets-${group}`), groupId: group });
  try {
    const committed = await probe.listCommittedOffsets({ topics: [{ topic, partitions: Array.from({ length: partitions }, (_, i) => i) }] });
    return (committed.get(topic) ?? []).reduce((sum, o) => sum + (o < 0n ? 0 : Number(o)), 0);
  } finally {
    await probe.close(true);
  }
}

/** Reads `topic` from the start until `count` messages arrived (or `timeoutMs` passed). */
export async function readTopic(broker: KafkaBroker, topic: string, count: number, timeoutMs = 60_000): Promise<Message[]> {
  const consumer = new Consumer({ ...broker.clientOptions(`reader-${topic}`), groupId: `reader-${topic}-${process.pid}-${Date.now()}`, autocommit: false, maxWaitTime: 100 });
  try {
    const stream = await consumer.consume({ topics: [topic], mode: 'earliest' });
    const messages: Message[] = [];
    const deadline = Date.now() + timeoutMs;
    for await (const m of stream) {
      messages.push(m as Message);
      if (messages.length >= count || Date.now() > deadline) break;
    }
    await stream.close();
    return messages;
  } finally {
    await consumer.close(true);
  }
}

/** A header of a consumed message as a string. */
export function headerOf(m: Message, key: string): string | undefined {
  for (const [k, v] of m.headers) if (k.toString() === key) return v.toString();
  return undefined;
}
