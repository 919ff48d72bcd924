/**
 * Source dedupe keys over HTTP (`dedupe_prefix` + `dedupe_first`): a batch
 * re-sent to a table without a primary key, also after the node was
 * SIGKILLed and restarted, leaves every record exactly once with the id it
 * was first given. Bad parameters are refused before anything is written.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { NodeProcess, authHeaders, http, tempDir } from './harness.ts';

const LOG = {
  name: 'log',
  shardKey: 'host',
  fields: [
    { name: 'host', type: 'string', required: true },
    { name: 'n', type: 'int', required: true },
  ],
};

async function exportAll(base: string): Promise<{ _id: string; n: number }[]> {
  const res = await fetch(`${base}/v1/tables/log/export`, { headers: authHeaders() });
  const text = await res.text();
  return text
    .split('\n')
    .filter((l) => l.length > 0)
    .map((l) => JSON.parse(l) as { _id: string; n: number });
}

function body(first: number, count: number): string {
  return Array.from({ length: count }, (_, i) => JSON.stringify({ host: `h${(first + i) % 7}`, n: first + i })).join('\n');
}

test('re-sent batches with dedupe keys are stored once, across a SIGKILL', async (t) => {
  const dataDir = tempDir(t);
  let node = await NodeProcess.start(t, { dataDir });
  const created = await http(`${node.url}/v1/tables`, { method: 'POST', body: JSON.stringify(LOG), headers: { 'content-type': 'application/json' } });
  assert.equal(created.status, 201, created.text);
  const post = (base: string, first: number, count: number, query: string) =>
    http(`${base}/v1/tables/log/records?${query}`, { method: 'POST', body: body(first, count), headers: { 'content-type': 'application/x-ndjson' } });

  const a = await post(node.url, 0, 500, 'dedupe_prefix=f1:&dedupe_first=0');
  assert.equal(a.status, 200, a.text);
  // An overlapping re-send (rows 250..749): the first 250 must keep their ids.
  const b = await post(node.url, 250, 500, 'dedupe_prefix=f1:&dedupe_first=250');
  assert.equal(b.status, 200, b.text);
  assert.deepEqual(b.body.ids.slice(0, 250), a.body.ids.slice(250));
  // Without keys the same rows are new records: the keys are what dedupes.
  const plain = await post(node.url, 0, 10, '');
  assert.equal(plain.status, 200, plain.text);
  assert.notDeepEqual(plain.body.ids, a.body.ids.slice(0, 10));

  await node.kill('SIGKILL');
  node = await NodeProcess.start(t, { dataDir });
  // After the crash the index is rebuilt from the WAL: the keys survive it.
  const c = await post(node.url, 500, 500, 'dedupe_prefix=f1:&dedupe_first=500');
  assert.equal(c.status, 200, c.text);
  assert.deepEqual(c.body.ids.slice(0, 250), b.body.ids.slice(250));

  const rows = await exportAll(node.url);
  const keyed = rows.filter((r) => !plain.body.ids.includes(r._id));
  assert.equal(keyed.length, 1000);
  assert.deepEqual(
    keyed.map((r) => r.n).sort((x, y) => x - y),
    Array.from({ length: 1000 }, (_, i) => i),
  );
  assert.equal(rows.length, 1010);
});

test('after a SIGKILL, a re-sent batch is stored once even when its numbers are wider than dedupe_digits or unpadded (decision 43)', async (t) => {
  const dataDir = tempDir(t);
  let node = await NodeProcess.start(t, { dataDir });
  const created = await http(`${node.url}/v1/tables`, { method: 'POST', body: JSON.stringify(LOG), headers: { 'content-type': 'application/json' } });
  assert.equal(created.status, 201, created.text);
  const post = (base: string, first: number, query: string) =>
    http(`${base}/v1/tables/log/records?${query}`, { method: 'POST', body: body(first, 50), headers: { 'content-type': 'application/x-ndjson' } });
  // Rows 100..149 with 2 digits are 3 digits wide; rows 1000.. unpadded.
  const wide = 'dedupe_prefix=a:&dedupe_first=100&dedupe_digits=2';
  const unpadded = 'dedupe_prefix=b:&dedupe_first=1000&dedupe_digits=0';
  const a1 = await post(node.url, 100, wide);
  const b1 = await post(node.url, 1000, unpadded);
  assert.deepEqual([a1.status, b1.status], [200, 200], a1.text + b1.text);
  await node.kill('SIGKILL');
  node = await NodeProcess.start(t, { dataDir });
  const a2 = await post(node.url, 100, wide);
  const b2 = await post(node.url, 1000, unpadded);
  assert.deepEqual(a2.body.ids, a1.body.ids, 'the wide keys kept their ids');
  assert.deepEqual(b2.body.ids, b1.body.ids, 'the unpadded keys kept their ids');
  assert.equal((await exportAll(node.url)).length, 100, 'every keyed row once');
});

test('bad dedupe parameters are refused with INVALID_ARGUMENT and write nothing', async (t) => {
  const node = await NodeProcess.start(t, { dataDir: tempDir(t) });
  await http(`${node.url}/v1/tables`, { method: 'POST', body: JSON.stringify(LOG), headers: { 'content-type': 'application/json' } });
  for (const query of ['dedupe_first=3', `dedupe_prefix=${'x'.repeat(300)}&dedupe_first=0`, 'dedupe_prefix=p&dedupe_first=-1', 'dedupe_prefix=p&dedupe_first=1.5']) {
    const res = await http(`${node.url}/v1/tables/log/records?${query}`, { method: 'POST', body: body(0, 3) });
    assert.equal(res.status, 400, `${query}: ${res.text}`);
    assert.equal(res.body.error.code, 'INVALID_ARGUMENT');
  }
  assert.equal((await exportAll(node.url)).length, 0);
});
