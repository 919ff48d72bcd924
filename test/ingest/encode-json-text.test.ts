/**
 * JSON text encoded from its bytes (ingest/encode-json-text.ts, the scan
 * encoder of core/schema/scan-encoder.ts) against parsing then encoding
 * (decodeBody / decodeFrames, then encodeBatch): random bodies of records
 * valid and not, written with random whitespace, number spellings,
 * escapes, repeated keys, blank and broken lines, must give the same batch
 * bytes, rejections and positions, or the same error.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { BatchEncoding, encodeBatch, UnparsedRecord, type EncodeContext, type EncodedBatch } from '../../src/ingest/batch-encoder.ts';
import { decodeBody } from '../../src/ingest/decode-body.ts';
import { decodeFrames } from '../../src/ingest/decode-frames.ts';
import { encodeJsonBody, encodeJsonFrames, encodeNdjson, encodeSingleObject } from '../../src/ingest/encode-json-text.ts';
import { compileSchema, type CompiledSchema } from '../../src/core/schema/compile-schema.ts';
import { scanEncoderOf } from '../../src/core/schema/scan-encoder.ts';
import { parseTableDef } from '../../src/core/schema/parse-table-def.ts';
import type { FieldType, TableDef } from '../../src/core/schema/table-def.ts';
import { SluiceError } from '../../src/core/errors.ts';
import { BENCH_TABLE, BENCH_TABLE_PK, recordLine } from '../../bench/lib/records.ts';
import { prng } from '../support/prng.ts';
import { AHEAD, LIMITS, NOW, pick, randomCtx, randomRecord, wideTable, type Rand } from '../support/random-records.ts';

const SPACE = ['', '', '', ' ', '  ', '\t', '\r', ' \t '];

/** JSON text of `v` as another writer might spell it: random whitespace, numbers in other notations, needless escapes, repeated keys. */
function spell(r: Rand, v: unknown, depth = 0): string {
  const ws = (): string => pick(r, SPACE);
  if (typeof v === 'number' && Number.isFinite(v)) return spellNumber(r, v);
  if (typeof v === 'string') return r() < 0.03 && v.length > 0 ? `"\\u${v.charCodeAt(0).toString(16).padStart(4, '0')}${JSON.stringify(v).slice(2)}` : JSON.stringify(v);
  if (Array.isArray(v)) return `[${ws()}${v.map((x) => spell(r, x === undefined ? null : x, depth + 1)).join(`${ws()},${ws()}`)}${ws()}]`;
  if (typeof v === 'object' && v !== null && !(v instanceof Map)) {
    const entries = Object.entries(v).filter(([, x]) => x !== undefined);
    // A key given twice: JSON.parse keeps the last.
    if (depth === 0 && entries.length > 0 && r() < 0.02) entries.push([(entries[0] as [string, unknown])[0], pick(r, [1, 'again', null])]);
    return `{${ws()}${entries.map(([k, x]) => `${JSON.stringify(k)}${ws()}:${ws()}${spell(r, x, depth + 1)}`).join(`${ws()},${ws()}`)}${ws()}}`;
  }
  return JSON.stringify(v) ?? 'null';
}

/** A number's JSON text, sometimes spelt another way that parses to the same double, sometimes a long one in its place. */
function spellNumber(r: Rand, n: number): string {
  const plain = JSON.stringify(n);
  const u = r();
  // 14 to 20 digits: around where summing digits in a double stops being exact.
  if (u < 0.04) return `${r() < 0.3 ? '-' : ''}${1 + Math.floor(r() * 9)}${Array.from({ length: 13 + Math.floor(r() * 7) }, () => Math.floor(r() * 10)).join('')}${r() < 0.2 ? '.5' : ''}`;
  if (u < 0.8 || plain.includes('e')) return plain;
  if (u < 0.87) return n.toExponential();
  if (u < 0.94 && Number.isInteger(n)) return `${plain}.0`;
  return Object.is(n, 0) && r() < 0.5 ? '-0' : `${plain}${Number.isInteger(n) ? '' : '0'}`;
}

const NOT_RECORDS = ['"a string"', '7', 'null', '[1,2]', '[]', '{}', 'true'];
const BROKEN = ['{"k":', '{"k":01}', '{"k":1}x', '{"k":"\u0001"}', '{"k":1,}', "{'k':1}", '{"k":-}', '{"k":1.}', '{"k":1e}', '{"k":tru}', '\ufeff{"k":1}', '{"k":"unterminated}'];
const BLANK = ['', ' ', '\t', '\r', '\f', '\u00a0', '\ufeff', '  \r'];

/** One NDJSON line: mostly a record of `def`, sometimes something else. */
function line(r: Rand, def: TableDef, broken: boolean): string {
  const u = r();
  if (broken && u < 0.02) return pick(r, BROKEN);
  if (u < 0.05) return pick(r, BLANK);
  if (u < 0.07) return pick(r, NOT_RECORDS);
  const rec = randomRecord(r, def);
  return rec instanceof UnparsedRecord ? '{"k"' : pick(r, SPACE) + spell(r, rec) + pick(r, SPACE);
}

type Outcome = { readonly batch: Buffer; readonly rest: object } | { readonly error: unknown };

function outcome(f: () => EncodedBatch | undefined): Outcome | undefined {
  try {
    const e = f();
    return e === undefined ? undefined : { batch: Buffer.from(e.batch), rest: { ...e, batch: null } };
  } catch (err) {
    return { error: err instanceof SluiceError ? { code: err.code, message: err.message, details: err.details } : String(err) };
  }
}

/** How many of `texts` the scan encoder takes (the rest go through JSON.parse): the test must exercise both. */
function scanned(texts: readonly Buffer[], schema: CompiledSchema, ctx: EncodeContext): number {
  const encoding = new BatchEncoding(schema, ctx, texts.length, undefined);
  const scan = scanEncoderOf(schema)(encoding.target);
  return texts.filter((t, i) => scan(t, 0, t.length, i)).length;
}

const KEY_TYPES: readonly FieldType[] = ['string', 'int', 'decimal', 'timestamp', 'bool'];

/** `wideTable` without its json and bytes fields, whose values the scan encoder always leaves to the object path. */
function scalarTable(keyType: FieldType, pkType: FieldType | undefined, extra: 'reject' | 'keep'): TableDef {
  const def = wideTable(keyType, pkType, extra);
  return { ...def, name: `scalar_${def.name}`, fields: def.fields.filter((f) => f.type !== 'json' && f.type !== 'bytes') };
}

test('property: NDJSON bodies encode from their bytes as parsing then encoding does', () => {
  const r = prng(20261206);
  let taken = 0;
  let total = 0;
  for (const keyType of KEY_TYPES) {
    for (const pkType of [undefined, 'string', 'int'] as const) {
      for (const [extra, table] of [['reject', scalarTable], ['keep', scalarTable], ['keep', wideTable]] as const) {
        const def = table(keyType, pkType, extra);
        const schema = compileSchema(def, LIMITS);
        for (let n = 0; n < 10; n++) {
          const lines = Array.from({ length: 1 + Math.floor(r() * 50) }, () => line(r, def, n % 4 === 3));
          const body = Buffer.from(lines.join(r() < 0.2 ? '\r\n' : '\n') + pick(r, ['', '\n', '\n\n']));
          const ctx = randomCtx(r, lines.length);
          assert.deepEqual(outcome(() => encodeNdjson(body, schema, ctx)), outcome(() => encodeBatch(decodeBody(body, 'ndjson'), schema, ctx)), `${def.name} body ${n}: ${body.toString().slice(0, 300)}`);
          taken += scanned(lines.map((l) => Buffer.from(l)), schema, ctx);
          total += lines.length;
        }
      }
    }
  }
  // Most random records break a rule somewhere (the object path refuses them); what matters is that many are taken.
  assert.ok(taken > 1500, `the scan encoder took ${taken} of ${total} lines: too few to test it`);
  assert.ok(taken < total, 'some lines must take the JSON.parse path');
});

test('NDJSON records broken over two lines are read line by line, as decodeBody reads them', () => {
  // The scanner finds each line's end itself (FlatJsonScanner.scanLine): a newline anywhere in a record, between
  // tokens or inside a string, must end the line there, never be skipped as whitespace.
  const r = prng(20261207);
  const def = scalarTable('string', 'string', 'reject');
  const schema = compileSchema(def, LIMITS);
  let broken = 0;
  for (let n = 0; n < 300; n++) {
    const lines = Array.from({ length: 1 + Math.floor(r() * 8) }, () => line(r, def, false));
    const i = Math.floor(r() * lines.length);
    const text = lines[i] as string;
    const at = Math.floor(r() * (text.length + 1));
    lines[i] = `${text.slice(0, at)}\n${text.slice(at)}`;
    const body = Buffer.from(lines.join('\n'));
    const ctx = randomCtx(r, lines.length + 1);
    const fast = outcome(() => encodeNdjson(body, schema, ctx));
    assert.deepEqual(fast, outcome(() => encodeBatch(decodeBody(body, 'ndjson'), schema, ctx)), body.toString());
    if (fast !== undefined && 'error' in fast) broken++;
  }
  // Most breaks leave a line that is not JSON; a break at a record's edge leaves a blank line and no error.
  assert.ok(broken > 150 && broken < 300, `${broken} of 300 bodies refused`);
});

test('property: JSON frames encode from their bytes as decodeFrames then encoding does', () => {
  const r = prng(616);
  for (const keyType of KEY_TYPES) {
    const def = scalarTable(keyType, undefined, 'reject');
    const schema = compileSchema(def, LIMITS);
    for (let n = 0; n < 20; n++) {
      const texts = Array.from({ length: 1 + Math.floor(r() * 40) }, () => {
        const u = r();
        // Empty, not UTF-8, a multi-line JSON text, a broken one: each refused or taken on its own.
        if (u < 0.03) return Buffer.alloc(0);
        if (u < 0.05) return Buffer.from([0x7b, 0x22, 0x6b, 0x22, 0x3a, 0x22, 0xff, 0x22, 0x7d]);
        if (u < 0.08) return Buffer.from(JSON.stringify(randomRecord(r, def), null, 2) ?? 'null');
        return Buffer.from(line(r, def, true));
      });
      const body = Buffer.concat(texts);
      const frames = Uint32Array.from(texts, (t) => t.length);
      const ctx = randomCtx(r, texts.length);
      assert.deepEqual(outcome(() => encodeJsonFrames(body, frames, schema, ctx)), outcome(() => encodeBatch(decodeFrames(body, frames), schema, ctx)), `${def.name} frames ${n}`);
    }
  }
});

test('a frame boundary inside a multi-byte character leaves both frames refused as not UTF-8, as decodeFrames does', () => {
  const schema = compileSchema(parseTableDef(BENCH_TABLE, 0));
  const text = Buffer.from(recordLine(1).replace('bench payment', 'bench paiement é'));
  const cut = text.indexOf(0xc3) + 1;
  const body = Buffer.concat([text, text]);
  const frames = Uint32Array.from([cut, text.length - cut, text.length]);
  const ctx = { tableId: 1, shards: 16, nowMs: NOW, keyBytesMax: 512, errorDetailsMax: 10 };
  const encoded = encodeJsonFrames(body, frames, schema, ctx);
  assert.equal(encoded.count, 1);
  assert.deepEqual(encoded.rejected.map((x) => x.index), [0, 1]);
  assert.deepEqual({ ...encoded, batch: null }, { ...encodeBatch(decodeFrames(body, frames), schema, ctx), batch: null });
});

test('property: bodies of every format (NDJSON, sniffed, JSON) encode as decodeBody then encoding reads them', () => {
  const r = prng(99);
  const def = scalarTable('string', undefined, 'reject');
  const schema = compileSchema(def, LIMITS);
  const bodies: (() => string)[] = [
    () => Array.from({ length: 1 + Math.floor(r() * 8) }, () => line(r, def, r() < 0.3)).join('\n') + pick(r, ['', '\n', ' \n\t']),
    () => line(r, def, false) + pick(r, ['', '\n', '\n\n ', '\n\f', '\n\u00a0']),
    () => JSON.stringify(randomRecord(r, def), null, 2) ?? 'null',
    () => `[${line(r, def, false)},\n${line(r, def, false)}]`,
    () => `[${line(r, def, false)},${line(r, def, false)}]${pick(r, ['\n', '\n \n'])}`,
    () => pick(r, ['1\n2', '"a"\n{"k":1}', '{"k":\n1}', '\n\n', '{"k":1}\n[1]', '{"k":1} {"k":2}\n']),
  ];
  let taken = 0;
  for (let n = 0; n < 600; n++) {
    const body = Buffer.from((pick(r, bodies) as () => string)());
    const ctx = randomCtx(r, 20);
    for (const format of ['ndjson', 'auto', 'json'] as const) {
      const fast = outcome(() => encodeJsonBody(body, format, schema, ctx));
      if (fast !== undefined) taken++;
      const expected = outcome(() => encodeBatch(decodeBody(body, format), schema, ctx));
      assert.deepEqual(fast ?? expected, expected, `${format}: ${JSON.stringify(body.toString())}`);
    }
  }
  assert.ok(taken > 600, `${taken} of 1800 taken from the bytes`);
});

test('property: JSON array bodies encode from their bytes as decodeBody then encoding does, or are left to it whole', () => {
  const r = prng(5150);
  const around = ['', ' ', '\n', '\r\n', '\t', ' \n '];
  const AFTER = ['', '', '', '\n', ' \n\t', ',', ']', ' x', '\n{"k":1}'];
  let taken = 0;
  let bodies = 0;
  for (const keyType of KEY_TYPES) {
    for (const pkType of [undefined, 'string'] as const) {
      for (const [extra, table] of [['reject', scalarTable], ['keep', wideTable]] as const) {
        const def = table(keyType, pkType, extra);
        const schema = compileSchema(def, LIMITS);
        for (let n = 0; n < 12; n++) {
          const ctx = randomCtx(r, 30);
          // Records, in most bodies only those the scan encoder takes alone; sometimes a broken element or a non-object.
          const plainOnly = n % 3 !== 0;
          const elements: string[] = [];
          for (let i = 0, length = Math.floor(r() * 30); i < length; i++) {
            const text = r() < 0.03 ? pick(r, [...BROKEN, ...NOT_RECORDS]) : line(r, def, false).trim() || '{}';
            if (!plainOnly || scanned([Buffer.from(text)], schema, ctx) === 1) elements.push(text);
          }
          const sep = (): string => `${pick(r, around)},${pick(r, around)}`;
          const text = `${pick(r, around)}[${pick(r, around)}${elements.join(sep())}${pick(r, around)}]${n % 6 === 5 ? pick(r, AFTER) : pick(r, around)}`;
          const body = Buffer.from(text);
          bodies += 2;
          for (const format of ['json', 'auto'] as const) {
            const fast = outcome(() => encodeJsonBody(body, format, schema, ctx));
            const expected = outcome(() => encodeBatch(decodeBody(body, format), schema, ctx));
            if (fast !== undefined) taken++;
            assert.deepEqual(fast ?? expected, expected, `${def.name} ${format}: ${text.slice(0, 300)}`);
          }
        }
      }
    }
  }
  assert.ok(taken > bodies / 6, `${taken} of ${bodies} array bodies taken from the bytes`);
  assert.ok(taken < bodies, 'some array bodies must be left to decodeBody');
});

test('an array of bench records (what sluice ingest sends of a Parquet file) is taken whole, byte for byte as the object path writes it', () => {
  const schema = compileSchema(parseTableDef(BENCH_TABLE, 0));
  const ctx = { tableId: 1, shards: 16, nowMs: NOW, eventTimeMaxMs: NOW + AHEAD, keyBytesMax: 512, errorDetailsMax: 10 };
  const body = Buffer.from(JSON.stringify(Array.from({ length: 500 }, (_, i) => JSON.parse(recordLine(i)) as unknown)));
  const fast = encodeJsonBody(body, 'json', schema, ctx);
  assert.ok(fast !== undefined, 'taken from the bytes');
  assert.equal(fast.count, 500);
  assert.ok(Buffer.from(fast.batch).equals(Buffer.from(encodeBatch(decodeBody(body, 'json'), schema, ctx).batch)));
  // One element the scan encoder declines leaves the whole body to decodeBody.
  const mixed = Buffer.from(body.toString().replace('{"', '{"extra":[1],"'));
  assert.equal(encodeJsonBody(mixed, 'json', schema, ctx), undefined);
  // A byte that is not UTF-8 inside a string the scanner would copy: left to decodeBody, which refuses it.
  const broken = Buffer.from(body);
  broken[broken.indexOf('bench payment') + 2] = 0xff;
  assert.equal(encodeJsonBody(broken, 'json', schema, ctx), undefined, 'left to decodeBody');
  assert.throws(() => decodeBody(broken, 'json'), { code: 'INVALID_ENCODING' });
});

test('a JSON body of one plain object is encoded from its bytes; anything else is left to decodeBody', () => {
  const r = prng(7);
  const def = scalarTable('string', 'string', 'keep');
  const schema = compileSchema(def, LIMITS);
  let taken = 0;
  for (let n = 0; n < 400; n++) {
    const text = n % 10 === 9 ? pick(r, [...BROKEN, ...NOT_RECORDS, `${line(r, def, false)}\n${line(r, def, false)}`]) : line(r, def, false);
    const body = Buffer.from(text);
    const ctx = randomCtx(r, 1);
    const fast = outcome(() => encodeSingleObject(body, schema, ctx));
    if (fast === undefined) continue;
    taken++;
    assert.deepEqual(fast, outcome(() => encodeBatch(decodeBody(body, 'json'), schema, ctx)), text);
  }
  assert.ok(taken > 40, `${taken} bodies taken`);
});

test('the bench records all take the scan encoder, byte for byte as the object path writes them', () => {
  for (const table of [BENCH_TABLE, BENCH_TABLE_PK]) {
    const schema = compileSchema(parseTableDef(table, 0));
    const texts = Array.from({ length: 500 }, (_, i) => Buffer.from(recordLine(i)));
    const ctx = { tableId: 1, shards: 16, nowMs: NOW, eventTimeMaxMs: NOW + AHEAD, keyBytesMax: 512, errorDetailsMax: 10 };
    assert.equal(scanned(texts, schema, ctx), 500);
    const body = Buffer.from(texts.map((t) => t.toString()).join('\n'));
    const fast = encodeNdjson(body, schema, ctx);
    assert.ok(Buffer.from(fast.batch).equals(Buffer.from(encodeBatch(decodeBody(body, 'ndjson'), schema, ctx).batch)));
    assert.equal(fast.count, 500);
  }
});

test('the scan encoder declines what only the object path may judge, and leaves nothing behind', () => {
  const schema = compileSchema(parseTableDef(BENCH_TABLE, 0));
  const good = JSON.parse(recordLine(0)) as Record<string, unknown>;
  const declined = [
    { ...good, amount: 1.5 },
    { ...good, extra: 1 },
    { ...good, ts: NOW + AHEAD + 1 },
    { ...good, ts: 'yesterday' },
    { ...good, account_id: 'a'.repeat(600) },
    { ...good, memo: { nested: true } },
    { ...good, memo: ['a'] },
    { ...good, txn_id: null },
  ].map((d) => JSON.stringify(d));
  const ctx = { tableId: 1, shards: 16, nowMs: NOW, eventTimeMaxMs: NOW + AHEAD, keyBytesMax: 512, errorDetailsMax: 10 };
  const encoding = new BatchEncoding(schema, ctx, 10, undefined);
  const scan = scanEncoderOf(schema)(encoding.target);
  const repeated = `${recordLine(1).slice(0, -1)},"ts":1}`;
  const escapedKey = recordLine(2).replace('"memo"', '"mem\\u006f"');
  for (const d of [...declined, repeated, escapedKey, '{"account_id":"a","txn_id":"\\ud800x","amount":"1","currency":"EUR","ts":1}']) {
    assert.equal(scan(Buffer.from(d), 0, Buffer.byteLength(d), 0), false, d);
  }
  assert.equal(encoding.builder.count, 0);
  assert.equal(encoding.builder.byteLength, encoding.builder.finish().length);
});

test('values the object path normalizes (an ISO time, a decimal to canonicalize, an escaped string) are taken, as it writes them', () => {
  const schema = compileSchema(parseTableDef(BENCH_TABLE, 0));
  const good = JSON.parse(recordLine(0)) as Record<string, unknown>;
  const texts = [
    { ...good, amount: '007.50' },
    { ...good, amount: '-3' },
    { ...good, ts: '2025-11-24T15:00:00.123+02:00' },
    { ...good, memo: 'tab\there, a "quote" and \u00e9' },
    { ...good, account_id: 'acct-é-\u00fc' },
  ].map((d) => Buffer.from(JSON.stringify(d).replaceAll('\\\\u', '\\u')));
  const ctx = { tableId: 1, shards: 16, nowMs: NOW, eventTimeMaxMs: NOW + AHEAD, keyBytesMax: 512, errorDetailsMax: 10 };
  assert.equal(scanned(texts, schema, ctx), texts.length);
  const body = Buffer.from(texts.map((t) => t.toString()).join('\n'));
  assert.ok(Buffer.from(encodeNdjson(body, schema, ctx).batch).equals(Buffer.from(encodeBatch(decodeBody(body, 'ndjson'), schema, ctx).batch)));
});
