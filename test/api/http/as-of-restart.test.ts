/**
 * Snapshots (`as_of`) across a restart of a single node whose clock is
 * behind the versions it stamped before (an NTP step while it was down, a
 * fast clock corrected at boot): versions must keep increasing, as ids do.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { pino } from 'pino';
import { resolveConfig } from '../../../src/config.ts';
import { SluiceNode } from '../../../src/sluice-node.ts';
import { tempDir } from '../../support/temp-dir.ts';
import { authHeaders, TEST_TOKEN } from '../../support/auth.ts';

const READINGS = { name: 'readings', shardKey: 'device', timeField: 'ts', fields: [{ name: 'device', type: 'string', required: true }, { name: 'ts', type: 'timestamp', required: true }] };

let node: SluiceNode | undefined;
after(async () => {
  await node?.stop();
});
const dir = tempDir({ after }, 'sluice-as-of-restart-');
const config = resolveConfig({ dataDir: dir, httpPort: 0, bootstrapToken: TEST_TOKEN, diskFreeBytesMin: 0, auditLog: 'off' });

interface Page {
  records: { _id: string; ts: number }[];
  as_of?: string;
}

async function post(base: string, lines: readonly object[]): Promise<void> {
  const res = await fetch(`${base}/v1/tables/readings/records`, { method: 'POST', headers: { ...authHeaders(), 'content-type': 'application/x-ndjson' }, body: lines.map((l) => JSON.stringify(l)).join('\n') });
  assert.equal(res.status, 200, await res.text());
}

async function page(base: string, asOf: string): Promise<Page> {
  const res = await fetch(`${base}/v1/tables/readings/records?key=d&limit=100&as_of=${asOf}`, { headers: authHeaders() });
  const text = await res.text();
  assert.equal(res.status, 200, text);
  return JSON.parse(text) as Page;
}

test('after a restart with the clock 60 s behind, a snapshot taken now shows the writes acknowledged before the restart', async (t) => {
  node = await SluiceNode.start(config, pino({ level: 'silent' }));
  const created = await fetch(`${node.url}/v1/tables`, { method: 'POST', headers: { ...authHeaders(), 'content-type': 'application/json' }, body: JSON.stringify(READINGS) });
  assert.equal(created.status, 201, await created.text());
  await post(node.url, [{ device: 'd', ts: 1_000 }]);
  const before = await page(node.url, 'now');
  assert.deepEqual(before.records.map((r) => r.ts), [1_000]);
  await node.stop();
  node = undefined;

  const real = Date.now.bind(Date);
  t.mock.method(Date, 'now', () => real() - 60_000);
  node = await SluiceNode.start(config, pino({ level: 'silent' }));
  // Ids are refused until the clock is past the last one (CLOCK_ROLLBACK); snapshots are still answered.
  const now = await page(node.url, 'now');
  assert.deepEqual(now.records.map((r) => r.ts), [1_000], `the snapshot taken now (${now.as_of}, before the restart ${before.as_of}) misses a write acknowledged before the restart`);
});
