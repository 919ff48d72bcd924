/**
 * SIGTERM while the Kafka source's batch waits for its table's rate limit:
 * the node exits 0 well within its shutdown grace, the waiting batch is
 * not written (not half, not at all) and stays uncommitted in Kafka, so
 * what is stored is exactly what the group committed.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ProduceAcks, Producer } from '@platformatic/kafka';
import { KafkaBroker } from './kafka.ts';
import { committedSum } from './kafka-tools.ts';
import { NodeProcess, authHeaders, http, sleep, tempDir } from './harness.ts';

/** The node's shutdown grace (DEFAULT_CONFIG.shutdownGraceMs). */
const GRACE_MS = 10_000;
const TABLE = { name: 'readings', shardKey: 'device', fields: [{ name: 'seq', type: 'int', required: true }, { name: 'device', type: 'string', required: true }] };

test('SIGTERM while a Kafka batch waits for the table rate limit: exit 0 within the grace, stored = committed, nothing half', { timeout: 180_000 }, async (t) => {
  const broker = await KafkaBroker.start(t);
  const topic = 'stop-in';
  await broker.createTopic(topic, 1);
  const dataDir = tempDir(t);
  const args = ['--kafka-brokers', broker.bootstrap, '--kafka-topic', topic, '--kafka-table', 'readings'];
  const node = await NodeProcess.start(t, { dataDir, args });
  assert.equal((await http(`${node.url}/v1/tables`, { method: 'POST', body: JSON.stringify(TABLE) })).status, 201);
  // The burst takes the first 100 records; the batch after it owes records at 0.01/s: hours.
  const limited = await http(`${node.url}/v1/tables/readings`, { method: 'PATCH', body: JSON.stringify({ limits: { recordsPerSecond: 0.01, recordsBurst: 100 } }) });
  assert.equal(limited.status, 200, limited.text);
  const producer = new Producer({ ...broker.clientOptions('stop-producer'), acks: ProduceAcks.ALL, idempotent: true });
  t.after(() => producer.close());
  const messages = (from: number, n: number) => Array.from({ length: n }, (_, i) => ({ topic, key: Buffer.from(`d${(from + i) % 5}`), value: Buffer.from(JSON.stringify({ seq: from + i, device: `d${(from + i) % 5}` })) }));
  // The burst's worth first, written at once; then a batch that must wait.
  await producer.send({ messages: messages(0, 100) });
  const deadline = Date.now() + 60_000;
  while ((await http(`${node.url}/v1/tables/readings/export`)).text.trim().split('\n').length < 100) {
    assert.ok(Date.now() < deadline, 'the first 100 messages were never stored');
    await sleep(100);
  }
  await producer.send({ messages: messages(100, 900) });
  for (;;) {
    const text = await (await fetch(`${node.url}/metrics`, { headers: authHeaders() })).text();
    if (/^sluice_rate_limit_wait_seconds_total\{table="readings"\} [1-9]/m.test(text)) break;
    assert.ok(Date.now() < deadline, 'the source never waited for the rate limit');
    await sleep(100);
  }
  await sleep(500);

  const started = Date.now();
  node.child.kill('SIGTERM');
  let timer: NodeJS.Timeout | undefined;
  const exit = await Promise.race([node.waitExit(), new Promise<undefined>((resolve) => (timer = setTimeout(() => resolve(undefined), 60_000)))]);
  clearTimeout(timer);
  const ms = Date.now() - started;
  assert.ok(exit !== undefined, 'the node did not exit within 60 s of SIGTERM');
  assert.equal(exit.code, 0, node.stderr);
  assert.ok(ms < GRACE_MS, `the stop took ${ms} ms`);
  assert.equal(node.logs.at(-1)?.['event'], 'stopped', 'the last log line says the node stopped');

  const committed = await committedSum(broker, topic, 'sluice-readings', 1);
  // Restarted without the source: what is stored is read as it was left.
  const again = await NodeProcess.start(t, { dataDir });
  const stored = (await http(`${again.url}/v1/tables/readings/export`)).text.trim().split('\n').filter((l) => l !== '');
  assert.equal(stored.length, 100, 'the first 100 messages, and nothing of the batch that waited');
  assert.equal(stored.length, committed, 'stored exactly what the group committed: the waiting batch is re-delivered, not half-written');
});
