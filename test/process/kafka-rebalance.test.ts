/**
 * Two `sluice kafka` members of one consumer group share a topic's
 * partitions; one is SIGKILLed mid-stream, the group gives its partitions
 * to the other after the session timeout, and the table ends with every
 * message exactly once: re-delivered offsets are resolved by the node,
 * whichever member sends them.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ProduceAcks, Producer } from '@platformatic/kafka';
import { KafkaBroker } from './kafka.ts';
import { NodeProcess, authHeaders, http, sleep, tempDir } from './harness.ts';
import { startSluiceKafka, type SluiceKafkaProcess } from './kafka-tools.ts';

const MESSAGES = 60_000;

async function seqs(base: string): Promise<number[]> {
  const text = await (await fetch(`${base}/v1/tables/events2/export`, { headers: authHeaders() })).text();
  return text
    .split('\n')
    .filter((l) => l.length > 0)
    .map((l) => (JSON.parse(l) as { seq: number }).seq);
}

test('two members share the partitions; one SIGKILLed, the other takes over; each message stored once', async (t) => {
  const broker = await KafkaBroker.start(t);
  const topic = 'shared-in';
  await broker.createTopic(topic, 6);
  const node = await NodeProcess.start(t, { dataDir: tempDir(t) });
  const table = { name: 'events2', shardKey: 'k', fields: [{ name: 'seq', type: 'int', required: true }, { name: 'k', type: 'string', required: true }] };
  assert.equal((await http(`${node.url}/v1/tables`, { method: 'POST', body: JSON.stringify(table) })).status, 201);
  const producer = new Producer({ ...broker.clientOptions('rb-producer'), acks: ProduceAcks.ALL, idempotent: true });
  t.after(() => producer.close());
  // Produced over several seconds, so that there is still work when the second member joins and when the first dies.
  let killed = false;
  let producedAfterKill = 0;
  const produce = async (from: number, to: number, pauseMs: number): Promise<void> => {
    for (let start = from; start < to; start += 2_000) {
      if (killed) producedAfterKill += 2_000;
      const messages = Array.from({ length: 2_000 }, (_, i) => ({ topic, key: Buffer.from(`k${(start + i) % 97}`), value: Buffer.from(JSON.stringify({ seq: start + i, k: `k${(start + i) % 97}` })) }));
      await producer.send({ messages });
      await sleep(pauseMs);
    }
  };
  await produce(0, 6_000, 0);

  const args = ['--brokers', broker.bootstrap, '--topic', topic, '--table', 'events2', '--url', node.url, '--group', 'shared', '--batch-records', '200', '--in-flight', '1', '--session-timeout-ms', '6000', '--status-every-ms', '300'];
  const wrote = (out: string): number => Number([...out.matchAll(/: (\d+) records,/g)].at(-1)?.[1] ?? 0);
  const until = async (what: string, done: () => Promise<boolean> | boolean): Promise<void> => {
    const deadline = Date.now() + 60_000;
    while (!(await done())) {
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}:\n${a.output()}\n${b?.output() ?? ''}`);
      await sleep(100);
    }
  };
  // a starts alone and writes; b joins, the group rebalances, both write; then a is killed.
  const a = startSluiceKafka(t, args);
  let b: SluiceKafkaProcess | undefined;
  await until('a to write', () => wrote(a.output()) >= 3_000);
  const rest = produce(6_000, MESSAGES, 250);
  b = startSluiceKafka(t, args);
  const bMember = b;
  await until('b to write after the rebalance', () => wrote(bMember.output()) > 0);
  a.child.kill('SIGKILL');
  killed = true;
  await a.exited;
  await rest;

  let stored: number[] = [];
  const deadline2 = Date.now() + 90_000;
  while ((stored = await seqs(node.url)).length < MESSAGES) {
    if (Date.now() > deadline2 || bMember.child.exitCode !== null) throw new Error(`${stored.length} of ${MESSAGES} stored:\n${bMember.output()}`);
    await sleep(200);
  }
  await sleep(500);
  stored = await seqs(node.url);
  const seen = new Uint8Array(MESSAGES);
  for (const s of stored) {
    assert.equal(seen[s], 0, `seq ${s} stored twice`);
    seen[s] = 1;
  }
  assert.equal(stored.length, MESSAGES);
  bMember.child.kill('SIGTERM');
  assert.equal(await bMember.exited, 0, bMember.output());
  // Messages produced after the kill landed on a's partitions too, and only b was left to read them.
  const written = Number(/(\d+) records written/.exec(bMember.output())?.[1]);
  t.diagnostic(`a wrote ${wrote(a.output())} before the kill; b wrote ${written}; ${producedAfterKill} produced after the kill`);
  assert.ok(producedAfterKill > 0, 'the kill came before the end of the production');
  assert.ok(written > 0);
});
