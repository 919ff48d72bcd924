/**
 * The import route in dead_letter mode (routes/import-dead-letters.ts)
 * against an in-process node: a row the conversion refuses is kept as a
 * letter, or, when no letter can hold it, refused as with reject, never
 * failed as an internal error.
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
const dir = tempDir({ after }, 'sluice-import-dlq-');

before(async () => {
  const config = resolveConfig({ dataDir: dir, httpPort: 0, bootstrapToken: TEST_TOKEN, diskFreeBytesMin: 0, auditLog: 'off' });
  node = await SluiceNode.start(config, pino({ level: 'silent' }));
  base = node.url;
  const res = await post('/v1/tables', JSON.stringify(METERS), 'application/json');
  assert.equal(res.status, 201, res.text);
});

async function post(path: string, body: string, contentType: string): Promise<{ status: number; text: string }> {
  const res = await fetch(`${base}${path}`, { method: 'POST', headers: { ...authHeaders(), 'content-type': contentType }, body });
  return { status: res.status, text: await res.text() };
}

test('a CSV row the conversion refuses, too large for a dead letter, is refused with its row named (400), not failed as INTERNAL', async () => {
  const huge = 'x'.repeat(800 * 1024);
  const res = await post('/v1/tables/meters/import?on_invalid=dead_letter', `m,v\nb,${huge}\n`, 'text/csv');
  assert.equal(res.status, 400, res.text.slice(0, 300));
  const error = (JSON.parse(res.text) as { error: { code: string; message: string } }).error;
  assert.equal(error.code, 'SCHEMA_VIOLATION', error.message.slice(0, 300));
  assert.match(error.message, /row 1/);
});
