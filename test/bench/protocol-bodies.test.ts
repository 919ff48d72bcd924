/**
 * The protocols benchmark's bodies, read back by the node's own decoders:
 * every way's body of one batch yields the batch's record count and the
 * same fields, and the native NDJSON peer is exactly what the OTLP route
 * stores for that batch (so the bench compares the same rows). Also which
 * answers the bench counts as written, and the per-run rotation.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { decodeOtlpJson } from '../../src/ingest/formats/otlp/decode-otlp-json.ts';
import { decodeOtlpProtobuf } from '../../src/ingest/formats/otlp/decode-otlp-protobuf.ts';
import { mapLogEntries } from '../../src/ingest/formats/otlp/map-log-entries.ts';
import { parseBulkBody } from '../../src/api/http/protocols/elasticsearch/bulk-ndjson.ts';
import { planBulk, tableWrite } from '../../src/api/http/protocols/elasticsearch/bulk-plan.ts';
import { decodeFrames } from '../../src/ingest/decode-frames.ts';
import { wrapFrames } from '../../src/ingest/frame-envelope.ts';
import { runLokiDecode } from '../../src/api/http/protocols/loki/loki-decode.ts';
import { LOGS_PER_SERVICE_RUN, benchLog, logBatches } from '../../bench/lib/log-records.ts';
import { BENCH_ES_INDEX, esBulkBody, lokiJsonBody, lokiProtobufBody, nativeBody, otlpJsonBody, otlpProtobufBody } from '../../bench/lib/protocol-bodies.ts';
import { PROTOCOLS, WAYS, rotation } from '../../bench/lib/protocol-ways.ts';

const BASE_MS = 1_764_000_000_000;
// Three services (100 records each) and every severity: several OTLP resources and Loki streams.
const N = 3 * LOGS_PER_SERVICE_RUN;
const [LOGS = []] = logBatches(0, 1, N, BASE_MS);
const NOW_MS = 1_800_000_000_000;
const BYTES_MAX = 16 * 1024 * 1024;

function plain(value: unknown): unknown {
  return JSON.parse(JSON.stringify(value));
}

function nativeRows(): unknown[] {
  return nativeBody(LOGS).toString('utf8').trimEnd().split('\n').map((l) => JSON.parse(l) as unknown);
}

test('a record carries the ns time exactly, with its ms and hrtime forms', () => {
  const log = benchLog(1234, BASE_MS);
  assert.equal(log.timeMs, BASE_MS + 1234);
  assert.equal(BigInt(log.timeNs) / 1_000_000n, BigInt(log.timeMs));
  assert.equal(BigInt(log.hrTime[0]) * 1_000_000_000n + BigInt(log.hrTime[1]), BigInt(log.timeNs));
  assert.match(log.traceId, /^[0-9a-f]{32}$/);
  assert.match(log.spanId, /^[0-9a-f]{16}$/);
  assert.equal(new Set(LOGS.map((l) => l.service)).size, 3);
  assert.deepEqual(new Set(LOGS.map((l) => l.severityText)), new Set(['INFO', 'WARN', 'ERROR']));
});

test('OTLP protobuf and JSON bodies (the SDK serializers) decode to exactly the native NDJSON rows', () => {
  const rows = nativeRows();
  assert.equal(rows.length, N);
  const bodies = [
    [otlpProtobufBody(LOGS), decodeOtlpProtobuf],
    [otlpJsonBody(LOGS), decodeOtlpJson],
  ] as const;
  for (const [body, decode] of bodies) {
    const mapped = mapLogEntries(decode(body, { depthMax: 32 }), NOW_MS);
    assert.deepEqual(mapped.rejected, []);
    assert.equal(mapped.records.length, N);
    // The serializer groups records by resource (service): compare in event-time order.
    const byTime = (rs: unknown[]): unknown[] => [...rs].sort((a, b) => String((a as { time_unix_nano: string }).time_unix_nano).localeCompare(String((b as { time_unix_nano: string }).time_unix_nano)));
    assert.deepEqual(byTime(plain(mapped.records) as unknown[]), byTime(rows));
  }
});

test('the _bulk body pairs into one index op per record, planned into es_bench_logs with the document as sent', () => {
  const body = esBulkBody(LOGS);
  const ops = parseBulkBody(body);
  assert.equal(ops.length, N);
  let n = 0;
  const plan = planBulk(body, ops, { pathIndex: undefined, tablePrefix: 'es_', newId: () => `id${n++}`, tablesMax: 100 });
  assert.deepEqual([...plan.batches.keys()], [WAYS['es-bulk'].table]);
  assert.ok(plan.outcomes.every((o) => o === undefined));
  const batch = plan.batches.get(WAYS['es-bulk'].table);
  assert.ok(batch !== undefined);
  const write = tableWrite(plan, batch, '@timestamp');
  assert.equal(write.minted, true, 'no _id in the bench: every key made up, written without lookups');
  // The records as the decode worker builds them.
  const records = wrapFrames(decodeFrames(write.body, write.frames, undefined, write.envelope.noun), write.envelope, NOW_MS);
  assert.equal(records.length, N);
  const first = plain(records[0]) as Record<string, unknown>;
  const log = LOGS[0];
  assert.ok(log !== undefined);
  assert.deepEqual(first, {
    doc_id: 'id0',
    es_index: BENCH_ES_INDEX,
    ts: new Date(log.timeMs).toISOString(),
    doc: plain({ '@timestamp': new Date(log.timeMs).toISOString(), service: { name: log.service }, log: { level: 'error' }, message: log.message, trace: { id: log.traceId }, span: { id: log.spanId }, attributes: log.attributes }),
  });
});

test('Loki protobuf+snappy and JSON bodies decode to the same records: labels, ns time, line, metadata', () => {
  const decoded = [lokiProtobufBody(LOGS), lokiJsonBody(LOGS)].map((body, k) => runLokiDecode({ body, encoding: k === 0 ? 'protobuf' : 'json', bytesMax: BYTES_MAX }));
  const records = decoded.map((d) => {
    assert.ok(d.ok, JSON.stringify(d));
    assert.equal(d.count, N);
    return JSON.parse(Buffer.from(d.records).toString('utf8')) as Record<string, unknown>[];
  });
  assert.deepEqual(records[0], records[1]);
  const log = LOGS[0];
  assert.ok(log !== undefined);
  const first = records[0]?.find((r) => r['ts_ns'] === log.timeNs);
  assert.deepEqual(first, {
    stream: `{level="error", service="${log.service}"}`,
    labels: { level: 'error', service: log.service },
    ts: log.timeMs,
    ts_ns: log.timeNs,
    line: log.message,
    structured_metadata: { trace_id: log.traceId, span_id: log.spanId, 'http.method': 'GET', 'http.route': '/api/orders/{id}', 'http.status_code': '500', 'user.id': 'u-000000' },
  });
});

test('only an answer that says every record was written counts', () => {
  const ok: Record<string, [number, string]> = {
    native: [200, `{"written":${N},"ids":[],"token":null}`],
    'otlp-protobuf': [200, ''],
    'otlp-json': [200, '{}'],
    'es-bulk': [200, '{"took":3,"errors":false,"items":[]}'],
    'loki-protobuf': [204, ''],
    'loki-json': [204, ''],
  };
  for (const p of PROTOCOLS) {
    const [status, text] = ok[p] as [number, string];
    assert.equal(WAYS[p].refusal(status, text, N), undefined, p);
    assert.match(WAYS[p].refusal(400, '{"error":{"code":"BAD_REQUEST"}}', N) ?? '', /HTTP 400/, p);
  }
  assert.ok(WAYS.native.refusal(200, `{"written":${N - 1},"ids":[],"token":null,"rejected":[],"rejected_count":1}`, N) !== undefined);
  assert.ok(WAYS['otlp-json'].refusal(200, '{"partialSuccess":{"rejectedLogRecords":1}}', N) !== undefined);
  assert.ok(WAYS['otlp-protobuf'].refusal(200, '\b\u0001', N) !== undefined);
  assert.ok(WAYS['es-bulk'].refusal(200, '{"took":3,"errors":true,"items":[]}', N) !== undefined);
  assert.ok(WAYS['loki-json'].refusal(200, '', N) !== undefined);
});

test('the order rotates: every way once per run, a different one first in each of six runs', () => {
  const runs = Array.from({ length: PROTOCOLS.length }, (_, r) => rotation(r));
  for (const order of runs) assert.deepEqual([...order].sort(), [...PROTOCOLS].sort());
  assert.equal(new Set(runs.map((o) => o[0])).size, PROTOCOLS.length);
});
