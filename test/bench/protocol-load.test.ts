/**
 * The protocols benchmark's load and count against a live node: refused
 * bodies fail the load instead of counting as throughput (a missing table,
 * `_bulk` items in error), and what a load reports as written is what the
 * export counts. One node for the file.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { NodeProcess, http, tempDir } from '../process/harness.ts';
import { logBatches } from '../../bench/lib/log-records.ts';
import { protocolLoad } from '../../bench/lib/protocol-load.ts';
import { WAYS } from '../../bench/lib/protocol-ways.ts';
import { exportCount } from '../../bench/lib/table-count.ts';

const PER_BODY = 50;
const CONNECTIONS = 2;

test('a load counts only bodies answered "all written", and the export agrees', async (t) => {
  const node = await NodeProcess.start(t, { dataDir: tempDir(t) });
  const batches = logBatches(0, 3, PER_BODY, Date.now() - 60_000);
  const native = WAYS.native;
  assert.equal(await exportCount(node.url, native.table), 0, 'a table that does not exist yet holds nothing');
  await assert.rejects(protocolLoad(node.url, native, batches.map((b) => native.encode(b)), PER_BODY, CONNECTIONS), /native: \d+ bodies not written; first: HTTP 404/);

  const created = await http(`${node.url}/v1/tables`, { method: 'POST', body: JSON.stringify(native.definition) });
  assert.equal(created.status, 201, created.text);
  const res = await protocolLoad(node.url, native, batches.map((b) => native.encode(b)), PER_BODY, CONNECTIONS);
  assert.equal(res.records, 3 * PER_BODY);
  assert.equal(res.latenciesMs.length, 3);
  assert.equal(await exportCount(node.url, native.table), 3 * PER_BODY);

  // `_bulk` answers 200 with per-item errors: a document whose @timestamp is no time is refused, so the body is not "all written".
  const es = WAYS['es-bulk'];
  const bad = Buffer.from(es.encode(batches[0] ?? []).toString('utf8').replace(/"@timestamp":"[^"]+"/, '"@timestamp":"not a time"'));
  await assert.rejects(protocolLoad(node.url, es, [bad], PER_BODY, 1), /es-bulk: 1 bodies not written; first: item errors/);
  const good = await protocolLoad(node.url, es, [es.encode(batches[1] ?? [])], PER_BODY, 1);
  assert.equal(good.records, PER_BODY);
  assert.equal(await exportCount(node.url, es.table), 2 * PER_BODY - 1, 'the good items of the refused body were stored, and all of the good one');
});
