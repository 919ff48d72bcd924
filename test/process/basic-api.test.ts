/**
 * The quick start, end to end against a real `sluice serve` process: create
 * a table, write in every body form, read back by id, by key and time
 * range (with paging), export, upsert by primary key, /ingest, ops
 * endpoints. Run against both engines.
 */
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { gzipSync } from 'node:zlib';
import { NodeProcess, http, tempDir } from './harness.ts';
import { PAYMENTS } from './tables.ts';


const READINGS = {
  name: 'readings',
  shardKey: 'device',
  timeField: 'at',
  fields: [
    { name: 'device', type: 'string', required: true },
    { name: 'at', type: 'timestamp', required: true },
    { name: 'value', type: 'float', required: true },
    { name: 'count', type: 'int' },
    { name: 'ok', type: 'bool', default: true },
    { name: 'raw', type: 'bytes' },
    { name: 'meta', type: 'json' },
  ],
};

for (const engine of ['lmdb', 'level'] as const) {
  describe(`single node API (${engine})`, () => {
    let node: NodeProcess;
    let base: string;
    const cleanups: (() => Promise<void> | void)[] = [];
    before(async () => {
      const ctx = { after: (fn: () => Promise<void> | void) => cleanups.push(fn) };
      node = await NodeProcess.start(ctx, { dataDir: tempDir(ctx), args: ['--engine', engine, '--shards', '8'] });
      base = node.url;
    });
    after(async () => {
      for (const fn of cleanups.reverse()) await fn();
    });

    test('health, readiness and the built-in events table', async () => {
      assert.equal((await http(`${base}/healthz`)).status, 200);
      assert.equal((await http(`${base}/readyz`)).status, 200);
      const tables = await http(`${base}/v1/tables`);
      assert.deepEqual(
        tables.body.tables.map((t: { name: string }) => t.name),
        ['events'],
      );
    });

    test('create, describe, list; duplicate is 409; bad name is 400', async () => {
      const created = await http(`${base}/v1/tables`, { method: 'POST', body: JSON.stringify(PAYMENTS), headers: { 'content-type': 'application/json' } });
      assert.equal(created.status, 201, created.text);
      assert.equal(created.body.name, 'payments');
      assert.equal(created.body.version, 1);
      assert.equal(created.body.replicationFactor, 1, 'a single node keeps one copy (the cluster default does not apply)');
      const described = await http(`${base}/v1/tables/payments`);
      assert.equal(described.body.primaryKey, 'txn_id');
      assert.deepEqual(
        described.body.fields.map((f: { name: string }) => f.name),
        ['account_id', 'txn_id', 'amount', 'ts', 'memo'],
      );
      const dup = await http(`${base}/v1/tables`, { method: 'POST', body: JSON.stringify(PAYMENTS) });
      assert.equal(dup.status, 409);
      assert.equal(dup.body.error.code, 'TABLE_EXISTS');
      const bad = await http(`${base}/v1/tables`, { method: 'POST', body: JSON.stringify({ ...PAYMENTS, name: '9lives' }) });
      assert.equal(bad.status, 400);
      assert.equal(bad.body.error.code, 'INVALID_TABLE_DEFINITION');
      const r = await http(`${base}/v1/tables`, { method: 'POST', body: JSON.stringify(READINGS) });
      assert.equal(r.status, 201, r.text);
    });

    test('writes as object, array, NDJSON and gzip; ids in request order; reads back', async () => {
      const one = await http(`${base}/v1/tables/readings/records`, {
        method: 'POST',
        body: JSON.stringify({ device: 'd1', at: '2026-01-01T00:00:05Z', value: 1.5, count: '9007199254740993', raw: 'aGk=', meta: { a: [1, 2] } }),
        headers: { 'content-type': 'application/json' },
      });
      assert.equal(one.status, 200, one.text);
      assert.equal(one.body.written, 1);
      assert.match(one.body.ids[0], /^[0-9]+$/);
      const got = await http(`${base}/v1/tables/readings/records/${one.body.ids[0]}`);
      assert.equal(got.status, 200, got.text);
      assert.deepEqual(got.body, {
        _id: one.body.ids[0],
        device: 'd1',
        at: Date.parse('2026-01-01T00:00:05Z'),
        value: 1.5,
        count: '9007199254740993',
        ok: true,
        raw: 'aGk=',
        meta: { a: [1, 2] },
        _ingested_at: got.body._ingested_at,
      });
      assert.ok(Math.abs(got.body._ingested_at - Date.now()) < 60_000);

      const arr = [3, 1, 2].map((s) => ({ device: 'd2', at: s * 1000, value: s }));
      const wa = await http(`${base}/v1/tables/readings/records`, { method: 'POST', body: JSON.stringify(arr), headers: { 'content-type': 'application/json' } });
      assert.equal(wa.body.written, 3);
      for (let i = 0; i < 3; i++) {
        const r = await http(`${base}/v1/tables/readings/records/${wa.body.ids[i]}`);
        assert.equal(r.body.value, arr[i]?.value, 'ids are in request order');
      }
      const nd = [5, 4].map((s) => JSON.stringify({ device: 'd2', at: s * 1000, value: s })).join('\n') + '\n';
      const wn = await http(`${base}/v1/tables/readings/records`, { method: 'POST', body: nd, headers: { 'content-type': 'application/x-ndjson' } });
      assert.equal(wn.body.written, 2, wn.text);
      const gz = await http(`${base}/v1/tables/readings/records`, {
        method: 'POST',
        body: gzipSync(JSON.stringify({ device: 'd2', at: 0, value: 0 })),
        headers: { 'content-type': 'application/json', 'content-encoding': 'gzip' },
      });
      assert.equal(gz.body.written, 1, gz.text);

      // Range by key: ordered by event time, whatever the arrival order.
      const range = await http(`${base}/v1/tables/readings/records?key=d2`);
      assert.deepEqual(
        range.body.records.map((r: { value: number }) => r.value),
        [0, 1, 2, 3, 4, 5],
      );
      assert.equal(range.body.next_cursor, null);
      const window = await http(`${base}/v1/tables/readings/records?key=d2&from=1000&to=4000`);
      assert.deepEqual(
        window.body.records.map((r: { value: number }) => r.value),
        [1, 2, 3],
      );
      const iso = await http(`${base}/v1/tables/readings/records?key=d2&from=1970-01-01T00:00:02Z`);
      assert.deepEqual(
        iso.body.records.map((r: { value: number }) => r.value),
        [2, 3, 4, 5],
      );
      // Paging with a cursor visits every record once.
      const seen: number[] = [];
      let cursor: string | null = null;
      do {
        const page: { body: { records: { value: number }[]; next_cursor: string | null } } = await http(
          `${base}/v1/tables/readings/records?key=d2&limit=4${cursor === null ? '' : `&cursor=${cursor}`}`,
        );
        seen.push(...page.body.records.map((r) => r.value));
        cursor = page.body.next_cursor;
      } while (cursor !== null);
      assert.deepEqual(seen, [0, 1, 2, 3, 4, 5]);
      const badCursor = await http(`${base}/v1/tables/readings/records?key=d2&cursor=zzz`);
      assert.equal(badCursor.body.error.code, 'INVALID_CURSOR');
    });

    test('export streams every record as NDJSON', async () => {
      const res = await http(`${base}/v1/tables/readings/export?format=ndjson`);
      assert.equal(res.status, 200);
      assert.match(res.headers.get('content-type') ?? '', /ndjson/);
      const lines = res.text.trim().split('\n').map((l) => JSON.parse(l) as { device: string });
      assert.equal(lines.length, 7);
      assert.deepEqual(new Set(lines.map((l) => l.device)), new Set(['d1', 'd2']));
    });

    test('a primary key keeps one record, the later version, under the same _id', async () => {
      const first = await http(`${base}/v1/tables/payments/records`, {
        method: 'POST',
        body: JSON.stringify({ account_id: 'acc-1', txn_id: 't-1', amount: '10.00', ts: 1000, memo: 'first' }),
      });
      assert.equal(first.status, 200, first.text);
      const second = await http(`${base}/v1/tables/payments/records`, {
        method: 'POST',
        body: JSON.stringify([
          { account_id: 'acc-1', txn_id: 't-1', amount: '12.50', ts: 5000, memo: 'second' },
          { account_id: 'acc-1', txn_id: 't-2', amount: '1.00', ts: 2000 },
        ]),
      });
      assert.equal(second.body.ids[0], first.body.ids[0], 'same primary key, same _id');
      assert.notEqual(second.body.ids[1], first.body.ids[0]);
      const got = await http(`${base}/v1/tables/payments/records/${first.body.ids[0]}`);
      assert.equal(got.body.amount, '12.50');
      assert.equal(got.body.memo, 'second');
      const range = await http(`${base}/v1/tables/payments/records?key=acc-1`);
      assert.deepEqual(
        range.body.records.map((r: { txn_id: string; memo: string | null }) => `${r.txn_id}:${r.memo}`),
        ['t-2:null', 't-1:second'],
        'one record per primary key, ordered by its new event time',
      );
    });

    test('POST /ingest writes into events routed by trace_id, keeping every field', async () => {
      const res = await http(`${base}/ingest`, {
        method: 'POST',
        body: [{ trace_id: 'tr-1', level: 'info', msg: 'a' }, { trace_id: 'tr-1', level: 'warn', msg: 'b', extra: { n: 1 } }].map((r) => JSON.stringify(r)).join('\n'),
        headers: { 'content-type': 'application/x-ndjson' },
      });
      assert.equal(res.status, 200, res.text);
      const got = await http(`${base}/v1/tables/events/records?key=tr-1`);
      assert.deepEqual(
        got.body.records.map((r: { msg: string }) => r.msg),
        ['a', 'b'],
      );
      assert.deepEqual(got.body.records[1].extra, { n: 1 });
      const missing = await http(`${base}/ingest`, { method: 'POST', body: JSON.stringify({ msg: 'no trace' }) });
      assert.equal(missing.status, 400);
      assert.equal(missing.body.error.code, 'SCHEMA_VIOLATION');
      assert.equal(missing.body.error.details[0].path, '/trace_id');
    });

    test('on_invalid=skip stores the valid records and lists the rejected ones', async () => {
      const res = await http(`${base}/v1/tables/readings/records?on_invalid=skip`, {
        method: 'POST',
        body: JSON.stringify([
          { device: 'd3', at: 1, value: 1 },
          { device: 'd3', at: 2, value: 'not a number' },
          { device: 'd3', at: 3, value: 3 },
        ]),
      });
      assert.equal(res.status, 200, res.text);
      assert.equal(res.body.written, 2);
      assert.equal(res.body.ids[1], null);
      assert.equal(res.body.rejected[0].index, 1);
      assert.equal(res.body.rejected[0].path, '/value');
      const back = await http(`${base}/v1/tables/readings/records?key=d3`);
      assert.deepEqual(
        back.body.records.map((r: { value: number }) => r.value),
        [1, 3],
      );
    });

    test('metrics expose written and rejected records, latency, WAL and admission', async () => {
      const res = await http(`${base}/metrics`);
      assert.equal(res.status, 200);
      assert.match(res.text, /sluice_records_written_total\{table="readings"\} 9/);
      assert.match(res.text, /sluice_records_rejected_total\{table="readings"\} 1/);
      assert.match(res.text, /sluice_http_request_duration_seconds_bucket/);
      assert.match(res.text, /sluice_wal_fsync_duration_seconds_count [1-9]/);
      assert.match(res.text, /sluice_wal_flush_bytes_bucket/);
      assert.match(res.text, /sluice_inflight_bytes 0/);
    });
  });
}
