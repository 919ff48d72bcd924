/**
 * `POST /v1/tables/{t}/dead_letters` against an in-process node: every
 * letter the answer counts is kept.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { pino } from 'pino';
import { resolveConfig } from '../../../src/config.ts';
import { SluiceNode } from '../../../src/sluice-node.ts';
import { tempDir } from '../../support/temp-dir.ts';
import { authHeaders, TEST_TOKEN } from '../../support/auth.ts';

const METERS = { name: 'meters', shardKey: 'm', fields: [{ name: 'm', type: 'string', required: true }, { name: 'v', type: 'int' }] };

let node: SluiceNode;
let base = '';

after(async () => {
  await node?.stop();
});
const dir = tempDir({ after }, 'sluice-dlq-route-');

before(async () => {
  const config = resolveConfig({ dataDir: dir, httpPort: 0, bootstrapToken: TEST_TOKEN, diskFreeBytesMin: 0, auditLog: 'off' });
  node = await SluiceNode.start(config, pino({ level: 'silent' }));
  base = node.url;
  const res = await post('/v1/tables', JSON.stringify(METERS));
  assert.equal(res.status, 201, res.text);
});

async function post(path: string, body: string): Promise<{ status: number; text: string }> {
  const res = await fetch(`${base}${path}`, { method: 'POST', headers: { ...authHeaders(), 'content-type': 'application/json' }, body });
  return { status: res.status, text: await res.text() };
}

async function exportOf(table: string): Promise<Record<string, unknown>[]> {
  const res = await fetch(`${base}/v1/tables/${table}/export?format=ndjson`, { headers: authHeaders() });
  const text = await res.text();
  assert.equal(res.status, 200, text);
  return text.trim() === '' ? [] : text.trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
}

test('letters without dedupe keys that share a record index (rows of two files, or one index given and one implied) are each kept', async () => {
  const letters = [
    { record: { m: 'a', v: 'x' }, code: 'TYPE', message: 'file a, row 1', index: 1 },
    { record: { m: 'b', v: 'y' }, code: 'TYPE', message: 'file b, row 1', index: 1 },
    // No index, third in the request; the next one names record 2.
    { record: { m: 'd', v: 'w' }, code: 'TYPE', message: 'no index' },
    { record: { m: 'c', v: 'z' }, code: 'TYPE', message: 'row 2', index: 2 },
  ];
  const res = await post('/v1/tables/meters/dead_letters', JSON.stringify(letters));
  assert.equal(res.status, 200, res.text);
  assert.equal((JSON.parse(res.text) as { dead_lettered: { count: number } }).dead_lettered.count, 4);
  const kept = (await exportOf('meters__dead_letters')).map((l) => Buffer.from(l['raw'] as string, 'base64').toString('utf8')).sort();
  assert.deepEqual(kept, letters.map((l) => JSON.stringify(l.record)).sort(), 'a letter the answer counted was overwritten by another of the same request');
});
