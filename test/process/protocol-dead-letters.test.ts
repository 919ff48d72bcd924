/**
 * The shippers' protocols and dead letters, against one real node: records
 * a protocol's table refuses are answered in the protocol's own form and,
 * with `?on_invalid=dead_letter` on the URL (OTLP through the real
 * OpenTelemetry exporter, `_bulk`) or a table whose default is
 * `dead_letter` (Loki), also stored in `<table>__dead_letters` with their
 * code and source, while the valid records are written.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { OTLPLogExporter as ProtoExporter } from '@opentelemetry/exporter-logs-otlp-proto';
import type { ReadableLogRecord } from '@opentelemetry/sdk-logs';
import { sdkLogRecords } from '../api/http/protocols/otlp-sdk-records.ts';
import { NodeProcess, TEST_TOKEN, http, tempDir } from './harness.ts';

interface Letter {
  readonly raw: string;
  readonly code: string;
  readonly source: string;
  readonly status: string;
}

/** A table's records through the NDJSON export. */
async function exportOf<T>(url: string, table: string): Promise<T[]> {
  const res = await http(`${url}/v1/tables/${table}/export?format=ndjson`);
  assert.equal(res.status, 200, res.text);
  return res.text.trim() === '' ? [] : res.text.trim().split('\n').map((l) => JSON.parse(l) as T);
}

/** Sends `records` through the real protobuf exporter; resolves with its result code. */
function exportOnce(url: string, records: ReadableLogRecord[]): Promise<number> {
  const exporter = new ProtoExporter({ url, headers: { authorization: `Bearer ${TEST_TOKEN}` } });
  return new Promise((resolve) => exporter.export(records, (r) => resolve(r.code)));
}

test('shipper protocols: refused records are answered in the protocol\'s form and stored as dead letters when asked', { timeout: 60_000 }, async (t) => {
  const node = await NodeProcess.start(t, { dataDir: tempDir(t) });
  const url = node.url;

  await t.test('OTLP: ?on_invalid=dead_letter on the exporter URL stores the records the table refuses, source otlp', async () => {
    // A service.name past the node's key limit (1 KiB): the table refuses those records (KEY_TOO_LARGE).
    const good = await sdkLogRecords('dlq-otlp');
    const tooLong = await sdkLogRecords('s'.repeat(1100));
    assert.equal(await exportOnce(`${url}/v1/logs?on_invalid=dead_letter`, [...good, ...tooLong]), 0, 'the export succeeds (partialSuccess)');
    const letters = await exportOf<Letter>(url, 'otel_logs__dead_letters');
    assert.equal(letters.length, tooLong.length);
    for (const l of letters) assert.deepEqual([l.code, l.source, l.status], ['KEY_TOO_LARGE', 'otlp', 'pending']);
    const stored = await exportOf<{ service_name: string }>(url, 'otel_logs');
    assert.equal(stored.filter((r) => r.service_name === 'dlq-otlp').length, good.length, 'the valid records are written');
    // Without the parameter (and no table default) nothing more is kept.
    assert.equal(await exportOnce(`${url}/v1/logs`, tooLong), 0);
    assert.equal((await exportOf<Letter>(url, 'otel_logs__dead_letters')).length, tooLong.length);
  });

  await t.test('_bulk: ?on_invalid=dead_letter keeps the item the table refuses, source elasticsearch; the item still answers 400', async () => {
    const lines = ['{"index":{"_index":"dlq","_id":"a"}}', '{"msg":"fine","@timestamp":"2026-12-05T10:00:00Z"}', '{"index":{"_index":"dlq","_id":"b"}}', '{"msg":"bad time","@timestamp":"not a time"}', ''];
    const res = await http(`${url}/_bulk?on_invalid=dead_letter`, { method: 'POST', body: lines.join('\n'), headers: { 'content-type': 'application/x-ndjson' } });
    assert.equal(res.status, 200, res.text);
    assert.equal(res.body.errors, true);
    assert.deepEqual(
      res.body.items.map((i: { index: { status: number } }) => i.index.status),
      [201, 400],
    );
    const letters = await exportOf<Letter>(url, 'es_dlq__dead_letters');
    assert.equal(letters.length, 1);
    assert.equal(letters[0]?.source, 'elasticsearch');
    assert.match(Buffer.from(letters[0]?.raw ?? '', 'base64').toString('utf8'), /not a time/);
    assert.deepEqual((await exportOf<{ doc_id: string }>(url, 'es_dlq')).map((r) => r.doc_id), ['a']);
  });

  await t.test('Loki: a table whose default is dead_letter stores the refused stream, answers 400 (not retried), writes the rest', async () => {
    const first = await http(`${url}/loki/api/v1/push`, { method: 'POST', body: JSON.stringify({ streams: [{ stream: { app: 'first' }, values: [['1764900000000000000', 'creates the table']] }] }), headers: { 'content-type': 'application/json' } });
    assert.equal(first.status, 204, first.text);
    const patched = await http(`${url}/v1/tables/loki_logs`, { method: 'PATCH', body: JSON.stringify({ onInvalid: 'dead_letter' }), headers: { 'content-type': 'application/json' } });
    assert.equal(patched.status, 200, patched.text);
    const push = {
      streams: [
        { stream: { app: 'kept' }, values: [['1764900000000000001', 'kept line']] },
        // Its canonical label string is the shard key: past the key limit the table refuses it.
        { stream: { app: 'x'.repeat(1100) }, values: [['1764900000000000002', 'refused line']] },
      ],
    };
    const res = await http(`${url}/loki/api/v1/push`, { method: 'POST', body: JSON.stringify(push), headers: { 'content-type': 'application/json' } });
    assert.equal(res.status, 400, res.text);
    assert.match(res.text, /1 of the push's entries were refused and stored in loki_logs__dead_letters; the other 1 were written/);
    const letters = await exportOf<Letter>(url, 'loki_logs__dead_letters');
    assert.deepEqual(letters.map((l) => [l.source, l.code]), [['loki', 'KEY_TOO_LARGE']]);
    const lines = (await exportOf<{ line: string }>(url, 'loki_logs')).map((r) => r.line).sort();
    assert.deepEqual(lines, ['creates the table', 'kept line']);
  });
});
