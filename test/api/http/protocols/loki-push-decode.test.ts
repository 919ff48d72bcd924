/**
 * Loki push bodies decoded: protobuf in a snappy block (encoded here by
 * winston-loki's own generated protobuf code and the native `snappy`
 * package, not by our decoder's .proto; structured metadata by hand with
 * protobufjs's Writer), JSON, and the records built from them. Every
 * malformed body is refused with its code and path.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import protobuf from 'protobufjs';
import { isSluiceError, type ErrorCode } from '../../../../src/core/errors.ts';
import { decodeProtoPush } from '../../../../src/api/http/protocols/loki/loki-push-proto.ts';
import { decodeJsonPush } from '../../../../src/api/http/protocols/loki/loki-push-json.ts';
import { lokiRecordsBody } from '../../../../src/api/http/protocols/loki/loki-records.ts';
import { snappyBlockLength, snappyUncompressBlock } from '../../../../src/core/codec/snappy-block.ts';

const require = createRequire(import.meta.url);
const snappy = require('snappy') as { compressSync(b: Uint8Array): Buffer };
const { logproto } = require('winston-loki/src/proto/index.js') as {
  logproto: { PushRequest: { encode(m: unknown): { finish(): Uint8Array }; create(m: unknown): unknown } };
};

const MiB = 1024 * 1024;

function refusedWith(fn: () => unknown, code: ErrorCode, pattern?: RegExp, path?: string): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(isSluiceError(err, code), `${code} expected, got ${String(err)}`);
    if (pattern !== undefined) assert.match(err.message, pattern);
    if (path !== undefined) assert.equal(err.details[0]?.path, path);
    return true;
  });
}

/** A PushRequest as winston-loki encodes it, snappy-compressed. */
function winstonLokiBody(streams: { labels: string; entries: { timestamp: { seconds: number; nanos: number } | null; line: string }[] }[]): Buffer {
  return snappy.compressSync(logproto.PushRequest.encode(logproto.PushRequest.create({ streams })).finish());
}

test('protobuf: a snappy PushRequest from winston-loki\'s encoder decodes with exact nanoseconds', () => {
  const body = winstonLokiBody([
    { labels: '{level="info",app="capt"}', entries: [{ timestamp: { seconds: 1_764_000_000, nanos: 123_456_789 }, line: 'hello' }, { timestamp: { seconds: 1_764_000_001, nanos: 5 }, line: '' }] },
    { labels: '{level="error",app="capt"}', entries: [{ timestamp: { seconds: 0, nanos: 42 }, line: 'époque 😀' }] },
  ]);
  const { streams, decodedBytes } = decodeProtoPush(body, MiB);
  assert.ok(decodedBytes > body.length / 2);
  assert.deepEqual(streams[0]?.labels, [['app', 'capt'], ['level', 'info']]);
  assert.deepEqual(
    streams[0]?.entries.map((e) => [e.tsNs, e.tsMs, e.line]),
    [
      ['1764000000123456789', 1_764_000_000_123, 'hello'],
      ['1764000001000000005', 1_764_000_001_000, ''],
    ],
  );
  assert.deepEqual(streams[1]?.entries.map((e) => [e.tsNs, e.tsMs, e.line, { ...e.metadata }]), [['42', 0, 'époque 😀', {}]]);
});

test('protobuf: structured metadata (field 3 of an entry) and unknown fields (a stream\'s hash) are read and skipped', () => {
  const w = protobuf.Writer.create();
  const entry = protobuf.Writer.create();
  entry.uint32((1 << 3) | 2).fork().uint32((1 << 3) | 0).int64(1_764_000_000).uint32((2 << 3) | 0).int32(7).ldelim();
  entry.uint32((2 << 3) | 2).string('with metadata');
  entry.uint32((3 << 3) | 2).fork().uint32((1 << 3) | 2).string('trace_id').uint32((2 << 3) | 2).string('abc').ldelim();
  entry.uint32((3 << 3) | 2).fork().uint32((1 << 3) | 2).string('__proto__').uint32((2 << 3) | 2).string('kept').ldelim();
  const stream = protobuf.Writer.create();
  stream.uint32((1 << 3) | 2).string('{svc="api"}');
  stream.uint32((2 << 3) | 2).bytes(entry.finish());
  stream.uint32((3 << 3) | 0).uint64(987654321);
  w.uint32((1 << 3) | 2).bytes(stream.finish());
  const { streams } = decodeProtoPush(snappy.compressSync(w.finish()), MiB);
  const e = streams[0]?.entries[0];
  assert.equal(e?.tsNs, '1764000000000000007');
  assert.equal(e?.line, 'with metadata');
  assert.equal(JSON.stringify(e?.metadata), '{"trace_id":"abc","__proto__":"kept"}');
});

test('protobuf: bad snappy, bad protobuf, bad labels and bad timestamps are refused whole', () => {
  refusedWith(() => decodeProtoPush(Buffer.alloc(0), MiB), 'INVALID_SNAPPY', /empty/);
  refusedWith(() => decodeProtoPush(Buffer.from([0x80, 0x80, 0x80, 0x80, 0x80, 0x01]), MiB), 'INVALID_SNAPPY', /valid length/);
  refusedWith(() => decodeProtoPush(Buffer.from([0x10, 0x00, 0x61]), MiB), 'INVALID_SNAPPY', /not a valid snappy block/);
  const plain = logproto.PushRequest.encode(logproto.PushRequest.create({ streams: [{ labels: '{a="b"}', entries: [] }] })).finish();
  refusedWith(() => decodeProtoPush(plain, MiB), 'INVALID_SNAPPY', undefined);
  refusedWith(() => decodeProtoPush(snappy.compressSync(Buffer.from('{"streams":[]}')), MiB), 'INVALID_PROTOBUF');
  refusedWith(() => decodeProtoPush(winstonLokiBody([{ labels: '{a="say "hi""}', entries: [] }]), MiB), 'INVALID_LABELS', undefined, '/streams/0/labels');
  refusedWith(() => decodeProtoPush(winstonLokiBody([{ labels: '{a="b"}', entries: [{ timestamp: null, line: 'x' }] }]), MiB), 'BAD_REQUEST', /no timestamp/, '/streams/0/entries/0/timestamp');
  refusedWith(() => decodeProtoPush(winstonLokiBody([{ labels: '{a="b"}', entries: [{ timestamp: { seconds: -1, nanos: 0 }, line: 'x' }] }]), MiB), 'BAD_REQUEST', /from 1970 on/);
  refusedWith(() => decodeProtoPush(winstonLokiBody([{ labels: '{a="b"}', entries: [{ timestamp: { seconds: 9_300_000_000, nanos: 0 }, line: 'x' }] }]), MiB), 'BAD_REQUEST', /2262/);
});

test('snappy: the stated length is checked against the limit before anything is allocated', () => {
  const body = snappy.compressSync(Buffer.alloc(100_000, 'a'));
  assert.deepEqual(snappyBlockLength(body), { length: 100_000, start: 3 });
  assert.equal(snappyUncompressBlock(body, 100_000).length, 100_000);
  refusedWith(() => snappyUncompressBlock(body, 99_999), 'PAYLOAD_TOO_LARGE', /100000 bytes/);
  // A lie about the length: a block stating more (or less) than its elements give.
  const lie = Buffer.concat([Buffer.from([0x05]), snappy.compressSync(Buffer.from('abc')).subarray(1)]);
  refusedWith(() => snappyUncompressBlock(lie, MiB), 'INVALID_SNAPPY');
});

test('snappy: a copy with a 4-byte offset of its top bit set is corrupt, not a copy of the zeros ahead', () => {
  // Length 5; a literal "a"; a 4-byte copy (tag 0x0f) of offset 0xffffffff, read as -1, i.e. from past the output written.
  refusedWith(() => snappyUncompressBlock(Buffer.from([0x05, 0x00, 0x61, 0x0f, 0xff, 0xff, 0xff, 0xff]), MiB), 'INVALID_SNAPPY');
  refusedWith(() => snappyUncompressBlock(Buffer.from([0x05, 0x00, 0x61, 0x0f, 0x00, 0x00, 0x00, 0x80]), MiB), 'INVALID_SNAPPY');
  // The same copy with offset 1 is fine: "aaaaa".
  assert.equal(Buffer.from(snappyUncompressBlock(Buffer.from([0x05, 0x00, 0x61, 0x0f, 0x01, 0x00, 0x00, 0x00]), MiB)).toString(), 'aaaaa');
});

test('JSON: winston-loki\'s form, gzip undone upstream, with structured metadata', () => {
  const streams = decodeJsonPush(
    Buffer.from(JSON.stringify({ streams: [{ stream: { level: 'info', app: 'capt' }, values: [['1764000000123000000', 'hello {"k":1}', { k: '1' }], ['0001764000000200000001', 'two']] }] })),
  );
  assert.deepEqual(streams[0]?.labels, [['app', 'capt'], ['level', 'info']]);
  assert.deepEqual(
    streams[0]?.entries.map((e) => [e.tsNs, e.tsMs, e.line, { ...e.metadata }]),
    [
      ['1764000000123000000', 1_764_000_000_123, 'hello {"k":1}', { k: '1' }],
      ['1764000000200000001', 1_764_000_000_200, 'two', {}],
    ],
  );
  assert.deepEqual(decodeJsonPush(Buffer.from('{"streams":[]}')), []);
});

test('JSON: malformed pushes are refused with the JSON pointer of the problem', () => {
  const cases: [unknown, ErrorCode, string][] = [
    [{}, 'BAD_REQUEST', ''],
    [{ streams: {} }, 'BAD_REQUEST', ''],
    [{ streams: [5] }, 'BAD_REQUEST', '/streams/0'],
    [{ streams: [{ stream: { a: 'b' } }] }, 'BAD_REQUEST', '/streams/0/values'],
    [{ streams: [{ stream: { a: 'b' }, values: [['1']] }] }, 'BAD_REQUEST', '/streams/0/values/0'],
    [{ streams: [{ stream: { a: 'b' }, values: [[1764000000123000000, 'x']] }] }, 'BAD_REQUEST', '/streams/0/values/0/0'],
    [{ streams: [{ stream: { a: 'b' }, values: [['-5', 'x']] }] }, 'BAD_REQUEST', '/streams/0/values/0/0'],
    [{ streams: [{ stream: { a: 'b' }, values: [['1.5e18', 'x']] }] }, 'BAD_REQUEST', '/streams/0/values/0/0'],
    [{ streams: [{ stream: { a: 'b' }, values: [['9223372036854775808', 'x']] }] }, 'BAD_REQUEST', '/streams/0/values/0/0'],
    [{ streams: [{ stream: { a: 'b' }, values: [['1', 7]] }] }, 'BAD_REQUEST', '/streams/0/values/0/1'],
    [{ streams: [{ stream: { a: 'b' }, values: [['1', 'x', { n: 1 }]] }] }, 'BAD_REQUEST', '/streams/0/values/0/2/n'],
    [{ streams: [{ stream: { a: 'b' }, values: [['1', 'x', 'meta']] }] }, 'BAD_REQUEST', '/streams/0/values/0/2'],
    [{ streams: [{ stream: { a: 'b' }, values: [['1', 'x', {}, 'extra']] }] }, 'BAD_REQUEST', '/streams/0/values/0'],
    [{ streams: [{ stream: { a: 1 }, values: [] }] }, 'INVALID_LABELS', '/streams/0/stream/a'],
    [{ streams: [{ values: [] }] }, 'INVALID_LABELS', '/streams/0/stream'],
  ];
  for (const [doc, code, path] of cases) refusedWith(() => decodeJsonPush(Buffer.from(JSON.stringify(doc))), code, undefined, path);
  refusedWith(() => decodeJsonPush(Buffer.from('{"streams": [')), 'INVALID_JSON');
  refusedWith(() => decodeJsonPush(Buffer.from([0x7b, 0xff, 0x7d])), 'INVALID_ENCODING');
});

test('records: one per entry with the labels in both forms, bounded by the byte limit', () => {
  const streams = decodeJsonPush(Buffer.from(JSON.stringify({ streams: [{ stream: { app: 'x' }, values: [['1764000000123456789', 'a "quoted" line', { k: 'v' }]] }, { stream: { app: 'y' }, values: [] }] })));
  const { body, records } = lokiRecordsBody(streams, MiB);
  assert.equal(records, 1);
  assert.deepEqual(JSON.parse(body.toString()), [
    { stream: '{app="x"}', labels: { app: 'x' }, ts: 1_764_000_000_123, ts_ns: '1764000000123456789', line: 'a "quoted" line', structured_metadata: { k: 'v' } },
  ]);
  assert.deepEqual(lokiRecordsBody([], MiB), { body: Buffer.from('[]'), records: 0 });
  // Many tiny entries under long labels expand well past the body they came in.
  const labels = Object.fromEntries(Array.from({ length: 20 }, (_, i) => [`label_${i}`, 'v'.repeat(40)]));
  const many = decodeJsonPush(Buffer.from(JSON.stringify({ streams: [{ stream: labels, values: Array.from({ length: 2000 }, (_, i) => [String(i), '']) }] })));
  refusedWith(() => lokiRecordsBody(many, MiB), 'PAYLOAD_TOO_LARGE', /smaller batches/);
  // The exact UTF-8 check: 3-byte characters pass the UTF-16 estimate but not the byte limit.
  const wide = decodeJsonPush(Buffer.from(JSON.stringify({ streams: [{ stream: { a: 'b' }, values: [['1', '€'.repeat(400)]] }] })));
  const { body: one } = lokiRecordsBody(wide, MiB);
  refusedWith(() => lokiRecordsBody(wide, one.length - 1), 'PAYLOAD_TOO_LARGE');
});

test('the int64 nanosecond bound (2262-04-11T23:47:16.854775807Z) is exact in both encodings', () => {
  const json = (ns: string) => decodeJsonPush(Buffer.from(JSON.stringify({ streams: [{ stream: { a: 'b' }, values: [[ns, 'x']] }] })));
  assert.equal(json('9223372036854775807')[0]?.entries[0]?.tsMs, 9_223_372_036_854);
  assert.equal(json('09223372036854775807')[0]?.entries[0]?.tsNs, '9223372036854775807');
  assert.equal(json('0')[0]?.entries[0]?.tsNs, '0');
  assert.equal(json('999999')[0]?.entries[0]?.tsMs, 0);
  refusedWith(() => json('9223372036854775808'), 'BAD_REQUEST', /int64/);
  refusedWith(() => json('10000000000000000000'), 'BAD_REQUEST', /int64/);
  refusedWith(() => json(''), 'BAD_REQUEST', /int64/);
  const proto = (seconds: number, nanos: number) => decodeProtoPush(winstonLokiBody([{ labels: '{a="b"}', entries: [{ timestamp: { seconds, nanos }, line: 'x' }] }]), MiB);
  assert.equal(proto(9_223_372_036, 854_775_807).streams[0]?.entries[0]?.tsNs, '9223372036854775807');
  refusedWith(() => proto(9_223_372_036, 854_775_808), 'BAD_REQUEST', /2262/);
  refusedWith(() => proto(1, 1_000_000_000), 'BAD_REQUEST', /nanos in 0..999999999/);
});

test('fuzz: a mutated or truncated push is decoded or refused with a coded 4xx, never anything else', () => {
  const valid = winstonLokiBody([
    { labels: '{level="info",app="capt"}', entries: Array.from({ length: 20 }, (_, i) => ({ timestamp: { seconds: 1_764_000_000 + i, nanos: i }, line: `line ${i} ${'abc'.repeat(i)}` })) },
    { labels: '{app="other"}', entries: [{ timestamp: { seconds: 1, nanos: 2 }, line: 'x' }] },
  ]);
  const allowed = new Set(['INVALID_SNAPPY', 'PAYLOAD_TOO_LARGE', 'INVALID_PROTOBUF', 'INVALID_LABELS', 'BAD_REQUEST']);
  let seed = 12345;
  const rand = (n: number): number => {
    seed = (seed * 1103515245 + 12345) % 2 ** 31;
    return seed % n;
  };
  const outcomes = new Map<string, number>();
  for (let i = 0; i < 3000; i++) {
    const body = Buffer.from(valid);
    const kind = rand(3);
    let input: Buffer = body;
    if (kind === 0) for (let k = 0; k <= rand(4); k++) body[rand(body.length)] = rand(256);
    else if (kind === 1) input = body.subarray(0, rand(body.length));
    else input = Buffer.concat([body.subarray(0, rand(body.length)), Buffer.from(Array.from({ length: rand(8) }, () => rand(256)))]);
    try {
      const { streams } = decodeProtoPush(input, 64 * 1024);
      lokiRecordsBody(streams, 64 * 1024);
      outcomes.set('ok', (outcomes.get('ok') ?? 0) + 1);
    } catch (err) {
      assert.ok(isSluiceError(err) && allowed.has(err.code), `input ${input.toString('hex')}: ${String(err)}`);
      outcomes.set(err.code, (outcomes.get(err.code) ?? 0) + 1);
    }
  }
  // Each layer is reached: broken blocks, blocks that hold broken protobuf or labels, and intact pushes.
  for (const reached of ['INVALID_SNAPPY', 'INVALID_PROTOBUF', 'INVALID_LABELS', 'ok']) assert.ok((outcomes.get(reached) ?? 0) > 0, JSON.stringify([...outcomes]));
});

test('fuzz: a mutated JSON push is decoded or refused with a coded 400, never anything else', () => {
  const valid = Buffer.from(JSON.stringify({ streams: [{ stream: { app: 'capt', level: 'info' }, values: [['1764000000123456789', 'one', { k: 'v' }], ['17', 'two']] }, { stream: { b: 'c' }, values: [] }] }));
  const allowed = new Set(['INVALID_JSON', 'INVALID_ENCODING', 'BAD_REQUEST', 'INVALID_LABELS']);
  const tokens = ['[', ']', '{', '}', '"', ',', ':', '1', 'null', '-', '""', '{}', '[]', '"\\ud800"', '0'];
  let seed = 99;
  const rand = (n: number): number => {
    seed = (seed * 1103515245 + 12345) % 2 ** 31;
    return seed % n;
  };
  const outcomes = new Map<string, number>();
  for (let i = 0; i < 3000; i++) {
    const text = valid.toString();
    const at = rand(text.length);
    const cut = rand(4);
    const input = Buffer.from(text.slice(0, at) + tokens[rand(tokens.length)] + text.slice(at + cut));
    try {
      lokiRecordsBody(decodeJsonPush(input), 64 * 1024);
      outcomes.set('ok', (outcomes.get('ok') ?? 0) + 1);
    } catch (err) {
      assert.ok(isSluiceError(err) && allowed.has(err.code), `input ${input.toString()}: ${String(err)}`);
      outcomes.set(err.code, (outcomes.get(err.code) ?? 0) + 1);
    }
  }
  for (const reached of ['INVALID_JSON', 'BAD_REQUEST', 'INVALID_LABELS', 'ok']) assert.ok((outcomes.get(reached) ?? 0) > 0, JSON.stringify([...outcomes]));
});
