/**
 * The broker crashes (SIGKILL) under a running Kafka source and comes back
 * 8 s later. With the default retry budget the client rides it out and the
 * source says so in its status; with a small one (`--kafka-retries 1`) the
 * client gives up, the source reports `failed` and reconnects with back-off.
 * Either way it carries on when the broker is back, and the table ends with
 * every message, before and after the outage, exactly once.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { TestContext } from 'node:test';
import { ProduceAcks, Producer } from '@platformatic/kafka';
import { KafkaBroker } from './kafka.ts';
import { NodeProcess, authHeaders, http, sleep, tempDir } from './harness.ts';

const HALF = 20_000;

// Side by side: each case has its own broker and node, and spends most of its time waiting (the outage, the back-off).
describe('broker outages under the Kafka source', { concurrency: 2 }, () => {
  test('a broker crash and restart under the source: reported, ridden out, nothing lost or doubled', async (t) => {
    const { node, seen } = await outage(t, []);
    assert.ok([...seen.errors].some((e) => e.startsWith('cannot reach the brokers')), 'the source reported the outage');
    assert.equal(node.events('kafka_source_failed').length, 0, 'the client rode it out');
  });

  test('a broker outage longer than the client retries: the source fails, reconnects with back-off, nothing lost or doubled', async (t) => {
    const { node, seen } = await outage(t, ['--kafka-retries', '1']);
    assert.ok(seen.states.has('failed'), `the source reported failed: ${[...seen.states].join(', ')}`);
    assert.ok(node.events('kafka_source_failed').length >= 1, 'the client gave up');
    assert.ok(node.events('kafka_source_reconnected').length >= 1, 'and the source reconnected');
  });
});

/** Runs the outage with extra serve flags; checks every message is stored once and the source runs again. */
async function outage(t: TestContext, args: readonly string[]): Promise<{ node: NodeProcess; seen: { errors: Set<string>; states: Set<string> } }> {
  const broker = await KafkaBroker.start(t);
  const topic = 'outage-in';
  await broker.createTopic(topic, 3);
  const node = await NodeProcess.start(t, { dataDir: tempDir(t), args: ['--kafka-brokers', broker.bootstrap, '--kafka-topic', topic, '--kafka-table', 'ticks', '--kafka-batch-records', '500', ...args] });
  const table = { name: 'ticks', shardKey: 'k', fields: [{ name: 'seq', type: 'int', required: true }, { name: 'k', type: 'string', required: true }] };
  assert.equal((await http(`${node.url}/v1/tables`, { method: 'POST', body: JSON.stringify(table) })).status, 201);
  const produce = async (from: number, to: number): Promise<void> => {
    const producer = new Producer({ ...broker.clientOptions('outage-producer'), acks: ProduceAcks.ALL, idempotent: true });
    try {
      for (let start = from; start < to; start += 2_000) {
        const messages = Array.from({ length: 2_000 }, (_, i) => ({ topic, key: Buffer.from(`k${(start + i) % 13}`), value: Buffer.from(JSON.stringify({ seq: start + i, k: `k${(start + i) % 13}` })) }));
        await producer.send({ messages });
      }
    } finally {
      await producer.close();
    }
  };
  const source = async (): Promise<{ state: string; progress: { records: number }; error?: string }> => {
    const res = await http(`${node.url}/v1/sources`);
    return (res.body.sources as { kind: string; state: string; progress: { records: number }; error?: string }[]).find((s) => s.kind === 'kafka') as never;
  };
  await produce(0, HALF);
  const deadline = Date.now() + 60_000;
  while ((await source()).progress.records < HALF) {
    if (Date.now() > deadline) throw new Error(`first half not written: ${JSON.stringify(await source())}`);
    await sleep(100);
  }

  const seen = { errors: new Set<string>(), states: new Set<string>() };
  let watching = true;
  const watcher = (async () => {
    while (watching) {
      const s = await source();
      if (s.error !== undefined) seen.errors.add(s.error);
      seen.states.add(s.state);
      await sleep(100);
    }
  })();
  await broker.crashAndRestart(8_000);
  await produce(HALF, 2 * HALF);
  let rows: number[] = [];
  const deadline2 = Date.now() + 90_000;
  for (;;) {
    const text = await (await fetch(`${node.url}/v1/tables/ticks/export`, { headers: authHeaders() })).text();
    rows = text.split('\n').filter((l) => l.length > 0).map((l) => (JSON.parse(l) as { seq: number }).seq);
    if (rows.length >= 2 * HALF) break;
    if (Date.now() > deadline2) throw new Error(`${rows.length} of ${2 * HALF} stored: ${JSON.stringify(await source())}`);
    await sleep(200);
  }
  watching = false;
  await watcher;
  t.diagnostic(`errors reported during the outage: ${[...seen.errors].join(' | ')}`);
  const after = await source();
  assert.equal(after.state, 'running');
  const stored = new Uint8Array(2 * HALF);
  for (const s of rows) {
    assert.equal(stored[s], 0, `seq ${s} stored twice`);
    stored[s] = 1;
  }
  assert.equal(rows.length, 2 * HALF);
  return { node, seen };
}
