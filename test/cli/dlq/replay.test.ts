/**
 * `sluice dlq replay` (replayLetters) against an in-process node: what a
 * replay stores is the letter's record, once, and a letter is marked
 * replayed only when that record was stored.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { pino } from 'pino';
import { resolveConfig } from '../../../src/config.ts';
import { SluiceNode } from '../../../src/sluice-node.ts';
import { resolveClientToken } from '../../../src/cli/client-auth.ts';
import { replayLetters } from '../../../src/cli/dlq/replay.ts';
import { tempDir } from '../../support/temp-dir.ts';
import { authHeaders, TEST_TOKEN } from '../../support/auth.ts';

const READINGS = {
  name: 'readings',
  shardKey: 'device',
  fields: [
    { name: 'device', type: 'string', required: true },
    { name: 'temp', type: 'int' },
  ],
};

let node: SluiceNode;
let base = '';

after(async () => {
  await node?.stop();
});
const dir = tempDir({ after }, 'sluice-dlq-replay-');

before(async () => {
  const config = resolveConfig({ dataDir: dir, httpPort: 0, bootstrapToken: TEST_TOKEN, diskFreeBytesMin: 0, auditLog: 'off' });
  node = await SluiceNode.start(config, pino({ level: 'silent' }));
  base = node.url;
  resolveClientToken({ token: TEST_TOKEN }, base, 'http://unused.invalid');
  const res = await post('/v1/tables', JSON.stringify(READINGS), 'application/json');
  assert.equal(res.status, 201, res.text);
});

async function post(path: string, body: string, contentType: string): Promise<{ status: number; text: string }> {
  const res = await fetch(`${base}${path}`, { method: 'POST', headers: { ...authHeaders(), 'content-type': contentType }, body });
  return { status: res.status, text: await res.text() };
}

async function exportOf(table: string): Promise<Record<string, unknown>[]> {
  const res = await fetch(`${base}/v1/tables/${table}/export?format=ndjson`, { headers: authHeaders() });
  const text = await res.text();
  assert.equal(res.status, 200, text);
  return text.trim() === '' ? [] : text.trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
}

test('a letter whose record is a JSON array replays as that one record: refused again, nothing stored, left pending', async () => {
  // One NDJSON line holding an array is one record (refused: not an object), not the two objects inside it.
  const nested = '[{"device":"n1","temp":1},{"device":"n2","temp":2}]';
  const sent = await post('/v1/tables/readings/records?on_invalid=dead_letter', `{"device":"ok","temp":0}\n${nested}`, 'application/x-ndjson');
  assert.equal(sent.status, 200, sent.text);
  const letters = await exportOf('readings__dead_letters');
  assert.equal(letters.length, 1);
  assert.equal(Buffer.from(letters[0]?.['raw'] as string, 'base64').toString('utf8'), nested);

  const report = await replayLetters({ url: base, table: 'readings', dryRun: false });
  const devices = (await exportOf('readings')).map((r) => r['device']).sort();
  assert.deepEqual(devices, ['ok'], 'the replay stored the elements of the refused array as records of their own');
  assert.deepEqual({ replayed: report.replayed, refused: report.refused }, { replayed: 0, refused: 1 });
  assert.equal((await exportOf('readings__dead_letters'))[0]?.['status'], 'pending');
});

test('a letter whose raw text is not one JSON value (fixed by hand, badly) stays pending: the replay never splits it into records', async () => {
  // Written straight into the dead-letter table, as an operator editing a letter would.
  const raw = '{"device":"h1","temp":1},{"device":"h2","temp":2}';
  const letter = { dead_letter_id: 'by-hand-1', table: 'readings', raw: Buffer.from(raw).toString('base64'), raw_format: 'json', code: 'TYPE', message: 'm', source: 'http', failed_at: 1, status: 'pending' };
  const put = await post('/v1/tables/readings__dead_letters/records', JSON.stringify(letter), 'application/json');
  assert.equal(put.status, 200, put.text);
  const report = await replayLetters({ url: base, table: 'readings', dryRun: false });
  assert.equal(report.replayed, 0);
  const devices = (await exportOf('readings')).map((r) => r['device']);
  assert.ok(!devices.includes('h1') && !devices.includes('h2'), `stored: ${devices.join(',')}`);
  assert.equal((await exportOf('readings__dead_letters')).find((l) => l['dead_letter_id'] === 'by-hand-1')?.['status'], 'pending');
});
