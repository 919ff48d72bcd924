/**
 * The Kafka source end to end against a real broker and real node
 * processes: 200,000 JSON messages on 6 partitions are consumed into a
 * table while the node is SIGKILLed mid-stream and restarted; the table
 * ends with every message exactly once although the restart re-delivered
 * records that were durable but not yet committed; the poison messages
 * land in the dead-letter topic with their errors in headers.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ProduceAcks, Producer } from '@platformatic/kafka';
import { KafkaBroker } from './kafka.ts';
import { committedSum, headerOf, readTopic } from './kafka-tools.ts';
import { NodeProcess, authHeaders, http, sleep, tempDir } from './harness.ts';

const MESSAGES = 200_000;
const PARTITIONS = 6;
const SEND_BATCH = 5_000;
const WAIT_MS = 120_000;

const READINGS = {
  name: 'readings',
  shardKey: 'device',
  fields: [
    { name: 'seq', type: 'int', required: true },
    { name: 'device', type: 'string', required: true },
    { name: 'v', type: 'float', required: true },
  ],
};

/** Poison messages, produced at these positions among the good ones, and the error each must carry. */
const POISON: { at: number; value: string; code: string; violation?: string; path?: string }[] = [
  { at: 10, value: 'not json {', code: 'INVALID_JSON' },
  { at: 90_000, value: '{"seq":"x","device":"d1","v":1}', code: 'SCHEMA_VIOLATION', violation: 'FORMAT', path: '/seq' },
  { at: 170_000, value: '{"seq":5,"v":1}', code: 'SCHEMA_VIOLATION', violation: 'REQUIRED', path: '/device' },
];

interface SourceStatus {
  name: string;
  kind: string;
  state: string;
  progress: { records: number; rejected: number; batches: number };
  detail?: { committed: Record<string, string>; lag: Record<string, number>; deadLettered: number };
  error?: string;
}

async function kafkaStatus(base: string): Promise<SourceStatus | undefined> {
  const res = await http(`${base}/v1/sources`);
  assert.equal(res.status, 200, res.text);
  return (res.body.sources as SourceStatus[]).find((s) => s.kind === 'kafka');
}

function committedTotal(s: SourceStatus | undefined): number {
  return Object.values(s?.detail?.committed ?? {}).reduce((sum, o) => sum + Number(o), 0);
}

async function waitFor<T>(what: () => string, probe: () => Promise<T | undefined>, timeoutMs = WAIT_MS): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const v = await probe();
    if (v !== undefined) return v;
    await sleep(100);
  }
  throw new Error(`timed out: ${what()}`);
}

async function exportSeqs(base: string): Promise<number[]> {
  const res = await fetch(`${base}/v1/tables/readings/export`, { headers: authHeaders() });
  assert.equal(res.status, 200);
  const text = await res.text();
  return text
    .split('\n')
    .filter((l) => l.length > 0)
    .map((l) => (JSON.parse(l) as { seq: number }).seq);
}

async function produceAll(broker: KafkaBroker, topic: string): Promise<void> {
  const producer = new Producer({ ...broker.clientOptions('sluice-test-producer'), acks: ProduceAcks.ALL, idempotent: true });
  try {
    let poison = 0;
    for (let start = 0; start < MESSAGES; start += SEND_BATCH) {
      const messages = [];
      for (let seq = start; seq < start + SEND_BATCH; seq++) {
        const device = `d${seq % 101}`;
        if (POISON[poison]?.at === seq) messages.push({ topic, key: Buffer.from(`poison${poison}`), value: Buffer.from((POISON[poison++] as { value: string }).value) });
        messages.push({ topic, key: Buffer.from(device), value: Buffer.from(JSON.stringify({ seq, device, v: seq / 2 })) });
      }
      await producer.send({ messages });
    }
  } finally {
    await producer.close();
  }
}

test('Kafka → table exactly once through a SIGKILL; poison messages in the DLQ with their errors', async (t) => {
  const broker = await KafkaBroker.start(t);
  const topic = 'readings-in';
  await broker.createTopic(topic, PARTITIONS);
  const produced = produceAll(broker, topic);

  const dataDir = tempDir(t);
  const kafkaArgs = ['--kafka-brokers', broker.bootstrap, '--kafka-topic', topic, '--kafka-table', 'readings', '--kafka-batch-records', '2000'];
  let node = await NodeProcess.start(t, { dataDir, args: kafkaArgs });
  // The table is created after the source started: its writes wait (retrying) until it exists.
  const created = await http(`${node.url}/v1/tables`, { method: 'POST', body: JSON.stringify(READINGS), headers: { 'content-type': 'application/json' } });
  assert.equal(created.status, 201, created.text);

  // Kill the source mid-stream, then compare what is durable with what the group committed. Commits
  // trail durability, so a restart must re-deliver stored records (what the dedupe key is for); a kill
  // that lands right after a commit caught up leaves nothing to re-deliver, so the source runs on and
  // is killed again, at most 3 times.
  let durable = 0;
  let committed = 0;
  for (let round = 1; ; round++) {
    const atLeast = round === 1 ? 40_000 : 10_000;
    await waitFor(
      () => `the source did not write ${atLeast} records`,
      async () => {
        const s = await kafkaStatus(node.url);
        return (s?.progress.records ?? 0) >= atLeast ? s : undefined;
      },
    );
    await node.kill('SIGKILL');
    if (round === 1) await produced;
    node = await NodeProcess.start(t, { dataDir });
    durable = (await exportSeqs(node.url)).length;
    committed = await committedSum(broker, topic, 'sluice-readings', PARTITIONS);
    t.diagnostic(`kill ${round}: ${durable} records durable, ${committed} messages committed`);
    if (durable > committed || round === 3) break;
    await node.kill('SIGTERM');
    node = await NodeProcess.start(t, { dataDir, args: kafkaArgs });
  }
  assert.ok(durable > committed, `expected durable (${durable}) > committed (${committed}) so that re-delivery is exercised`);
  await node.kill('SIGTERM');

  node = await NodeProcess.start(t, { dataDir, args: kafkaArgs });
  const total = MESSAGES + POISON.length;
  let last: SourceStatus | undefined;
  const done = await waitFor(
    () => `the source did not commit every message: ${JSON.stringify(last)}; node log: ${JSON.stringify(node.logs.filter((l) => Number(l['level']) >= 40).slice(-5))}`,
    async () => {
      const s = await kafkaStatus(node.url);
      last = s;
      if (s?.state === 'failed') throw new Error(`source failed: ${s.error}`);
      return committedTotal(s) === total ? s : undefined;
    },
  );
  // It stored the MESSAGES - durable records it had not got; the rest it wrote were re-delivered ones, absorbed by their
  // dedupe keys: every durable record past the committed offsets (poison messages among the committed ones make it more).
  const rewritten = done.progress.records - (MESSAGES - durable);
  assert.ok(rewritten >= durable - committed, `the last run rewrote ${rewritten} re-delivered records; ${durable - committed} were durable past the commits`);

  const seqs = await exportSeqs(node.url);
  const seen = new Uint8Array(MESSAGES);
  for (const seq of seqs) {
    assert.ok(Number.isInteger(seq) && seq >= 0 && seq < MESSAGES, `unexpected seq ${seq}`);
    assert.equal(seen[seq], 0, `seq ${seq} stored twice`);
    seen[seq] = 1;
  }
  assert.equal(seen.indexOf(0), -1, `seq ${seen.indexOf(0)} is missing`);
  assert.equal(seqs.length, MESSAGES);

  // Poison: in the DLQ, each once per delivery that refused it, with the error in headers.
  const letters = await readTopic(broker, `${topic}.dlq`, POISON.length);
  const header = headerOf;
  const byValue = new Map(letters.map((m) => [m.value.toString(), m]));
  for (const p of POISON) {
    const letter = byValue.get(p.value);
    assert.ok(letter !== undefined, `poison ${p.value} is not in the DLQ`);
    assert.equal(header(letter, 'sluice.error.code'), p.code);
    assert.equal(header(letter, 'sluice.error.violation'), p.violation);
    if (p.path !== undefined) assert.equal(header(letter, 'sluice.error.path'), p.path);
    assert.ok((header(letter, 'sluice.error.message') ?? '').length > 0);
    assert.equal(header(letter, 'sluice.source.topic'), topic);
    assert.equal(header(letter, 'sluice.table'), 'readings');
  }
  // Lag per partition reaches /metrics (measured every 5 s) and drains to 0 once all is committed.
  const metrics = await waitFor(
    () => 'lag of every partition did not reach 0 in /metrics',
    async () => {
      const text = await (await fetch(`${node.url}/metrics`, { headers: authHeaders() })).text();
      const zero = Array.from({ length: PARTITIONS }, (_, p) => new RegExp(`sluice_kafka_consumer_lag\\{topic="${topic}",partition="${p}"\\} 0\n`));
      return zero.every((re) => re.test(text)) ? text : undefined;
    },
    20_000,
  );
  assert.match(metrics, /sluice_source_records_total\{source="kafka:readings-in",kind="kafka"\} [1-9]/);
  assert.match(metrics, /sluice_kafka_dead_lettered_total\{topic="readings-in"\} [1-9]/);
});
