/**
 * `sluice kafka` as its own process, writing to a node over HTTP: SIGKILLed
 * mid-stream and started again, it leaves every message exactly once in the
 * table (the node resolves each dedupe key); a pretty-printed message is
 * stored, one that is not JSON lands in the dead-letter topic; with a
 * commit interval of 10 minutes it still commits every offset once it has
 * written all it read (an idle source commits at once); SIGTERM stops it
 * cleanly with a summary.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ProduceAcks, Producer } from '@platformatic/kafka';
import { KafkaBroker } from './kafka.ts';
import { NodeProcess, authHeaders, http, sleep, tempDir } from './harness.ts';
import { committedSum, headerOf, readTopic, startSluiceKafka } from './kafka-tools.ts';

const MESSAGES = 30_000;
const PRETTY_AT = 7_000;
const BAD_AT = 12_000;

const TABLE = {
  name: 'clicks',
  shardKey: 'user',
  fields: [
    { name: 'seq', type: 'int', required: true },
    { name: 'user', type: 'string', required: true },
  ],
};

async function tableSeqs(base: string): Promise<number[]> {
  const text = await (await fetch(`${base}/v1/tables/clicks/export`, { headers: authHeaders() })).text();
  return text
    .split('\n')
    .filter((l) => l.length > 0)
    .map((l) => (JSON.parse(l) as { seq: number }).seq);
}

test('sluice kafka: SIGKILL and restart store each message once; bad JSON to the DLQ; SIGTERM stops cleanly', async (t) => {
  const broker = await KafkaBroker.start(t);
  const topic = 'clicks-in';
  await broker.createTopic(topic, 3);
  const node = await NodeProcess.start(t, { dataDir: tempDir(t) });
  assert.equal((await http(`${node.url}/v1/tables`, { method: 'POST', body: JSON.stringify(TABLE) })).status, 201);

  const producer = new Producer({ ...broker.clientOptions('cli-producer'), acks: ProduceAcks.ALL, idempotent: true });
  t.after(() => producer.close());
  for (let start = 0; start < MESSAGES; start += 2_000) {
    const messages = [];
    for (let seq = start; seq < start + 2_000; seq++) {
      const value = seq === PRETTY_AT ? JSON.stringify({ seq, user: `u${seq % 31}` }, null, 2) : seq === BAD_AT ? '{"seq": 12000, "user": ' : JSON.stringify({ seq, user: `u${seq % 31}` });
      messages.push({ topic, key: Buffer.from(`u${seq % 31}`), value: Buffer.from(value) });
    }
    await producer.send({ messages });
  }

  const args = ['--brokers', broker.bootstrap, '--topic', topic, '--table', 'clicks', '--url', node.url, '--batch-records', '1000', '--status-every-ms', '0', '--commit-interval-ms', '600000'];
  const first = startSluiceKafka(t, args);
  const deadline = Date.now() + 60_000;
  while ((await http(`${node.url}/v1/sources`)).body.sources[0].progress.records < 8_000) {
    if (Date.now() > deadline || first.child.exitCode !== null) throw new Error(`the first run wrote too little: ${first.output()}`);
    await sleep(50);
  }
  first.child.kill('SIGKILL');
  await first.exited;

  const second = startSluiceKafka(t, args);
  let seqs: number[] = [];
  const deadline2 = Date.now() + 90_000;
  while ((seqs = await tableSeqs(node.url)).length < MESSAGES - 1) {
    if (Date.now() > deadline2 || second.child.exitCode !== null) throw new Error(`${seqs.length} of ${MESSAGES - 1} stored: ${second.output()}`);
    await sleep(200);
  }
  await sleep(500);
  seqs = await tableSeqs(node.url);
  const seen = new Set<number>();
  for (const seq of seqs) {
    assert.ok(!seen.has(seq), `seq ${seq} stored twice`);
    seen.add(seq);
  }
  assert.equal(seqs.length, MESSAGES - 1);
  assert.ok(seen.has(PRETTY_AT), 'the pretty-printed message is stored');
  assert.ok(!seen.has(BAD_AT));
  // The second run re-sent what the first had written but not committed: the node wrote more than it stored anew.
  const httpWritten = (await http(`${node.url}/v1/sources`)).body.sources[0].progress.records as number;
  assert.ok(httpWritten > MESSAGES - 1, `the node wrote ${httpWritten} records for ${MESSAGES - 1} messages: re-delivery was exercised`);

  // Everything is written and nothing more arrives: the offsets are committed now, not when the 10-minute interval ends.
  const deadline3 = Date.now() + 20_000;
  let committed = 0;
  while ((committed = await committedSum(broker, topic, 'sluice-clicks', 3)) < MESSAGES) {
    if (Date.now() > deadline3) throw new Error(`the idle source committed ${committed} of ${MESSAGES} offsets: ${second.output()}`);
    await sleep(250);
  }
  assert.equal(committed, MESSAGES);

  second.child.kill('SIGTERM');
  assert.equal(await second.exited, 0, second.output());
  assert.match(second.output(), /records written, \d+ dead-lettered/);

  const [letter] = await readTopic(broker, `${topic}.dlq`, 1);
  assert.ok(letter !== undefined);
  assert.equal(letter.value.toString(), '{"seq": 12000, "user": ');
  assert.equal(headerOf(letter, 'sluice.error.code'), 'INVALID_JSON');
  assert.equal(headerOf(letter, 'sluice.source.offset') !== undefined, true);
});
