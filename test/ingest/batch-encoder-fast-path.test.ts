/**
 * The generated encoder (core/schema/compile-encoder.ts) against the
 * reference path (normalizer, keyString, msgpackr, RecordBatchBuilder.add):
 * random records of every field type, valid and not, must give the same
 * batch bytes, rejections, positions and counts.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { encodeBatch, encodeBatchReference, UnparsedRecord, type EncodeContext } from '../../src/ingest/batch-encoder.ts';
import { compileSchema, type CompiledSchema } from '../../src/core/schema/compile-schema.ts';
import { recordEncoderOf } from '../../src/core/schema/compile-encoder.ts';
import { RecordBatchBuilder } from '../../src/core/codec/record-batch-v1.ts';
import type { FieldDef, FieldType, TableDef } from '../../src/core/schema/table-def.ts';
import { EVENTS_TABLE, parseTableDef } from '../../src/core/schema/parse-table-def.ts';
import { BENCH_TABLE, BENCH_TABLE_PK, recordLine } from '../../bench/lib/records.ts';
import { prng } from '../support/prng.ts';

const NOW = 1_764_000_000_000;
const AHEAD = 3_600_000;
/** Small limits, so the slow paths and the refusals (TOO_LONG, DEPTH, KEY_TOO_LARGE) come up often. */
const LIMITS = { stringBytesMax: 600, jsonDepthMax: 4 };

type Rand = () => number;
const pick = <T>(r: Rand, xs: readonly T[]): T => xs[Math.floor(r() * xs.length)] as T;

const STRINGS = ['', 'a', 'acct-000042', 'x'.repeat(31), 'y'.repeat(32), 'z'.repeat(63), 'w'.repeat(64), 'v'.repeat(199), 'é ü ß', '日本語テキスト', '😀🎉', 'long ' + 'é'.repeat(150), 'tab\tnew\nline'];
const BAD_STRINGS = ['lone \ud800 surrogate', 'q'.repeat(601), '日'.repeat(201), 42, true, [], {}];
const INTS = [0, -0, 1, 127, 128, -32, -33, 65536, 2 ** 31, 2 ** 32, 2 ** 40, Number.MAX_SAFE_INTEGER, Number.MIN_SAFE_INTEGER, '12', '-42', '007', '9007199254740993', '-9223372036854775808', '9223372036854775807'];
const BAD_INTS = [1.5, 2 ** 60, '9223372036854775808', '1e3', 'abc', '', true, Infinity];
const FLOATS = [0, -0, 1.25, -7, 1e300, 5e-324, 2 ** 33, 3];
const BAD_FLOATS = [Infinity, NaN, '1.5', false];
const TIMES = [0, NOW, NOW - 1, NOW + AHEAD, -1, 8.64e15 - 1, '2024-06-01T00:00:00Z', '2024-06-01T00:00:00.123Z', '2024-06-01T02:00:00+02:00', '2025-12-24T12:00:00.5-05:30', '1969-12-31T23:59:59.999Z'];
const BAD_TIMES = [1.5, 8.64e15 + 1, 'yesterday', '2024-13-01T00:00:00Z', '2024-06-01', true, NOW + AHEAD + 1, '2099-01-01T00:00:00Z'];
const DECIMALS = ['0', '12.50', '-0.0', '+1', '007.5', '-3', '123456789012345678901234567890.12345678', '0.000'];
const BAD_DECIMALS = [12.5, '1e5', '1.', '.5', '9'.repeat(39), 'abc', ''];
const BYTES = ['', 'AA==', 'AAE=', 'aGVsbG8gd29ybGQ=', Buffer.alloc(300, 1).toString('base64')];
const BAD_BYTES = ['AB=', 'not base64!', 'AAF=', 7, 'Q'.repeat(604)];

function randomJson(r: Rand, depth: number): unknown {
  const k = Math.floor(r() * (depth > 0 ? 9 : 6));
  if (k === 0) return null;
  if (k === 1) return r() < 0.5;
  if (k === 2) return pick(r, [...INTS.filter((x) => typeof x === 'number'), ...FLOATS]);
  if (k === 3) return pick(r, [...STRINGS, 'lone \udc00']);
  if (k === 4) return Math.floor((r() - 0.5) * 2 ** (r() * 70));
  if (k === 5) return r() * 1000;
  if (k <= 7) return Array.from({ length: Math.floor(r() * 18) }, () => randomJson(r, depth - 1));
  return Object.fromEntries(Array.from({ length: Math.floor(r() * 18) }, (_, i) => [r() < 0.2 ? String(i) : pick(r, ['a', 'b', 'svc.name', 'é', `k${i}`]), randomJson(r, depth - 1)]));
}

/** A value for a field of `type`: mostly accepted forms, sometimes refused ones, null or missing. */
function randomValue(r: Rand, type: FieldType): unknown {
  const bad = r() < 0.04;
  switch (type) {
    case 'string': return pick(r, bad ? BAD_STRINGS : STRINGS);
    case 'int': return pick(r, bad ? BAD_INTS : INTS);
    case 'float': return pick(r, bad ? BAD_FLOATS : FLOATS);
    case 'bool': return bad ? pick(r, ['true', 0, 1]) : r() < 0.5;
    case 'timestamp': return pick(r, bad ? BAD_TIMES : TIMES);
    case 'decimal': return pick(r, bad ? BAD_DECIMALS : DECIMALS);
    case 'bytes': return pick(r, bad ? BAD_BYTES : BYTES);
    case 'json': {
      if (bad) return pick(r, [randomDeep(6), JSON.parse('{"constructor":1}'), new Map([['a', 1]]), undefined, Infinity, [1, undefined]]);
      return randomJson(r, 3);
    }
  }
}

function randomDeep(depth: number): unknown {
  return depth === 0 ? 1 : { d: randomDeep(depth - 1) };
}

const EXTRA_NAMES = ['extra', 'b2', '10', '2', 'é', 'hasOwnProperty', '_reserved', 'toJSON', 'a/b~c'];

let nextId = 1;
function field(name: string, type: FieldType, extra: Partial<FieldDef> = {}): FieldDef {
  return { id: nextId++, name, type, required: false, ...extra };
}

/** A table with one field of every type, optional ones, defaults, an alias live and one expired. */
function wideTable(keyType: FieldType, pkType: FieldType | undefined, extraFields: 'reject' | 'keep'): TableDef {
  const fields: FieldDef[] = [
    field('k', keyType, { required: true }),
    ...(pkType === undefined ? [] : [field('id', pkType, { required: true })]),
    field('s', 'string'),
    field('i', 'int'),
    field('f', 'float'),
    field('b', 'bool'),
    field('ts', 'timestamp', { required: true }),
    field('d', 'decimal', { required: true }),
    field('by', 'bytes'),
    field('j', 'json'),
    field('sd', 'string', { default: 'dflt' }),
    field('id2', 'int', { default: '9007199254740993' }),
    field('jd', 'json', { default: { a: [1, 'x'] } }),
    field('byd', 'bytes', { default: 'AAE=' }),
    field('renamed', 'string', { aliases: [{ name: 'old_name', expiresAtMs: NOW + 1 }, { name: 'older_name', expiresAtMs: NOW - 1 }] }),
    field('constructor', 'int'),
  ];
  return { name: `wide_${keyType}_${pkType ?? 'none'}_${extraFields}`, fields, shardKey: 'k', timeField: 'ts', ...(pkType === undefined ? {} : { primaryKey: 'id' }), replicationFactor: 1, extraFields, version: 3 };
}

/** A random record for `def`: every field present, missing or null at random, sometimes an alias or an extra field. */
function randomRecord(r: Rand, def: TableDef): unknown {
  if (r() < 0.01) return pick(r, ['a string', 7, null, [1, 2], new UnparsedRecord('bad json at 3'), new UnparsedRecord('bad proto', 'INVALID_PROTOBUF')]);
  const rec: Record<string, unknown> = {};
  for (const f of def.fields) {
    const u = r();
    if (u < 0.05) continue;
    if (u < 0.08) rec[f.name] = null;
    else if (f.name === 'k' && f.type === 'string' && r() < 0.03) rec[f.name] = 'K'.repeat(40 + Math.floor(r() * 40)); // past keyBytesMax
    else rec[f.name] = randomValue(r, f.type);
  }
  if (r() < 0.03) rec[pick(r, ['old_name', 'older_name'])] = 'via alias';
  // Extras: refused by `reject` tables, kept (in for-in order: integer-like names first) by `keep` ones.
  const extras = r() < 0.2 ? 1 + Math.floor(r() * 4) : 0;
  for (let e = 0; e < extras; e++) rec[pick(r, EXTRA_NAMES)] = r() < 0.9 ? randomJson(r, 3) : pick(r, [randomDeep(6), Infinity, new Map(), JSON.parse('{"constructor":{}}')]);
  return rec;
}

function compare(records: readonly unknown[], schema: CompiledSchema, ctx: EncodeContext, label: string): void {
  let ref;
  try {
    ref = encodeBatchReference(records, schema, ctx);
  } catch (err) {
    // The reference throws (a programmer error): the fast path must throw the same.
    assert.throws(() => encodeBatch(records, schema, ctx), { message: (err as Error).message }, label);
    return;
  }
  const fast = encodeBatch(records, schema, ctx);
  assert.ok(Buffer.from(fast.batch).equals(Buffer.from(ref.batch)), `${label}: batch bytes differ`);
  assert.deepEqual({ ...fast, batch: null }, { ...ref, batch: null }, label);
}

const TYPES_OF_KEYS: readonly FieldType[] = ['string', 'int', 'decimal', 'timestamp', 'bool'];

test('property: random records of every type encode to the reference path\'s bytes, rejections and positions', () => {
  const r = prng(16016);
  let accepted = 0;
  for (const keyType of TYPES_OF_KEYS) {
    for (const pkType of [undefined, 'string', 'int', 'decimal'] as const) {
      for (const extra of ['reject', 'keep'] as const) {
        const def = wideTable(keyType, pkType, extra);
        const schema = compileSchema(def, LIMITS);
        for (let batch = 0; batch < 12; batch++) {
          const records = Array.from({ length: 1 + Math.floor(r() * 60) }, () => randomRecord(r, def));
          const ctx: EncodeContext = {
            tableId: 7,
            shards: pick(r, [1, 16, 256]),
            nowMs: NOW,
            ...(r() < 0.7 ? { eventTimeMaxMs: NOW + AHEAD } : {}),
            keyBytesMax: 32,
            errorDetailsMax: pick(r, [1, 5, 1000]),
            ...(r() < 0.5 ? { dedupe: r() < 0.5 ? { prefix: 'file:1:', first: 100, digits: 8 } : { prefixes: ['t/0/', 't/1/'], prefixIndex: Uint16Array.from(records, (_, i) => i % 2), numbers: Float64Array.from(records, (_, i) => 1000 + i), digits: 6 } } : {}),
          };
          compare(records, schema, ctx, `${def.name} batch ${batch}`);
          accepted += encodeBatchReference(records, schema, ctx).count;
        }
      }
    }
  }
  assert.ok(accepted > 1000, `the random records must be mostly valid to test the fast path (${accepted} accepted)`);
});

test('property: records of the schemaless events table (every field but trace_id kept as JSON)', () => {
  const r = prng(1);
  const schema = compileSchema(EVENTS_TABLE, LIMITS);
  for (let batch = 0; batch < 100; batch++) {
    const records = Array.from({ length: 1 + Math.floor(r() * 40) }, () => {
      const rec = randomRecord(r, EVENTS_TABLE);
      if (typeof rec === 'object' && rec !== null && !(rec instanceof UnparsedRecord) && r() < 0.8) Object.assign(rec, { service: pick(r, STRINGS), attrs: randomJson(r, 2) });
      return rec;
    });
    compare(records, schema, { tableId: 2, shards: 64, nowMs: NOW, keyBytesMax: 32, errorDetailsMax: 5 }, `events batch ${batch}`);
  }
});

test('records far larger than the batch estimate grow the buffer mid-entry correctly', () => {
  const def = wideTable('string', 'string', 'reject');
  const schema = compileSchema(def, { stringBytesMax: 1 << 20, jsonDepthMax: 8 });
  const big = (n: number) => ({ k: 'a', id: `id-${n}`, ts: NOW, s: 'é'.repeat(n), j: { list: Array.from({ length: n / 10 }, (_, i) => ({ i, t: 'x'.repeat(i % 50) })) } });
  const records = [big(10), big(40_000), big(100), big(120_000)];
  compare(records, schema, { tableId: 1, shards: 4, nowMs: NOW, keyBytesMax: 64, errorDetailsMax: 10 }, 'large records');
});

test('the fast path takes the bench records, and declines what only the reference path may judge', () => {
  for (const table of [BENCH_TABLE, BENCH_TABLE_PK]) {
    const schema = compileSchema(parseTableDef(table, 0));
    const builder = new RecordBatchBuilder(1, 1, NOW);
    const encode = recordEncoderOf(schema)({ builder, nowMs: NOW, eventTimeMaxMs: NOW + AHEAD, shards: 16, keyBytesMax: 512, dedupeKeyAt: undefined });
    for (let i = 0; i < 200; i++) assert.ok(encode(JSON.parse(recordLine(i)), i), `bench record ${i} took the fast path`);
    assert.equal(builder.count, 200);
    const good = JSON.parse(recordLine(0)) as Record<string, unknown>;
    const declined = [{ ...good, amount: 1.5 }, { ...good, extra: 1 }, { ...good, ts: NOW + AHEAD + 1 }, { ...good, account_id: 'a'.repeat(600) }, 'text', null];
    for (const d of declined) assert.equal(encode(d, 0), false, JSON.stringify(d));
    assert.equal(builder.count, 200, 'a declined record leaves nothing behind');
    const ref = encodeBatchReference(Array.from({ length: 200 }, (_, i) => JSON.parse(recordLine(i))), schema, { tableId: 1, shards: 16, nowMs: NOW, keyBytesMax: 512, errorDetailsMax: 10 });
    assert.ok(Buffer.from(ref.batch).equals(builder.finish()), 'in-place entries equal the reference batch');
  }
});
