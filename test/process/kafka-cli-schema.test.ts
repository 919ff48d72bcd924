/**
 * `sluice kafka --format protobuf` follows schema changes made after it
 * started: it decodes messages here, under the table's field names as it
 * described them at start, so a field renamed later went out under the
 * message's (old) name, taken through the field's alias until the alias
 * expired and dead-lettered (ALIAS_EXPIRED) from then on. Now a refusal a
 * later version could lift makes it describe the table again and send the
 * batch once more under the new names. A real node, a real broker, the
 * real CLI; the node's aliases expire after 1 s (`--alias-ttl-ms`).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import protobuf from 'protobufjs';
import { ProduceAcks, Producer } from '@platformatic/kafka';
import { NodeProcess, authHeaders, http, sleep, tempDir } from './harness.ts';
import { KafkaBroker } from './kafka.ts';
import { startSluiceKafka } from './kafka-tools.ts';

const PROTO = 'syntax = "proto3";\npackage t;\nmessage Click { string user = 1; int64 count = 2; }\n';

async function rows(url: string): Promise<Record<string, unknown>[]> {
  const text = await (await fetch(`${url}/v1/tables/clicks/export`, { headers: authHeaders() })).text();
  return text
    .split('\n')
    .filter((l) => l.length > 0)
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}

async function rowsWhen(url: string, check: (r: Record<string, unknown>[]) => boolean, what: string, output: () => string): Promise<Record<string, unknown>[]> {
  const deadline = Date.now() + 30_000;
  for (;;) {
    const r = await rows(url);
    if (check(r)) return r;
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}; rows ${JSON.stringify(r)}; sluice kafka said: ${output()}`);
    await sleep(200);
  }
}

test('sluice kafka --format protobuf: a field renamed after it started, its alias expired, is written under the new name, not dead-lettered', { timeout: 180_000 }, async (t) => {
  const broker = await KafkaBroker.start(t);
  const topic = 'clicks-proto';
  await broker.createTopic(topic, 1);
  const node = await NodeProcess.start(t, { dataDir: tempDir(t), args: ['--alias-ttl-ms', '1000'] });
  const created = await http(`${node.url}/v1/tables`, { method: 'POST', body: JSON.stringify({ name: 'clicks', shardKey: 'user', proto: { message: 't.Click', source: PROTO } }) });
  assert.equal(created.status, 201, created.text);

  const Click = protobuf.parse(PROTO, { keepCase: true }).root.lookupType('t.Click');
  const producer = new Producer({ ...broker.clientOptions('proto-producer'), acks: ProduceAcks.ALL, idempotent: true });
  t.after(() => producer.close());
  const send = (user: string, count: number) => producer.send({ messages: [{ topic, key: Buffer.from(user), value: Buffer.from(Click.encode(Click.fromObject({ user, count })).finish()) }] });

  const kafka = startSluiceKafka(t, ['--brokers', broker.bootstrap, '--topic', topic, '--table', 'clicks', '--url', node.url, '--format', 'protobuf', '--status-every-ms', '0']);
  await send('u1', 1);
  await rowsWhen(node.url, (r) => r.length === 1 && r[0]?.['count'] === 1, 'the first message', kafka.output);

  // Renamed after `sluice kafka` described the table; the alias of the old name then expires.
  const described = (await http(`${node.url}/v1/tables/clicks`)).body as { version: number; fields: { name: string; aliases?: unknown }[] };
  const fields = described.fields.map((f) => (f.name === 'count' ? { ...f, name: 'clicks', aliases: ['count'] } : f));
  const patched = await http(`${node.url}/v1/tables/clicks/schema`, { method: 'PATCH', body: JSON.stringify({ version: described.version, fields }) });
  assert.equal(patched.status, 200, patched.text);
  await sleep(1_500);
  const refused = await http(`${node.url}/v1/tables/clicks/records`, { method: 'POST', body: JSON.stringify({ user: 'x', count: 9 }) });
  assert.equal(refused.body?.error?.details?.[0]?.code, 'ALIAS_EXPIRED', `the alias has expired: ${refused.text}`);

  await send('u2', 2);
  const after = await rowsWhen(node.url, (r) => r.length === 2, 'the message sent after the rename', kafka.output);
  assert.deepEqual(after.map((r) => [r['user'], r['clicks']]).sort(), [['u1', 1], ['u2', 2]]);
  kafka.child.kill('SIGTERM');
  await kafka.exited;
  assert.match(kafka.output(), /2 records written, 0 dead-lettered/);
});
