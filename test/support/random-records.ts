/**
 * Random records for the encoder property tests: a table with a field of
 * every type (defaults, aliases, a prototype name), and records of it
 * valid and not, with extra fields, nulls and missing fields.
 */
import type { FieldDef, FieldType, TableDef } from '../../src/core/schema/table-def.ts';
import { UnparsedRecord, type EncodeContext } from '../../src/ingest/batch-encoder.ts';

export const NOW = 1_764_000_000_000;
export const AHEAD = 3_600_000;
/** Small limits, so the slow paths and the refusals (TOO_LONG, DEPTH, KEY_TOO_LARGE) come up often. */
export const LIMITS = { stringBytesMax: 600, jsonDepthMax: 4 };

export type Rand = () => number;
export const pick = <T>(r: Rand, xs: readonly T[]): T => xs[Math.floor(r() * xs.length)] as T;

export const STRINGS = ['', 'a', 'acct-000042', 'x'.repeat(31), 'y'.repeat(32), 'z'.repeat(63), 'w'.repeat(64), 'v'.repeat(199), 'é ü ß', '日本語テキスト', '😀🎉', 'long ' + 'é'.repeat(150), 'tab\tnew\nline'];
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

export function randomJson(r: Rand, depth: number): unknown {
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
export function wideTable(keyType: FieldType, pkType: FieldType | undefined, extraFields: 'reject' | 'keep'): TableDef {
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
export function randomRecord(r: Rand, def: TableDef): unknown {
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

/** An encode context with random shards, time bound, detail limit and dedupe keys (either form) for a request of `records`. */
export function randomCtx(r: Rand, records: number): EncodeContext {
  return {
    tableId: 7,
    shards: pick(r, [1, 16, 256]),
    nowMs: NOW,
    ...(r() < 0.7 ? { eventTimeMaxMs: NOW + AHEAD } : {}),
    keyBytesMax: 32,
    errorDetailsMax: pick(r, [1, 5, 1000]),
    ...(r() < 0.5 ? { dedupe: r() < 0.5 ? { prefix: 'file:1:', first: 100, digits: 8 } : { prefixes: ['t/0/', 't/1/'], prefixIndex: Uint16Array.from({ length: records }, (_, i) => i % 2), numbers: Float64Array.from({ length: records }, (_, i) => 1000 + i), digits: 6 } } : {}),
  };
}
