/**
 * The verification must be able to fail: against a real node, records
 * acknowledged and missing, stored twice, altered, never sent, and keys
 * whose range query misses one of the run's records are each reported
 * (the bench's own runs only ever show zeros).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { NodeProcess, http, tempDir } from './harness.ts';
import { TEST_TOKEN } from '../support/auth.ts';
import { verifyRun } from '../../src/loadgen/verify.ts';
import { BitSet } from '../../src/loadgen/bitset.ts';
import { benchRecord, type WorkloadParams } from '../../src/loadgen/workload/generate.ts';
import { compareRecord } from '../../src/loadgen/workload/compare.ts';
import { RUN_FIELD } from '../../src/loadgen/workload/bench-table.ts';
import { benchTableNamed } from '../../src/loadgen/workload/tables.ts';

const table = benchTableNamed('iot.reading');
const params: WorkloadParams = { seed: 5, runId: 'verify-test', t0Ms: Date.UTC(2026, 11, 1), recordsPerSecond: 100, outOfOrder: 0.05, skewMinMs: -30_000, skewMaxMs: 5_000, keysPerTable: 3 };

test('verify reports lost, duplicated, altered and unexpected records, and a key whose range query misses one', async (t) => {
  assert.ok(table !== undefined);
  const node = await NodeProcess.start(t, { dataDir: tempDir(t) });
  assert.equal((await http(`${node.url}/v1/tables`, { method: 'POST', body: JSON.stringify(table.definition), headers: { 'content-type': 'application/json' } })).status, 201);
  const write = async (records: object[]): Promise<void> => {
    const res = await http(`${node.url}/v1/tables/${table.name}/records`, { method: 'POST', body: JSON.stringify(records), headers: { 'content-type': 'application/json' } });
    assert.equal(res.status, 200, res.text);
  };
  const acked = new BitSet();
  const attempted = new BitSet();
  // Records 0..19 written as generated; 3 written twice; 7 altered; 25 never attempted; 30 "acknowledged" but never written.
  const records = Array.from({ length: 20 }, (_, j) => benchRecord(params, table, j));
  records[7] = { ...records[7], temperature: 99.5 };
  await write([...records, benchRecord(params, table, 3), benchRecord(params, table, 25)]);
  acked.addRange(0, 20);
  attempted.addRange(0, 20);
  acked.add(30);
  attempted.add(30);
  const input = { baseUrl: node.url, token: TEST_TOKEN, runId: params.runId, runField: RUN_FIELD, acked, attempted, keysPerTable: Number.POSITIVE_INFINITY };
  const tables = [{ name: table.name, shardKey: table.shardKey, timeField: table.timeField, check: (rec: Record<string, unknown>) => compareRecord(params, table, rec) }];
  const v = await verifyRun({ ...input, tables });
  assert.equal(v.ok, false);
  assert.equal(v.lost, 1, v.problems.join('\n'));
  assert.equal(v.duplicated, 1);
  assert.equal(v.mismatched, 1);
  assert.equal(v.unexpected, 1);
  assert.equal(v.readBack, 22, 'this run\'s records only');
  assert.ok(v.problems.some((p) => /record 7 differs .*temperature/.test(p)), v.problems.join('\n'));
  assert.ok(v.problems.some((p) => /record 30 was acknowledged and is not read back/.test(p)));
  assert.equal(v.keysChecked, 3, 'every key the run wrote');
  assert.equal(v.outOfOrderKeys, 0, 'the range queries return what the export does');

  // A checker that believes a key holds one more record than its range query returns: reported as that key's.
  const overCounting = [{ ...tables[0]!, shardKey: 'bench_run' }];
  const miss = await verifyRun({ ...input, tables: overCounting, acked: new BitSet(), attempted: everything() });
  assert.equal(miss.outOfOrderKeys, 1, miss.problems.join('\n'));
});

function everything(): BitSet {
  const all = new BitSet();
  all.addRange(0, 64);
  return all;
}
