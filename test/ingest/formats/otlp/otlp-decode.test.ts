/**
 * OTLP logs decoding and mapping: the SDK's own serializers (protobuf and
 * JSON) against sluice's decoders, hand-made edge cases (ids, times,
 * int64, doubles, bytes, nesting, snake_case names), and bad input, which
 * is refused whole with a stable code or, inside one record, alone.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { JsonLogsSerializer, ProtobufLogsSerializer } from '@opentelemetry/otlp-transformer';
import { isSluiceError } from '../../../../src/core/errors.ts';
import { decodeOtlpJson } from '../../../../src/ingest/formats/otlp/decode-otlp-json.ts';
import { decodeOtlpProtobuf } from '../../../../src/ingest/formats/otlp/decode-otlp-protobuf.ts';
import { mapLogEntries, UNKNOWN_SERVICE } from '../../../../src/ingest/formats/otlp/map-log-entries.ts';
import { otlpTypes } from '../../../../src/ingest/formats/otlp/otlp-proto.ts';
import { EVENT_NS, OBSERVED_NS, SPAN_ID, TRACE_ID, sdkLogRecords } from '../../../api/http/protocols/otlp-sdk-records.ts';

const OPTIONS = { depthMax: 32 };
const NOW_MS = 1_800_000_000_000;

function json(value: unknown): Uint8Array {
  return Buffer.from(JSON.stringify(value));
}

function proto(value: Record<string, unknown>): Uint8Array {
  const type = otlpTypes().request;
  return type.encode(type.fromObject(value)).finish();
}

/** A request of one resource (service `svc`) and one scope holding `records`. */
function request(records: unknown[], resource: unknown = { attributes: [{ key: 'service.name', value: { stringValue: 'svc' } }] }): Record<string, unknown> {
  return { resourceLogs: [{ resource, scopeLogs: [{ scope: { name: 's' }, logRecords: records }] }] };
}

function plain(value: unknown): unknown {
  return JSON.parse(JSON.stringify(value));
}

test('the SDK protobuf and JSON serializations decode to the same records, every field exact', async () => {
  const sdk = await sdkLogRecords();
  const fromProto = mapLogEntries(decodeOtlpProtobuf(ProtobufLogsSerializer.serializeRequest(sdk) as Uint8Array, OPTIONS), NOW_MS);
  const fromJson = mapLogEntries(decodeOtlpJson(JsonLogsSerializer.serializeRequest(sdk) as Uint8Array, OPTIONS), NOW_MS);
  assert.deepEqual(plain(fromJson.records), plain(fromProto.records));
  assert.deepEqual(fromProto.rejected, []);
  const [first, second, third] = plain(fromProto.records) as Record<string, unknown>[];
  const resource = { 'service.name': 'checkout', 'deployment.environment': 'test' };
  const scope = { name: 'payments-lib', version: '2.1.0' };
  assert.deepEqual(first, {
    service_name: 'checkout',
    time: 1764000000123,
    time_unix_nano: EVENT_NS,
    observed_time_unix_nano: OBSERVED_NS,
    severity_number: 9,
    severity_text: 'INFO',
    body: 'payment accepted',
    trace_id: TRACE_ID,
    span_id: SPAN_ID,
    flags: 1,
    attributes: { 'order.id': 'o-1', amount_cents: 1999, ratio: 0.25, ok: true, tags: ['a', 'b'] },
    resource_attributes: resource,
    scope,
  });
  assert.equal(second?.['event_name'], 'payment.failed');
  assert.deepEqual(second?.['body'], { reason: 'card declined', codes: [51, 5] });
  assert.deepEqual(second?.['attributes'], { nested: { level1: { level2: 'deep' } } });
  assert.equal(second?.['trace_id'], undefined, 'no span: no trace id');
  // The SDK stamps a record emitted without a timestamp itself: ms and ns agree.
  assert.equal(third?.['observed_time_unix_nano'], OBSERVED_NS);
  assert.equal(third?.['time'], Number(BigInt(third?.['time_unix_nano'] as string) / 1_000_000n));
});

test('JSON values: int64 as number or string, doubles, bytes, kvlists, snake_case names, hex ids in any case', () => {
  const body = request([
    {
      time_unix_nano: 1764000000000000000,
      severityNumber: '13',
      body: { kvlistValue: { values: [{ key: 'k', value: { arrayValue: { values: [{ intValue: 7 }, { doubleValue: 'NaN' }, { bytesValue: 'AQID' }, {}] } } }] } },
      attributes: [
        { key: 'small', value: { intValue: '-42' } },
        { key: 'huge', value: { intValue: '-9223372036854775808' } },
        { key: 'inf', value: { doubleValue: 'Infinity' } },
        { key: 'dup', value: { stringValue: 'first' } },
        { key: 'dup', value: { stringValue: 'last' } },
        { key: '__proto__', value: { boolValue: false } },
      ],
      traceId: TRACE_ID.toUpperCase(),
      span_id: '0000000000000000',
      flags: 257,
    },
  ]);
  const mapped = mapLogEntries(decodeOtlpJson(json(body), OPTIONS), NOW_MS);
  assert.deepEqual(mapped.rejected, []);
  const record = plain(mapped.records[0]) as Record<string, unknown>;
  assert.equal(record['time_unix_nano'], '1764000000000000000');
  assert.equal(record['severity_number'], 13);
  assert.deepEqual(record['body'], { k: [7, 'NaN', 'AQID', null] });
  assert.deepEqual(record['attributes'], { small: -42, huge: '-9223372036854775808', inf: 'Infinity', dup: 'last', ['__proto__']: false });
  assert.equal(record['trace_id'], TRACE_ID);
  assert.equal(record['span_id'], undefined, 'an all-zero id is no id');
  assert.equal(record['flags'], 257);
});

test('severityNumber as a number, a decimal string or its enum name', () => {
  const given = [9, '13', 'SEVERITY_NUMBER_INFO', 'SEVERITY_NUMBER_WARN2', 'SEVERITY_NUMBER_FATAL4', 'SEVERITY_NUMBER_TRACE', 'SEVERITY_NUMBER_UNSPECIFIED', 'LOUD'];
  const mapped = mapLogEntries(decodeOtlpJson(json(request(given.map((severityNumber) => ({ severityNumber })))), OPTIONS), NOW_MS);
  assert.deepEqual(
    mapped.records.map((r) => r['severity_number'] ?? 0),
    [9, 13, 9, 14, 24, 1, 0],
  );
  assert.deepEqual(mapped.rejected.map((r) => [r.index, r.code, r.path]), [[7, 'TYPE', '/severityNumber']]);
});

test('event time: timeUnixNano, else observedTimeUnixNano, else the receive time; no service.name: unknown_service', () => {
  const records = [{ body: { stringValue: 'x' } }, { observedTimeUnixNano: OBSERVED_NS }, { timeUnixNano: EVENT_NS, observedTimeUnixNano: OBSERVED_NS }];
  for (const decode of [() => decodeOtlpJson(json(request(records, {})), OPTIONS), () => decodeOtlpProtobuf(proto(request(records, {})), OPTIONS)]) {
    const [none, observed, both] = mapLogEntries(decode(), NOW_MS).records;
    assert.equal(none?.['time'], NOW_MS);
    assert.equal(none?.['time_unix_nano'], `${NOW_MS}000000`);
    assert.equal(none?.['service_name'], UNKNOWN_SERVICE);
    assert.equal(none?.['resource_attributes'], undefined);
    assert.equal(observed?.['time_unix_nano'], OBSERVED_NS);
    assert.equal(observed?.['time'], 1764000001000);
    assert.equal(both?.['time_unix_nano'], EVENT_NS);
    assert.equal(both?.['observed_time_unix_nano'], OBSERVED_NS);
    assert.equal(both?.['time'], 1764000000123);
  }
});

test('protobuf: fixed64 times are exact past 2^53, int64 attributes keep their sign, ids are hex', () => {
  const body = proto(
    request([
      {
        timeUnixNano: '18446744073709551615',
        attributes: [{ key: 'neg', value: { intValue: '-9223372036854775807' } }, { key: 'b', value: { bytesValue: Buffer.from([0xff, 0]) } }],
        traceId: Buffer.from(TRACE_ID, 'hex'),
        spanId: Buffer.from(SPAN_ID, 'hex'),
      },
    ]),
  );
  const [record] = mapLogEntries(decodeOtlpProtobuf(body, OPTIONS), NOW_MS).records;
  assert.equal(record?.['time_unix_nano'], '18446744073709551615');
  assert.equal(record?.['time'], 18446744073709);
  assert.deepEqual(plain(record?.['attributes']), { neg: '-9223372036854775807', b: '/wA=' });
  assert.equal(record?.['trace_id'], TRACE_ID);
  assert.equal(record?.['span_id'], SPAN_ID);
});

test('a record with a bad id, time or too deep a value is refused alone, by index and path', () => {
  let deep: Record<string, unknown> = { stringValue: 'bottom' };
  for (let i = 0; i < 40; i++) deep = { arrayValue: { values: [deep] } };
  const records = [{ body: { stringValue: 'ok' } }, { traceId: 'abc' }, { timeUnixNano: 'yesterday' }, { attributes: [{ key: 'd', value: deep }] }, { spanId: 'zz'.repeat(8) }];
  const mapped = mapLogEntries(decodeOtlpJson(json(request(records)), OPTIONS), NOW_MS);
  assert.equal(mapped.records.length, 1);
  assert.deepEqual(mapped.positions, [0]);
  assert.deepEqual(
    mapped.rejected.map((r) => [r.index, r.code, r.path.split('/').slice(0, 3).join('/')]),
    [
      [1, 'FORMAT', '/traceId'],
      [2, 'TYPE', '/timeUnixNano'],
      [3, 'DEPTH', '/attributes/0'],
      [4, 'FORMAT', '/spanId'],
    ],
  );
  const fromProto = mapLogEntries(decodeOtlpProtobuf(proto(request([{ traceId: Buffer.alloc(15, 1) }, { spanId: Buffer.alloc(8, 1) }, { attributes: [{ key: 'd', value: deep }] }])), OPTIONS), NOW_MS);
  assert.deepEqual(fromProto.rejected.map((r) => [r.index, r.code, r.path.split('/').slice(0, 2).join('/')]), [[0, 'FORMAT', '/traceId'], [2, 'DEPTH', '/attributes']]);
  assert.equal(fromProto.records[0]?.['span_id'], '0101010101010101');
});

test('a malformed body is refused whole with a stable code', () => {
  const cases: [string, () => unknown, string][] = [
    ['not JSON', () => decodeOtlpJson(Buffer.from('{"resourceLogs": ['), OPTIONS), 'INVALID_JSON'],
    ['not UTF-8', () => decodeOtlpJson(Buffer.from([0x7b, 0xff, 0x7d]), OPTIONS), 'INVALID_ENCODING'],
    ['an array', () => decodeOtlpJson(json([]), OPTIONS), 'INVALID_OTLP'],
    ['resourceLogs an object', () => decodeOtlpJson(json({ resourceLogs: {} }), OPTIONS), 'INVALID_OTLP'],
    ['logRecords a string', () => decodeOtlpJson(json({ resourceLogs: [{ scopeLogs: [{ logRecords: 'x' }] }] }), OPTIONS), 'INVALID_OTLP'],
    ['a bad resource attribute', () => decodeOtlpJson(json(request([], { attributes: [{ key: 'k', value: { intValue: 'x' } }] })), OPTIONS), 'INVALID_OTLP'],
    ['protobuf garbage', () => decodeOtlpProtobuf(Buffer.from('this is not protobuf at all'), OPTIONS), 'INVALID_PROTOBUF'],
    ['truncated protobuf', () => decodeOtlpProtobuf(proto(request([{ body: { stringValue: 'x'.repeat(100) } }])).subarray(0, 50), OPTIONS), 'INVALID_PROTOBUF'],
  ];
  for (const [what, run, code] of cases) {
    assert.throws(run, (err: unknown) => isSluiceError(err, code as 'INVALID_OTLP') && err.status === 400, what);
  }
});

test('nesting deep enough to exhaust a recursive decoder is a 400, not a crash', () => {
  // 100,000 nested ArrayValues as raw protobuf: AnyValue.array_value(5) > ArrayValue.values(1) > AnyValue > …
  // Nested messages end where their parent ends, so the body is every header, outside in, then the innermost value.
  const headers: Buffer[] = [];
  let length = 3; // AnyValue{string_value: "x"}
  for (let i = 0; i < 100_000; i++) {
    const valuesLength = 1 + varint(length).length + length;
    headers.push(Buffer.concat([Buffer.from([0x0a]), varint(length)]), Buffer.concat([Buffer.from([0x2a]), varint(valuesLength)]));
    length = 1 + varint(valuesLength).length + valuesLength;
  }
  // LogRecord.body(5) in ScopeLogs.log_records(2) in ResourceLogs.scope_logs(2) in the request's resource_logs(1).
  for (const tag of [0x2a, 0x12, 0x12, 0x0a]) {
    headers.push(Buffer.concat([Buffer.from([tag]), varint(length)]));
    length = headers[headers.length - 1]!.length + length;
  }
  const body = Buffer.concat([...headers.reverse(), Buffer.from([0x0a, 0x01, 0x78])]);
  assert.equal(body.length, length);
  let outcome: string;
  try {
    const entries = decodeOtlpProtobuf(body, OPTIONS);
    outcome = entries[0]?.problem?.code ?? 'accepted';
  } catch (err) {
    outcome = isSluiceError(err) ? err.code : `crash: ${String(err)}`;
  }
  assert.ok(outcome === 'INVALID_PROTOBUF' || outcome === 'DEPTH', outcome);
  const deepJson = `{"resourceLogs":[{"scopeLogs":[{"logRecords":[{"body":${'{"arrayValue":{"values":['.repeat(100_000)}${']}}'.repeat(100_000)}}]}]}]}`;
  let jsonOutcome: string;
  try {
    jsonOutcome = decodeOtlpJson(Buffer.from(deepJson), OPTIONS)[0]?.problem?.code ?? 'accepted';
  } catch (err) {
    jsonOutcome = isSluiceError(err) ? err.code : `crash: ${String(err)}`;
  }
  assert.ok(jsonOutcome === 'INVALID_JSON' || jsonOutcome === 'DEPTH', jsonOutcome);
});

function varint(n: number): Buffer {
  const out: number[] = [];
  while (n > 0x7f) {
    out.push((n & 0x7f) | 0x80);
    n >>>= 7;
  }
  out.push(n);
  return Buffer.from(out);
}

test('fuzz: mutated and truncated SDK bodies decode or are refused with a SluiceError, never anything else', async () => {
  const sdk = await sdkLogRecords();
  const bodies = [Buffer.from(ProtobufLogsSerializer.serializeRequest(sdk) as Uint8Array), Buffer.from(JsonLogsSerializer.serializeRequest(sdk) as Uint8Array)];
  // A fixed-seed generator: a failure reproduces.
  let seed = 0x5eed;
  const random = (n: number): number => {
    seed = (seed * 1103515245 + 12345) & 0x7fffffff;
    return seed % n;
  };
  let decoded = 0;
  let refused = 0;
  for (let round = 0; round < 2000; round++) {
    const which = round % 2;
    const body = Buffer.from(bodies[which] as Buffer);
    const mutated = round % 3 === 0 ? body.subarray(0, random(body.length)) : body;
    for (let flips = 1 + random(4); flips > 0; flips--) mutated[random(mutated.length)] = random(256);
    try {
      const entries = which === 0 ? decodeOtlpProtobuf(mutated, OPTIONS) : decodeOtlpJson(mutated, OPTIONS);
      mapLogEntries(entries, NOW_MS);
      decoded++;
    } catch (err) {
      assert.ok(isSluiceError(err, 'INVALID_PROTOBUF', 'INVALID_JSON', 'INVALID_ENCODING', 'INVALID_OTLP'), `round ${round}: ${String(err)}`);
      refused++;
    }
  }
  assert.ok(decoded > 0 && refused > 0, `both outcomes seen: ${decoded} decoded, ${refused} refused`);
});
