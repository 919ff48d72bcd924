/**
 * Kafka → sluice end to end (issue #4): a topic of N JSON records on 6
 * partitions, consumed by a node's Kafka source until every offset is
 * committed (so every record is durable). Next to it, in the same run and
 * on the same broker: the rate at which the client library produces the
 * topic, and the rate at which a bare consumer of the same library reads it
 * without writing anywhere (the ceiling of the source's input side).
 */
import { execFile } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { ProduceAcks, Producer } from '@platformatic/kafka';
import { KafkaBroker } from '../test/process/kafka.ts';
import { NodeProcess, http, sleep } from '../test/process/harness.ts';
import { BENCH_TABLE, recordLine } from './lib/records.ts';
import { consumeAll, type BareConsumerArgs } from './lib/kafka-bare-consumer.ts';
import { fmt, median } from './lib/stats.ts';

const execFileAsync = promisify(execFile);
const BARE_CONSUMER = fileURLToPath(new URL('./lib/kafka-bare-consumer.ts', import.meta.url));

const PARTITIONS = 6;
/** Messages per produce request: ~160 B each, under the broker's 1 MB batch limit per partition. */
const PRODUCE_BATCH = 3_000;
const DONE_TIMEOUT_MS = 600_000;
/** How often the bench reads the node's source progress: the end of its window is known to about this. */
const PROGRESS_POLL_MS = 10;

/** Options of the Kafka part of the sources benchmark. */
export interface KafkaBenchOptions {
  readonly records: number;
  readonly runs: number;
  readonly root: string;
  readonly log: (line: string) => void;
}

interface KafkaTrial {
  readonly produced: number;
  /** The bare consumer in the bench's process (warm from the second trial). */
  readonly consumed: number;
  /** The bare consumer in a fresh process, as cold as the node. */
  readonly consumedFresh: number;
  readonly sluice: number;
  /** Where the node's time went (the bench's window is their sum). */
  readonly phases: SluicePhases;
}

/** The node's run in phases, from polling its source's progress. */
interface SluicePhases {
  /** Ready → the first write durable: joining the group, the first fetch, the cold first writes. */
  readonly startMs: number;
  /** First write durable → every message written: the steady rate's window. */
  readonly steadyMs: number;
  /** Every message written → every offset committed (the commit timer). */
  readonly commitMs: number;
}

/** Runs the trials on one broker and logs a Markdown table of medians. */
export async function runKafkaBench(o: KafkaBenchOptions): Promise<void> {
  const cleanups: (() => Promise<unknown> | unknown)[] = [];
  const owner = { after: (fn: () => Promise<unknown> | unknown) => cleanups.push(fn) };
  try {
    const broker = await KafkaBroker.start(owner, { optimizingJit: true, heapMb: 1024 });
    const trials: KafkaTrial[] = [];
    for (let run = 0; run < o.runs; run++) trials.push(await trial(broker, run, o));
    const m = (f: (t: KafkaTrial) => number): number => median(trials.map(f));
    o.log(`## Kafka → sluice, one node (median of ${o.runs})`);
    o.log('');
    o.log(`${fmt(o.records)} JSON records (~160 B) on ${PARTITIONS} partitions of a local Kafka 4.3.1 broker (KRaft, one JVM). sluice: a node's Kafka source, 5,000 messages per write, 3 writes in flight, timed from the node's ready to every offset committed (so every record durable and deduplicated by its (topic, partition, offset) key; includes joining the group). Peers in the same run: @platformatic/kafka producing the topic (idempotent, acks=all), and a bare consumer of the same library reading it to the end without writing anywhere, timed from just before it joins its group: once in a fresh process per run, cold as the node is (the like-for-like peer), and once in the bench's own process, where its code is warm from the second run on.`);
    o.log('');
    o.log('| figure | records/s | sluice ÷ figure |');
    o.log('|---|---|---|');
    o.log(`| sluice Kafka source (durable, committed) | ${fmt(m((t) => t.sluice))} | |`);
    o.log(`| bare consumer, no writes, a fresh process per run (cold, as the node) | ${fmt(m((t) => t.consumedFresh))} | ${fmt(m((t) => t.sluice) / m((t) => t.consumedFresh), 2)}× |`);
    o.log(`| bare consumer, no writes, in the bench's process (warm from run 2) | ${fmt(m((t) => t.consumed))} | ${fmt(m((t) => t.sluice) / m((t) => t.consumed), 2)}× |`);
    o.log(`| producer | ${fmt(m((t) => t.produced))} | ${fmt(m((t) => t.sluice) / m((t) => t.produced), 2)}× |`);
    o.log('');
    const steady = m((t) => o.records / (t.phases.steadyMs / 1000));
    o.log(`sluice's window in phases (medians; its source's progress polled every ${PROGRESS_POLL_MS} ms): ready → first write durable ${fmt(m((t) => t.phases.startMs))} ms (joining the group, the first fetch, the cold first writes); → every message written ${fmt(m((t) => t.phases.steadyMs))} ms (${fmt(steady)} messages/s, ${fmt(steady / m((t) => t.consumedFresh), 2)}× the fresh consumer's whole run); → every offset committed ${fmt(m((t) => t.phases.commitMs))} ms.`);
    o.log('');
  } finally {
    for (const fn of cleanups.reverse()) await fn();
  }
}

async function trial(broker: KafkaBroker, run: number, o: KafkaBenchOptions): Promise<KafkaTrial> {
  const topic = `bench-${run}`;
  await broker.createTopic(topic, PARTITIONS);
  const produced = await produce(broker, topic, o.records);
  const consumed = await consumeInProcess(broker, topic, o.records);
  const consumedFresh = await consumeInFreshProcess(broker, topic, o.records);
  const { rate: sluice, phases } = await sluiceRate(broker, topic, o.records, mkdtempSync(path.join(o.root, `kafka-${run}-`)));
  o.log(`run ${run + 1}: produce ${fmt(produced)}/s, bare consume ${fmt(consumed)}/s (fresh process ${fmt(consumedFresh)}/s), sluice ${fmt(sluice)}/s`);
  return { produced, consumed, consumedFresh, sluice, phases };
}

async function produce(broker: KafkaBroker, topic: string, records: number): Promise<number> {
  const producer = new Producer({ ...broker.clientOptions('bench-producer'), acks: ProduceAcks.ALL, idempotent: true });
  try {
    const started = performance.now();
    const inFlight = new Set<Promise<unknown>>();
    for (let first = 0; first < records; first += PRODUCE_BATCH) {
      const messages = [];
      for (let i = first; i < Math.min(records, first + PRODUCE_BATCH); i++) {
        messages.push({ topic, key: Buffer.from(`acct-${(i * 7919) % 100_000}`), value: Buffer.from(recordLine(i)) });
      }
      const p = producer.send({ messages }).finally(() => inFlight.delete(p));
      inFlight.add(p);
      if (inFlight.size >= 4) await Promise.race(inFlight);
    }
    await Promise.all(inFlight);
    return records / ((performance.now() - started) / 1000);
  } finally {
    await producer.close();
  }
}

/** The bare consumer in the bench's own process: warm from its second trial on. */
function consumeInProcess(broker: KafkaBroker, topic: string, records: number): Promise<number> {
  return consumeAll({ client: broker.clientOptions('bench-consumer'), groupId: `bench-bare-${topic}`, topic, records });
}

/** The bare consumer in a fresh process (bench/lib/kafka-bare-consumer.ts), cold as the node is. */
async function consumeInFreshProcess(broker: KafkaBroker, topic: string, records: number): Promise<number> {
  const args: BareConsumerArgs = { client: broker.clientOptions('bench-consumer-fresh'), groupId: `bench-fresh-${topic}`, topic, records };
  const { stdout } = await execFileAsync(process.execPath, [BARE_CONSUMER, JSON.stringify(args)], { timeout: DONE_TIMEOUT_MS });
  const { rate } = JSON.parse(stdout) as { rate: number };
  return rate;
}

async function sluiceRate(broker: KafkaBroker, topic: string, records: number, dataDir: string): Promise<{ rate: number; phases: SluicePhases }> {
  const cleanups: (() => Promise<unknown> | unknown)[] = [];
  const owner = { after: (fn: () => Promise<unknown> | unknown) => cleanups.push(fn) };
  try {
    // The table exists before the source starts, so the timed run never waits for it.
    const setup = await NodeProcess.start(owner, { dataDir });
    const created = await http(`${setup.url}/v1/tables`, { method: 'POST', body: JSON.stringify(BENCH_TABLE) });
    if (created.status !== 201) throw new Error(`create table: ${created.text}`);
    await setup.kill('SIGTERM');
    // A group of its own per trial: a member left behind by an earlier trial would hold up the join until its session expired.
    const node = await NodeProcess.start(owner, { dataDir, args: ['--kafka-brokers', broker.bootstrap, '--kafka-topic', topic, '--kafka-table', BENCH_TABLE.name, '--kafka-group', `bench-${topic}`] });
    const started = performance.now();
    const deadline = Date.now() + DONE_TIMEOUT_MS;
    let firstWritten: number | undefined;
    let allWritten: number | undefined;
    for (;;) {
      const res = await http(`${node.url}/v1/sources`);
      const now = performance.now();
      const source = (res.body.sources as { kind: string; state: string; error?: string; progress?: { records: number }; detail?: { committed: Record<string, string> } }[]).find((s) => s.kind === 'kafka');
      if (source?.state === 'failed') throw new Error(`Kafka source failed: ${source.error}`);
      const written = source?.progress?.records ?? 0;
      if (written > 0) firstWritten ??= now;
      if (written >= records) allWritten ??= now;
      const committed = Object.values(source?.detail?.committed ?? {}).reduce((sum, v) => sum + Number(v), 0);
      if (committed >= records) break;
      if (Date.now() > deadline) throw new Error(`Kafka source committed ${committed} of ${records} in ${DONE_TIMEOUT_MS} ms`);
      await sleep(PROGRESS_POLL_MS);
    }
    const ended = performance.now();
    const rate = records / ((ended - started) / 1000);
    await node.kill('SIGTERM');
    const first = firstWritten ?? ended;
    const all = allWritten ?? ended;
    return { rate, phases: { startMs: first - started, steadyMs: all - first, commitMs: ended - all } };
  } finally {
    for (const fn of cleanups.reverse()) await fn();
  }
}
