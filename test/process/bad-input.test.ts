/**
 * (c) The bad-input battery against a real node: each bad request gets its
 * status and stable code, nothing of it is stored, and the node keeps
 * serving.
 */
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { gzipSync } from 'node:zlib';
import { NodeProcess, http, tempDir } from './harness.ts';
import { PAYMENTS } from './tables.ts';

const BODY_MAX = 1024 * 1024;

interface Case {
  readonly name: string;
  readonly method?: string;
  readonly path: string;
  readonly body?: string | Uint8Array;
  readonly headers?: Record<string, string>;
  readonly status: number;
  readonly code: string;
  /** Expected first detail (index/path) for record errors. */
  readonly detail?: { index?: number; path?: string };
}

const good = { account_id: 'a1', txn_id: 't1', amount: '1.00', ts: '2026-01-01T00:00:00Z' };
const rec = (patch: Record<string, unknown>): string => JSON.stringify({ ...good, ...patch });

function nested(depth: number): unknown {
  let v: unknown = 1;
  for (let i = 0; i < depth; i++) v = { d: v };
  return v;
}

const CASES: readonly Case[] = [
  { name: 'malformed JSON', path: '/v1/tables/payments/records', body: '{"account_id": "a1", ', status: 400, code: 'INVALID_JSON' },
  { name: 'NaN literal', path: '/v1/tables/payments/records', body: '{"account_id":"a1","txn_id":"t","amount":NaN,"ts":1}', status: 400, code: 'INVALID_JSON' },
  {
    name: 'malformed NDJSON line names the record',
    path: '/v1/tables/payments/records',
    body: `${rec({})}\n{oops\n`,
    headers: { 'content-type': 'application/x-ndjson' },
    status: 400,
    code: 'INVALID_JSON',
    detail: { index: 1 },
  },
  { name: 'wrong type', path: '/v1/tables/payments/records', body: rec({ account_id: 42 }), status: 400, code: 'SCHEMA_VIOLATION', detail: { index: 0, path: '/account_id' } },
  { name: 'float for decimal', path: '/v1/tables/payments/records', body: rec({ amount: 12.5 }), status: 400, code: 'SCHEMA_VIOLATION', detail: { index: 0, path: '/amount' } },
  { name: 'bad timestamp', path: '/v1/tables/payments/records', body: rec({ ts: '2024-02-30T00:00:00Z' }), status: 400, code: 'SCHEMA_VIOLATION', detail: { path: '/ts' } },
  { name: 'timestamp without zone', path: '/v1/tables/payments/records', body: rec({ ts: '2024-02-01T00:00:00' }), status: 400, code: 'SCHEMA_VIOLATION', detail: { path: '/ts' } },
  { name: 'missing shard key', path: '/v1/tables/payments/records', body: JSON.stringify({ txn_id: 't', amount: '1', ts: 1 }), status: 400, code: 'SCHEMA_VIOLATION', detail: { path: '/account_id' } },
  { name: 'unknown field', path: '/v1/tables/payments/records', body: rec({ colour: 'red' }), status: 400, code: 'SCHEMA_VIOLATION', detail: { path: '/colour' } },
  { name: 'system field in input', path: '/v1/tables/payments/records', body: rec({ _id: '1' }), status: 400, code: 'SCHEMA_VIOLATION' },
  {
    name: 'one bad record in a batch refuses the whole batch',
    path: '/v1/tables/payments/records',
    body: JSON.stringify([good, { ...good, txn_id: 't2' }, { ...good, amount: 'lots' }]),
    status: 400,
    code: 'SCHEMA_VIOLATION',
    detail: { index: 2, path: '/amount' },
  },
  { name: 'shard key over 1 KiB', path: '/v1/tables/payments/records', body: rec({ account_id: 'k'.repeat(1025) }), status: 400, code: 'KEY_TOO_LARGE', detail: { index: 0, path: '/account_id' } },
  { name: 'primary key over 1 KiB', path: '/v1/tables/payments/records', body: rec({ txn_id: 'p'.repeat(1025) }), status: 400, code: 'KEY_TOO_LARGE', detail: { path: '/txn_id' } },
  { name: 'empty body', path: '/v1/tables/payments/records', body: '', status: 400, code: 'EMPTY_BODY' },
  { name: 'empty array', path: '/v1/tables/payments/records', body: '[]', status: 400, code: 'EMPTY_BODY' },
  { name: 'body over the limit', path: '/v1/tables/payments/records', body: 'x'.repeat(BODY_MAX + 1), status: 413, code: 'PAYLOAD_TOO_LARGE' },
  {
    name: 'gzip bomb',
    path: '/v1/tables/payments/records',
    body: gzipSync(Buffer.alloc(256 * 1024 * 1024, 0x20)),
    headers: { 'content-encoding': 'gzip' },
    status: 413,
    code: 'PAYLOAD_TOO_LARGE',
  },
  { name: 'corrupt gzip', path: '/v1/tables/payments/records', body: Buffer.from('not gzip at all'), headers: { 'content-encoding': 'gzip' }, status: 400, code: 'BAD_REQUEST' },
  { name: 'unsupported content encoding', path: '/v1/tables/payments/records', body: rec({}), headers: { 'content-encoding': 'compress' }, status: 415, code: 'UNSUPPORTED_MEDIA_TYPE' },
  { name: 'invalid UTF-8', path: '/v1/tables/payments/records', body: Buffer.from([0x7b, 0x22, 0xff, 0xfe, 0x22, 0x3a, 0x31, 0x7d]), status: 400, code: 'INVALID_ENCODING' },
  { name: 'deep nesting in a json field', path: '/ingest', body: JSON.stringify({ trace_id: 't', deep: nested(100) }), status: 400, code: 'SCHEMA_VIOLATION' },
  { name: 'pathological nesting', path: '/ingest', body: '['.repeat(200_000) + ']'.repeat(200_000), status: 400, code: 'SCHEMA_VIOLATION' },
  { name: 'not an object', path: '/v1/tables/payments/records', body: '[1, "two"]', status: 400, code: 'SCHEMA_VIOLATION', detail: { index: 0 } },
  { name: 'int64 overflow', path: '/v1/tables/counters/records', body: JSON.stringify({ k: 'a', v: '9223372036854775808' }), status: 400, code: 'SCHEMA_VIOLATION', detail: { path: '/v' } },
  { name: 'unsafe integer as a JSON number', path: '/v1/tables/counters/records', body: '{"k":"a","v":9007199254740993}', status: 400, code: 'SCHEMA_VIOLATION', detail: { path: '/v' } },
  { name: 'unknown table', path: '/v1/tables/nope/records', body: rec({}), status: 404, code: 'TABLE_NOT_FOUND' },
  { name: 'bad table name', path: '/v1/tables', body: JSON.stringify({ ...PAYMENTS, name: 'bad-name!' }), status: 400, code: 'INVALID_TABLE_DEFINITION' },
  { name: 'table name too long', path: '/v1/tables', body: JSON.stringify({ ...PAYMENTS, name: `t${'x'.repeat(63)}` }), status: 400, code: 'INVALID_TABLE_DEFINITION' },
  { name: 'duplicate table', path: '/v1/tables', body: JSON.stringify(PAYMENTS), status: 409, code: 'TABLE_EXISTS' },
  { name: 'bad on_invalid', path: '/v1/tables/payments/records?on_invalid=maybe', body: rec({}), status: 400, code: 'INVALID_ARGUMENT' },
  { name: 'bad record id', method: 'GET', path: '/v1/tables/payments/records/abc', status: 400, code: 'INVALID_ARGUMENT' },
  { name: 'unknown record id', method: 'GET', path: '/v1/tables/payments/records/12345', status: 404, code: 'RECORD_NOT_FOUND' },
  { name: 'range query without key', method: 'GET', path: '/v1/tables/payments/records', status: 400, code: 'INVALID_ARGUMENT' },
  { name: 'bad limit', method: 'GET', path: '/v1/tables/payments/records?key=a&limit=0', status: 400, code: 'INVALID_ARGUMENT' },
  { name: 'bad from', method: 'GET', path: '/v1/tables/payments/records?key=a&from=yesterday', status: 400, code: 'INVALID_ARGUMENT' },
  { name: 'unknown route', method: 'GET', path: '/v2/nothing', status: 404, code: 'NOT_FOUND' },
];

describe('bad input battery', () => {
  let node: NodeProcess;
  const cleanups: (() => Promise<void> | void)[] = [];
  before(async () => {
    const ctx = { after: (fn: () => Promise<void> | void) => cleanups.push(fn) };
    node = await NodeProcess.start(ctx, { dataDir: tempDir(ctx), args: ['--body-bytes-max', String(BODY_MAX)] });
    for (const def of [PAYMENTS, { name: 'counters', shardKey: 'k', fields: [{ name: 'k', type: 'string', required: true }, { name: 'v', type: 'int' }] }]) {
      const res = await http(`${node.url}/v1/tables`, { method: 'POST', body: JSON.stringify(def) });
      assert.equal(res.status, 201, res.text);
    }
  });
  after(async () => {
    for (const fn of cleanups.reverse()) await fn();
  });

  for (const c of CASES) {
    test(c.name, async () => {
      const res = await http(`${node.url}${c.path}`, {
        method: c.method ?? 'POST',
        ...(c.body === undefined ? {} : { body: c.body }),
        headers: { 'content-type': 'application/json', ...c.headers },
      });
      assert.equal(res.status, c.status, res.text.slice(0, 500));
      assert.equal(res.body?.error?.code, c.code, res.text.slice(0, 500));
      assert.equal(typeof res.body.error.message, 'string');
      assert.ok(Array.isArray(res.body.error.details));
      if (c.detail !== undefined) {
        const d = res.body.error.details[0];
        if (c.detail.index !== undefined) assert.equal(d?.index, c.detail.index);
        if (c.detail.path !== undefined) assert.equal(d?.path, c.detail.path);
      }
    });
  }

  test('nothing of any refused request was stored and the node still serves', async () => {
    for (const table of ['payments', 'counters', 'events']) {
      const res = await http(`${node.url}/v1/tables/${table}/export`);
      assert.equal(res.status, 200);
      assert.equal(res.text, '', `${table} holds nothing`);
    }
    const ok = await http(`${node.url}/v1/tables/payments/records`, { method: 'POST', body: rec({}) });
    assert.equal(ok.status, 200, ok.text);
    const metrics = await http(`${node.url}/metrics`);
    assert.match(metrics.text, /sluice_records_rejected_total\{table="payments"\} [1-9]/);
  });
});
