/**
 * `sluice query` pages through a key's records. Its pages are one snapshot
 * (`as_of`, pinned by the first page), so writes landing between pages do
 * not show on later pages and no atomic batch shows half; a table with a
 * primary key (no snapshots) is read without one.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import type { ApiContext } from '../../src/api/http/api-context.ts';
import type { Coordinator } from '../../src/cluster/coordinator/coordinator.ts';
import { startTestNode } from '../support/test-node.ts';
import { authHeaders, cliProcessEnv } from '../support/auth.ts';

const BIN = fileURLToPath(new URL('../../bin/sluice.js', import.meta.url));
const run = promisify(execFile);
const T0 = 1_700_000_000_000;

test('sluice query reads every page at the snapshot of its first: records written between pages are not shown; a primary-key table is read without one', async (t) => {
  const node = await startTestNode(t, {}, 'sluice-query-cli-');
  const base = node.url;
  const post = async (path: string, body: string, type: string): Promise<void> => {
    const res = await fetch(`${base}${path}`, { method: 'POST', headers: { ...authHeaders(), 'content-type': type }, body });
    assert.ok(res.status === 200 || res.status === 201, await res.text());
    await res.arrayBuffer().catch(() => undefined);
  };
  const fields = [{ name: 'device', type: 'string', required: true }, { name: 'ts', type: 'timestamp', required: true }, { name: 'n', type: 'int' }];
  await post('/v1/tables', JSON.stringify({ name: 'log', shardKey: 'device', timeField: 'ts', fields }), 'application/json');
  const kvFields = fields.map((f) => (f.name === 'n' ? { ...f, required: true } : f));
  await post('/v1/tables', JSON.stringify({ name: 'kv', shardKey: 'device', timeField: 'ts', primaryKey: 'n', fields: kvFields }), 'application/json');
  const lines = (n: number, from: number): string => Array.from({ length: n }, (_, i) => JSON.stringify({ device: 'd1', ts: T0 + 2 * (from + i), n: from + i })).join('\n');
  await post('/v1/tables/log/records', lines(1_500, 0), 'application/x-ndjson');
  await post('/v1/tables/kv/records', lines(1_500, 0), 'application/x-ndjson');

  // Right after the first page of `log` is read, ten records land inside the range, between the first page's records and the end.
  const coordinator = (node as unknown as { ctx: ApiContext }).ctx.services().coordinator as Coordinator;
  const queryRange = coordinator.queryRange.bind(coordinator);
  let pages = 0;
  coordinator.queryRange = async (entry, query) => {
    const page = await queryRange(entry, query);
    if (entry.name === 'log' && ++pages === 1) {
      const late = Array.from({ length: 10 }, (_, i) => JSON.stringify({ device: 'd1', ts: T0 + 2 * 1_200 + 1 + 2 * i, n: 10_000 + i })).join('\n');
      await post('/v1/tables/log/records', late, 'application/x-ndjson');
    }
    return page;
  };
  const query = async (table: string): Promise<number[]> => {
    const { stdout } = await run(process.execPath, [BIN, 'query', '--table', table, '--key', 'd1', '--limit', '5000', '--url', base], { env: cliProcessEnv(), maxBuffer: 64 * 1024 * 1024 });
    return stdout.trim().split('\n').map((l) => (JSON.parse(l) as { n: number }).n);
  };
  const logged = await query('log');
  assert.ok(pages >= 2, `the query read ${pages} pages`);
  assert.equal(logged.filter((n) => n >= 10_000).length, 0, 'no record written after the first page shows on a later one');
  assert.equal(logged.length, 1_500);
  assert.equal((await query('kv')).length, 1_500, 'a primary-key table is read without a snapshot');
});
