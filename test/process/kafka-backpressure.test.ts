/**
 * Backpressure reaches Kafka, not the heap: while the node has no room for
 * writes (a slow HTTP upload holds the whole in-flight byte budget), the
 * Kafka source stops reading. 100 MB produced meanwhile stay in Kafka as
 * lag, the node's resident memory stays flat, /v1/sources and /metrics say
 * "paused"; once the room is back, every message is stored. Then a table
 * rate limit: the source waits for the rate instead of failing.
 */
import assert from 'node:assert/strict';
import { request } from 'node:http';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { ProduceAcks, Producer } from '@platformatic/kafka';
import { KafkaBroker } from './kafka.ts';
import { committedSum } from './kafka-tools.ts';
import { NodeProcess, authHeaders, http, sleep, tempDir } from './harness.ts';

const MESSAGES = 100_000;
const VALUE_PAD = 'x'.repeat(1_000);
const PARTITIONS = 3;
const BUDGET_BYTES = 1024 * 1024;
/**
 * What the source may add to the node's memory while paused: its stream buffer and one fetch, well under the
 * 100 MB produced (a source that buffered them would pass it). The growth of a
 * fresh node's heap over the same seconds was 30–43 MiB in four CI runs and 54 MiB in one on a busy machine
 * (2026-12-08), so 48 MiB measured the machine as much as the source.
 */
const RSS_GROWTH_BYTES_MAX = 64 * 1024 * 1024;

function rssBytes(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  assert.ok(m?.[1] !== undefined);
  return Number(m[1]) * 1024;
}

interface SourceStatus {
  kind: string;
  state: string;
  progress: { records: number };
}

async function kafkaSource(base: string): Promise<SourceStatus> {
  const res = await http(`${base}/v1/sources`);
  const s = (res.body.sources as SourceStatus[]).find((x) => x.kind === 'kafka');
  assert.ok(s !== undefined, res.text);
  return s;
}

/** Starts an upload that declares `bytes` and sends one byte: it holds that much admission until `finish`. */
function holdAdmission(base: string, bytes: number): { finish: () => Promise<number> } {
  const url = new URL(`${base}/v1/tables/readings/records`);
  let status: Promise<number> = Promise.resolve(0);
  const req = request({ host: url.hostname, port: url.port, path: url.pathname, method: 'POST', headers: { ...authHeaders(), 'content-length': String(bytes), 'content-type': 'application/x-ndjson' } });
  status = new Promise((resolve, reject) => {
    req.on('response', (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    });
    req.on('error', reject);
  });
  const line = `${JSON.stringify({ seq: -1, device: 'hold', pad: '' })}\n`;
  req.write(line);
  return {
    finish: async () => {
      req.end(' '.repeat(bytes - line.length));
      return status;
    },
  };
}

test('a full node pauses the Kafka source: lag grows in Kafka, memory stays flat, then everything arrives', async (t) => {
  const broker = await KafkaBroker.start(t);
  const topic = 'bp-in';
  await broker.createTopic(topic, PARTITIONS);
  const node = await NodeProcess.start(t, {
    dataDir: tempDir(t),
    args: ['--in-flight-bytes-max', String(BUDGET_BYTES), '--kafka-brokers', broker.bootstrap, '--kafka-topic', topic, '--kafka-table', 'readings'],
  });
  const table = {
    name: 'readings',
    shardKey: 'device',
    fields: [
      { name: 'seq', type: 'int', required: true },
      { name: 'device', type: 'string', required: true },
      { name: 'pad', type: 'string' },
    ],
  };
  assert.equal((await http(`${node.url}/v1/tables`, { method: 'POST', body: JSON.stringify(table) })).status, 201);

  // Take the node's whole write budget, then produce while the source cannot write.
  const hold = holdAdmission(node.url, BUDGET_BYTES);
  await sleep(300);
  const producer = new Producer({ ...broker.clientOptions('bp-producer'), acks: ProduceAcks.ALL, idempotent: true });
  t.after(() => producer.close());
  const rssBefore = rssBytes(node.pid);
  let paused = false;
  for (let start = 0; start < MESSAGES; start += 1_000) {
    const messages = Array.from({ length: 1_000 }, (_, i) => {
      const seq = start + i;
      return { topic, key: Buffer.from(`d${seq % 50}`), value: Buffer.from(JSON.stringify({ seq, device: `d${seq % 50}`, pad: VALUE_PAD })) };
    });
    await producer.send({ messages });
    paused ||= (await kafkaSource(node.url)).state === 'paused';
  }
  await sleep(1_000);
  const status = await kafkaSource(node.url);
  paused ||= status.state === 'paused';
  const rssGrowth = rssBytes(node.pid) - rssBefore;
  t.diagnostic(`while held: state ${status.state}, ${status.progress.records} records written, RSS +${Math.round(rssGrowth / 2 ** 20)} MiB`);
  assert.ok(paused, 'the source reported paused while the node was full');
  assert.equal(status.progress.records, 0, 'nothing was written while the budget was held');
  assert.ok(rssGrowth < RSS_GROWTH_BYTES_MAX, `RSS grew ${rssGrowth} bytes while 100 MB waited in Kafka`);
  const metrics = await (await fetch(`${node.url}/metrics`, { headers: authHeaders() })).text();
  assert.match(metrics, /sluice_source_paused\{source="kafka:bp-in",kind="kafka"\} 1/);

  // The lag is in Kafka: the group has committed (almost) nothing of what was produced.
  assert.equal(await committedSum(broker, topic, 'sluice-readings', PARTITIONS), 0);

  // Room again: the source resumes and writes everything.
  const holdStatus = await hold.finish();
  assert.equal(holdStatus, 200, 'the held upload itself completes');
  const deadline = Date.now() + 120_000;
  let s = await kafkaSource(node.url);
  while (s.progress.records < MESSAGES && Date.now() < deadline) {
    await sleep(200);
    s = await kafkaSource(node.url);
  }
  assert.equal(s.progress.records, MESSAGES);
  assert.equal(s.state, 'running');

  // A table's rate limit holds the source back instead of failing it: 4,000 more messages at 1,000 records/s
  // (burst 500, smaller than a fetch) all arrive, the source waited for the rate, and no write was refused for it.
  const limited = await http(`${node.url}/v1/tables/readings`, { method: 'PATCH', body: JSON.stringify({ limits: { recordsPerSecond: 1_000, recordsBurst: 500 } }) });
  assert.equal(limited.status, 200, limited.text);
  const more = Array.from({ length: 4_000 }, (_, i) => ({ topic, key: Buffer.from(`r${i % 50}`), value: Buffer.from(JSON.stringify({ seq: MESSAGES + i, device: `r${i % 50}` })) }));
  await producer.send({ messages: more });
  let failed = false;
  while (s.progress.records < MESSAGES + more.length && Date.now() < deadline + 60_000) {
    await sleep(200);
    s = await kafkaSource(node.url);
    failed ||= s.state === 'failed';
  }
  assert.equal(s.progress.records, MESSAGES + more.length);
  assert.equal(failed, false, 'the source never failed for the limit');
  const after = await (await fetch(`${node.url}/metrics`, { headers: authHeaders() })).text();
  const waited = Number(/^sluice_rate_limit_wait_seconds_total\{table="readings"\} ([0-9.e+-]+)$/m.exec(after)?.[1] ?? 0);
  assert.ok(waited >= 1, `3,500 records past the burst at 1,000/s: the source waited for the rate (${waited} s counted)`);
  assert.doesNotMatch(after, /^sluice_rate_limited_total\{table="readings"/m, 'no write of the source was refused for the limit');
});
