/**
 * OTLP/HTTP logs end to end with the real OpenTelemetry JS SDK and both of
 * its OTLP exporters (protobuf and JSON, gzip too) pointed at a live node
 * with a bearer token: every field and time read back through sluice's own
 * read API; refused records answered as `partialSuccess` through the
 * exporter; a chunked body counted against admission while it arrives and
 * refused mid-body with 429 when it cannot grow; an overload answer the
 * exporter retries after Retry-After and then delivers; malformed bodies
 * refused whole with a coded Status and nothing written.
 *
 * Both exporters send `Transfer-Encoding: chunked` without a Content-Length
 * (seen on the wire with 0.301.2), so every export here is a chunked body.
 * One node for the file, with the smallest admission bound (64 KiB) so a
 * held-open chunked body can fill it.
 */
import assert from 'node:assert/strict';
import { request as httpRequest, type ClientRequest } from 'node:http';
import { test } from 'node:test';
import { DiagLogLevel, diag } from '@opentelemetry/api';
import { OTLPLogExporter as JsonExporter } from '@opentelemetry/exporter-logs-otlp-http';
import { OTLPLogExporter as ProtoExporter } from '@opentelemetry/exporter-logs-otlp-proto';
import { CompressionAlgorithm } from '@opentelemetry/otlp-exporter-base';
import { ProtobufLogsSerializer } from '@opentelemetry/otlp-transformer';
import { BatchLogRecordProcessor, type LogRecordExporter, type ReadableLogRecord } from '@opentelemetry/sdk-logs';
import { OTLP_DECODE_HEAP_BYTES_PER_BODY_BYTE } from '../../src/config.ts';
import { otlpTypes } from '../../src/ingest/formats/otlp/otlp-proto.ts';
import { EVENT_NS, OBSERVED_NS, SPAN_ID, TRACE_ID, emitSampleRecords, sampleProvider, sdkLogRecords } from '../api/http/protocols/otlp-sdk-records.ts';
import { NodeProcess, TEST_TOKEN, authHeaders, http, sleep, tempDir } from './harness.ts';

const IN_FLIGHT_BYTES_MAX = 64 * 1024;
const AUTH = { authorization: `Bearer ${TEST_TOKEN}` };

/** Records of one service, read back through GET /v1/tables/{t}/records (time order). */
async function readBack(url: string, service: string, table = 'otel_logs'): Promise<Record<string, unknown>[]> {
  const res = await http(`${url}/v1/tables/${table}/records?key=${encodeURIComponent(service)}`);
  assert.equal(res.status, 200, res.text);
  return res.body.records as Record<string, unknown>[];
}

/** The three sample records as stored: every field and time. */
function assertSamples(records: Record<string, unknown>[], service: string): void {
  assert.equal(records.length, 3, JSON.stringify(records));
  const [first, second, third] = records as [Record<string, unknown>, Record<string, unknown>, Record<string, unknown>];
  for (const r of records) {
    assert.equal(r['service_name'], service);
    assert.deepEqual(r['scope'], { name: 'payments-lib', version: '2.1.0' });
    const resource = r['resource_attributes'] as Record<string, unknown>;
    assert.equal(resource['service.name'], service);
    assert.equal(resource['deployment.environment'], 'test');
    assert.equal(r['time'], Number(BigInt(r['time_unix_nano'] as string) / 1_000_000n), 'ms and ns agree');
  }
  assert.equal(first['time'], 1764000000123);
  assert.equal(first['time_unix_nano'], EVENT_NS);
  assert.equal(first['observed_time_unix_nano'], OBSERVED_NS);
  assert.equal(first['severity_number'], 9);
  assert.equal(first['severity_text'], 'INFO');
  assert.equal(first['body'], 'payment accepted');
  assert.equal(first['trace_id'], TRACE_ID);
  assert.equal(first['span_id'], SPAN_ID);
  assert.equal(first['flags'], 1);
  assert.deepEqual(first['attributes'], { 'order.id': 'o-1', amount_cents: 1999, ratio: 0.25, ok: true, tags: ['a', 'b'] });
  assert.equal(second['time_unix_nano'], EVENT_NS);
  assert.equal(second['severity_number'], 17);
  assert.equal(second['event_name'], 'payment.failed');
  assert.deepEqual(second['body'], { reason: 'card declined', codes: [51, 5] });
  assert.deepEqual(second['attributes'], { nested: { level1: { level2: 'deep' } } });
  assert.equal(second['trace_id'], null);
  assert.equal(third['body'], 'no event time');
  assert.equal(third['observed_time_unix_nano'], OBSERVED_NS);
}

/** Sends through a LoggerProvider + BatchLogRecordProcessor + `exporter`, then force-flushes. */
async function emitThrough(exporter: LogRecordExporter, service: string): Promise<void> {
  const provider = sampleProvider(service, new BatchLogRecordProcessor({ exporter, scheduledDelayMillis: 60_000 }));
  emitSampleRecords(provider);
  await provider.forceFlush();
  await provider.shutdown();
}

/** One export call straight through the exporter: its result code (0 success, 1 failure) and how long it took. */
function exportOnce(exporter: LogRecordExporter, records: ReadableLogRecord[]): Promise<{ code: number; error?: Error; ms: number }> {
  const started = Date.now();
  return new Promise((resolve) => exporter.export(records, (result) => resolve({ code: result.code, ...(result.error === undefined ? {} : { error: result.error }), ms: Date.now() - started })));
}

/** A POST with a chunked body (no Content-Length) that the test writes piece by piece. */
function openChunked(url: string, path: string, contentType: string): { req: ClientRequest; answer: Promise<{ status: number; headers: Record<string, unknown>; body: Buffer }> } {
  const req = httpRequest(`${url}${path}`, { method: 'POST', headers: { ...AUTH, 'content-type': contentType, 'transfer-encoding': 'chunked' } });
  const answer = new Promise<{ status: number; headers: Record<string, unknown>; body: Buffer }>((resolve, reject) => {
    req.on('response', (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
    });
    req.on('error', reject);
  });
  req.flushHeaders();
  return { req, answer };
}

/** A metric's value on the node's /metrics (0 when absent). */
async function metric(url: string, line: RegExp): Promise<number> {
  const text = (await http(`${url}/metrics`)).text;
  const m = text.split('\n').find((l) => line.test(l));
  return m === undefined ? 0 : Number(m.split(' ').pop());
}

/** Polls until `probe` holds, at most `ms`. */
async function until(what: string, probe: () => Promise<boolean>, ms = 10_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await probe())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(25);
  }
}

/** A valid protobuf export request of `count` records of service `service`, each with a `padBytes` body. */
async function paddedRequest(service: string, count: number, padBytes: number): Promise<Buffer> {
  const records = await sdkLogRecords(service, (provider) => {
    const logger = provider.getLogger('pad');
    for (let i = 0; i < count; i++) logger.emit({ body: `${i}:${'p'.repeat(padBytes)}`, attributes: { i } });
  });
  return Buffer.from(ProtobufLogsSerializer.serializeRequest(records) as Uint8Array);
}

function decodeStatus(body: Buffer): { code: number; message: string; reason: string } {
  const { status, errorInfo } = otlpTypes();
  const s = status.decode(body) as unknown as { code: number; message: string; details: { value: Uint8Array }[] };
  const info = errorInfo.decode(s.details[0]?.value ?? new Uint8Array()) as unknown as { reason: string };
  return { code: s.code, message: s.message, reason: info.reason };
}

test('OTLP/HTTP logs from the OpenTelemetry JS SDK into a live node', { timeout: 60_000 }, async (t) => {
  const node = await NodeProcess.start(t, { dataDir: tempDir(t), args: ['--in-flight-bytes-max', String(IN_FLIGHT_BYTES_MAX)] });
  const url = `${node.url}/v1/logs`;

  await t.test('protobuf exporter: every field and time lands in otel_logs', async () => {
    await emitThrough(new ProtoExporter({ url, headers: AUTH }), 'checkout-proto');
    assertSamples(await readBack(node.url, 'checkout-proto'), 'checkout-proto');
    const table = await http(`${node.url}/v1/tables/otel_logs`);
    assert.equal(table.body.shardKey, 'service_name');
    assert.equal(table.body.timeField, 'time');
  });

  await t.test('JSON exporter, gzip: the same records', async () => {
    await emitThrough(new JsonExporter({ url, headers: AUTH, compression: CompressionAlgorithm.GZIP }), 'checkout-json');
    assertSamples(await readBack(node.url, 'checkout-json'), 'checkout-json');
  });

  await t.test('records the table refuses come back as partialSuccess through both exporters; the rest are written', async () => {
    const warnings: string[] = [];
    const keep = (...args: unknown[]): void => {
      warnings.push(args.map(String).join(' '));
    };
    diag.setLogger({ error: keep, warn: keep, info: () => {}, debug: () => {}, verbose: () => {} }, DiagLogLevel.WARN);
    t.after(() => diag.disable());
    // A service.name past the node's key limit (1 KiB): the table refuses those records (KEY_TOO_LARGE).
    const tooLong = await sdkLogRecords('s'.repeat(1100));
    for (const [name, exporter] of [['json', new JsonExporter({ url, headers: AUTH })], ['proto', new ProtoExporter({ url, headers: AUTH })]] as const) {
      warnings.length = 0;
      const good = await sdkLogRecords(`partial-${name}`);
      const result = await exportOnce(exporter, [...good, ...tooLong]);
      assert.equal(result.code, 0, `export succeeds: ${result.error?.message}`);
      const partial = warnings.find((w) => w.includes('Partial Success'));
      assert.ok(partial !== undefined, `the exporter saw partialSuccess: ${warnings.join(' | ')}`);
      assert.match(partial, /"rejectedLogRecords":(3|"3")/);
      assert.match(partial, /3 of 6 log records rejected: log record 3 .*KEY_TOO_LARGE/);
      assertSamples(await readBack(node.url, `partial-${name}`), `partial-${name}`);
    }
  });

  await t.test('a chunked body is counted against admission as it arrives, and refused mid-body with 429 when it cannot grow', async () => {
    const holder = await paddedRequest('chunked-holder', 4, 25 * 1024);
    const first = Math.floor(IN_FLIGHT_BYTES_MAX * 0.9);
    const a = openChunked(node.url, '/v1/logs', 'application/x-protobuf');
    a.req.write(holder.subarray(0, first));
    await until('the first part to be admitted', async () => (await metric(node.url, /^sluice_inflight_bytes /)) >= first);
    // A second body now fits at 0 bytes, but not once 10 KiB of it have arrived.
    const b = openChunked(node.url, '/v1/logs', 'application/x-protobuf');
    b.req.write(Buffer.alloc(10 * 1024, 0x0a));
    const refused = await b.answer;
    b.req.destroy();
    assert.equal(refused.status, 429);
    assert.equal(refused.headers['retry-after'], '1');
    assert.equal(refused.headers['content-type'], 'application/x-protobuf');
    assert.deepEqual({ ...decodeStatus(refused.body), message: '' }, { code: 8, message: '', reason: 'OVERLOADED' });
    a.req.end(holder.subarray(first));
    const done = await a.answer;
    assert.equal(done.status, 200, done.body.toString());
    assert.equal(done.body.length, 0, 'an empty ExportLogsServiceResponse: all written');
    const stored = await readBack(node.url, 'chunked-holder');
    assert.deepEqual(stored.map((r) => (r['attributes'] as { i: number }).i).sort(), [0, 1, 2, 3]);
    assert.equal((stored[0]?.['body'] as string).length, 2 + 25 * 1024);
  });

  await t.test('the decoding working set (a multiple of a protobuf body) is admitted too: refused while others hold the room, accepted alone', async () => {
    const holder = await paddedRequest('working-set-holder', 2, 24 * 1024);
    const held = 45 * 1024;
    const a = openChunked(node.url, '/v1/logs', 'application/x-protobuf');
    a.req.write(holder.subarray(0, held));
    await until('the holder to be admitted', async () => (await metric(node.url, /^sluice_inflight_bytes /)) >= held);
    // 3 KiB on the wire: its bytes fit beside the holder's 45 KiB, its decoding working set does not.
    const small = await paddedRequest('working-set', 1, 3 * 1024);
    assert.ok(held + small.length <= IN_FLIGHT_BYTES_MAX && held + small.length * OTLP_DECODE_HEAP_BYTES_PER_BODY_BYTE.protobuf > IN_FLIGHT_BYTES_MAX, 'the sizes test what they claim');
    const post = () => fetch(url, { method: 'POST', body: small, headers: { ...AUTH, 'content-type': 'application/x-protobuf' } });
    const refused = await post();
    assert.equal(refused.status, 429);
    assert.equal(decodeStatus(Buffer.from(await refused.arrayBuffer())).reason, 'OVERLOADED');
    a.req.end(holder.subarray(held));
    assert.equal((await a.answer).status, 200);
    await until('the holder to be indexed', async () => (await metric(node.url, /^sluice_inflight_bytes /)) === 0);
    assert.equal((await post()).status, 200, 'alone, it is admitted');
    assert.equal((await readBack(node.url, 'working-set')).length, 1);
  });

  await t.test('overload: 429 with Retry-After, which the exporter retries, and then the batch lands', async () => {
    const hog = await paddedRequest('hog', 4, 25 * 1024);
    const held = IN_FLIGHT_BYTES_MAX + 4096;
    const a = openChunked(node.url, '/v1/logs', 'application/x-protobuf');
    a.req.write(hog.subarray(0, held));
    await until('the hog to be admitted', async () => (await metric(node.url, /^sluice_inflight_bytes /)) >= held);
    const refusedBefore = await metric(node.url, /^sluice_http_request_duration_seconds_count\{.*route="\/v1\/logs".*status="429"/);
    const exporting = exportOnce(new ProtoExporter({ url, headers: AUTH }), await sdkLogRecords('after-overload'));
    await until('the exporter to be refused', async () => (await metric(node.url, /^sluice_http_request_duration_seconds_count\{.*route="\/v1\/logs".*status="429"/)) > refusedBefore);
    a.req.end(hog.subarray(held));
    assert.equal((await a.answer).status, 200);
    const result = await exporting;
    assert.equal(result.code, 0, `the exporter retried and succeeded: ${result.error?.message}`);
    assert.ok(result.ms >= 800, `it waited for Retry-After (1 s) before retrying: ${result.ms} ms`);
    assertSamples(await readBack(node.url, 'after-overload'), 'after-overload');
  });

  await t.test('malformed bodies are refused whole with a coded Status in their encoding, nothing written', async () => {
    const before = (await http(`${node.url}/v1/tables/otel_logs/export`)).text;
    const post = (body: string | Uint8Array, type: string, token?: string | null) => fetch(url, { method: 'POST', body, headers: { 'content-type': type, ...(token === null ? {} : authHeaders(token)) } });
    const garbage = await post('definitely not protobuf', 'application/x-protobuf');
    assert.equal(garbage.status, 400);
    assert.equal(decodeStatus(Buffer.from(await garbage.arrayBuffer())).reason, 'INVALID_PROTOBUF');
    const shape = await post('{"resourceLogs": {"not": "an array"}}', 'application/json');
    assert.equal(shape.status, 400);
    const shapeBody = (await shape.json()) as { code: number; details: { reason: string }[] };
    assert.equal(shapeBody.code, 3);
    assert.equal(shapeBody.details[0]?.reason, 'INVALID_OTLP');
    const notJson = await post('{"resourceLogs": [', 'application/json');
    assert.equal(notJson.status, 400);
    assert.equal(((await notJson.json()) as { details: { reason: string }[] }).details[0]?.reason, 'INVALID_JSON');
    assert.equal((await post('{}', 'text/plain')).status, 415);
    assert.equal((await post('{}', 'application/json', null)).status, 401);
    assert.equal((await http(`${node.url}/v1/tables/otel_logs/export`)).text, before, 'nothing written');
    assert.equal(await metric(node.url, /^sluice_http_refusals_total\{route="\/v1\/logs",table="otel_logs",code="INVALID_PROTOBUF"\}/), 1, 'counted like any refusal');
    // An empty request is a success that writes nothing.
    const empty = await post('{"resourceLogs": []}', 'application/json');
    assert.equal(empty.status, 200);
    assert.equal(await empty.text(), '{}');
  });

  await t.test('POST /otlp/{table}/v1/logs writes into that table; a table OTLP records do not fit is refused with 409', async () => {
    await emitThrough(new ProtoExporter({ url: `${node.url}/otlp/app_logs/v1/logs`, headers: AUTH }), 'billing');
    assertSamples(await readBack(node.url, 'billing', 'app_logs'), 'billing');
    const ledger = await http(`${node.url}/v1/tables`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ name: 'ledger', shardKey: 'account', fields: [{ name: 'account', type: 'string', required: true }] }) });
    assert.equal(ledger.status, 201, ledger.text);
    const result = await exportOnce(new JsonExporter({ url: `${node.url}/otlp/ledger/v1/logs`, headers: AUTH }), await sdkLogRecords('billing'));
    assert.equal(result.code, 1, 'a 409 is not retried');
    assert.match(String(result.error?.message ?? ''), /Conflict|409/);
    assert.equal((await http(`${node.url}/v1/tables/ledger/export`)).text, '');
  });
});
