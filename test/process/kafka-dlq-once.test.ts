/**
 * A poison message reaches the Kafka dead-letter topic once, even when the
 * consumer dies right after producing its letter: `sluice kafka` is
 * SIGKILLed (failpoint kafka.after-dlq-send) between producing the letters
 * and committing their transaction, then started again. A read_committed
 * reader (the default of @platformatic/kafka) sees each letter once; a
 * read_uncommitted reader also sees the dead run's aborted copies, which
 * proves the kill came after the send.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Consumer, FetchIsolationLevels, ProduceAcks, Producer, type Message } from '@platformatic/kafka';
import { KafkaBroker } from './kafka.ts';
import { NodeProcess, authHeaders, http, sleep, tempDir } from './harness.ts';
import { headerOf, startSluiceKafka } from './kafka-tools.ts';

const TABLE = {
  name: 'orders',
  shardKey: 'user',
  fields: [
    { name: 'seq', type: 'int', required: true },
    { name: 'user', type: 'string', required: true },
  ],
};
const MESSAGES = 400;
/** Good messages after a last poison message in partition 0 (several batches of 50). */
const TAIL = 200;
/** Poison messages: not JSON, and a schema violation, in both partitions (each message's partition is its seq's parity). */
const POISON = new Map<number, string>([
  [37, 'not json {'],
  [38, '{"seq":"x","user":"u1"}'],
  [250, '{"seq":250}'],
]);

/** Polls `check` every 100 ms until it holds; fails with `why()` after `timeoutMs`. */
async function waitUntil(check: () => boolean | Promise<boolean>, timeoutMs: number, why: () => string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) assert.fail(why());
    await sleep(100);
  }
}

/** The messages of `topic` from the start: at least `atLeast` (or until `timeoutMs`), then any more that come within `quietMs`. */
async function readAll(broker: KafkaBroker, topic: string, isolationLevel: number, atLeast: number, quietMs: number, timeoutMs = 60_000): Promise<Message[]> {
  const consumer = new Consumer({ ...broker.clientOptions(`reader-${isolationLevel}`), groupId: `reader-${isolationLevel}-${Date.now()}`, autocommit: false, maxWaitTime: 100, isolationLevel });
  try {
    const stream = await consumer.consume({ topics: [topic], mode: 'earliest' });
    const messages: Message[] = [];
    let last = Date.now();
    stream.on('data', (m: Message) => {
      messages.push(m);
      last = Date.now();
    });
    const deadline = Date.now() + timeoutMs;
    while ((messages.length < atLeast && Date.now() < deadline) || Date.now() - last < quietMs) await sleep(100);
    await stream.close();
    return messages;
  } finally {
    await consumer.close(true);
  }
}

async function storedSeqs(base: string): Promise<number[]> {
  const text = await (await fetch(`${base}/v1/tables/orders/export`, { headers: authHeaders() })).text();
  return text
    .split('\n')
    .filter((l) => l.length > 0)
    .map((l) => (JSON.parse(l) as { seq: number }).seq);
}

test('Kafka DLQ: a consumer SIGKILLed right after producing a letter leaves it in the topic once', { timeout: 180_000 }, async (t) => {
  const broker = await KafkaBroker.start(t);
  const topic = 'orders-in';
  await broker.createTopic(topic, 2);
  const node = await NodeProcess.start(t, { dataDir: tempDir(t) });
  assert.equal((await http(`${node.url}/v1/tables`, { method: 'POST', body: JSON.stringify(TABLE) })).status, 201);

  const producer = new Producer({ ...broker.clientOptions('dlq-once-producer'), acks: ProduceAcks.ALL, idempotent: true });
  t.after(() => producer.close());
  const messages = [];
  // Partitions named outright: the keys u0..u4 all hash to partition 0 of 2.
  for (let seq = 0; seq < MESSAGES; seq++) messages.push({ topic, partition: seq % 2, key: Buffer.from(`u${seq % 5}`), value: Buffer.from(POISON.get(seq) ?? JSON.stringify({ seq, user: `u${seq % 5}` })) });
  await producer.send({ messages });

  const args = ['--brokers', broker.bootstrap, '--topic', topic, '--table', 'orders', '--url', node.url, '--batch-records', '50', '--status-every-ms', '0', '--session-timeout-ms', '6000'];
  const doomed = startSluiceKafka(t, args, { SLUICE_FAILPOINT: 'kafka.after-dlq-send' });
  assert.equal(await doomed.exited, null, `the failpoint killed it: ${doomed.output()}`);
  assert.match(doomed.output(), /failpoint kafka.after-dlq-send: SIGKILL/);

  const second = startSluiceKafka(t, args);
  const deadline = Date.now() + 90_000;
  let seqs: number[] = [];
  while ((seqs = await storedSeqs(node.url)).length < MESSAGES - POISON.size) {
    if (Date.now() > deadline || second.child.exitCode !== null) throw new Error(`${seqs.length} stored: ${second.output()}`);
    await sleep(200);
  }
  assert.equal(new Set(seqs).size, seqs.length, 'no record stored twice');

  const committed = await readAll(broker, `${topic}.dlq`, FetchIsolationLevels.READ_COMMITTED, POISON.size, 2_000);
  const offsets = committed.map((m) => `${headerOf(m, 'sluice.source.partition')}:${headerOf(m, 'sluice.source.offset')}`);
  assert.equal(new Set(offsets).size, offsets.length, `a letter reached the topic twice: ${offsets.join(' ')}`);
  assert.deepEqual(committed.map((m) => m.value.toString()).sort(), [...POISON.values()].sort());
  const all = await readAll(broker, `${topic}.dlq`, FetchIsolationLevels.READ_UNCOMMITTED, POISON.size + 1, 1_000);
  assert.ok(all.length > committed.length, `the dead run produced letters before it died (${all.length} in the log, ${committed.length} committed)`);

  second.child.kill('SIGTERM');
  assert.equal(await second.exited, 0, second.output());

  // Offsets held behind a batch's dead letters are committed once its letters are, even with no batch after them
  // to bring a commit. A poison message opens a tail of TAIL good ones; the third consumer freezes (SIGSTOP) with
  // the poison's letter produced, by when the tail's later batches are durable and held behind it, and thaws after
  // its commit timer is due: that commit finds nothing ready, and the letters' transaction ends after it.
  const tail = [{ topic, partition: 0, key: Buffer.from('u0'), value: Buffer.from('not json either {') }];
  for (let seq = MESSAGES; seq < MESSAGES + TAIL; seq++) tail.push({ topic, partition: 0, key: Buffer.from('u0'), value: Buffer.from(JSON.stringify({ seq, user: 'u0' })) });
  await producer.send({ messages: tail });
  const third = startSluiceKafka(t, args, { SLUICE_FAILPOINT: 'kafka.after-dlq-send=stop' });
  await waitUntil(() => /failpoint kafka.after-dlq-send: SIGSTOP/.test(third.output()), 60_000, () => `the third consumer never froze: ${third.output()}`);
  await sleep(1_000);
  third.child.kill('SIGCONT');
  const probe = new Consumer({ ...broker.clientOptions('dlq-once-probe'), groupId: 'sluice-orders' });
  t.after(() => probe.close(true));
  const ends = (await probe.listOffsets({ topics: [topic] })).get(topic) ?? [];
  let offsetsNow: readonly bigint[] = [];
  await waitUntil(
    async () => {
      offsetsNow = (await probe.listCommittedOffsets({ topics: [{ topic, partitions: ends.map((_, p) => p) }] })).get(topic) ?? [];
      // -1: nothing committed, which is right for an empty partition.
      return ends.every((end, p) => (end === 0n ? (offsetsNow[p] ?? -1n) <= 0n : offsetsNow[p] === end));
    },
    20_000,
    () => `the group committed ${offsetsNow.join(', ')} while the log ends at ${ends.join(', ')}: ${third.output()}`,
  );
  assert.equal((await storedSeqs(node.url)).length, MESSAGES - POISON.size + TAIL);
  third.child.kill('SIGTERM');
  assert.equal(await third.exited, 0, third.output());
});
