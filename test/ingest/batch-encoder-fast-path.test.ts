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
import type { FieldType } from '../../src/core/schema/table-def.ts';
import { EVENTS_TABLE, parseTableDef } from '../../src/core/schema/parse-table-def.ts';
import { BENCH_TABLE, BENCH_TABLE_PK, recordLine } from '../../bench/lib/records.ts';
import { prng } from '../support/prng.ts';
import { AHEAD, LIMITS, NOW, STRINGS, pick, randomCtx, randomJson, randomRecord, wideTable } from '../support/random-records.ts';

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
          const ctx = randomCtx(r, records.length);
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
    const encode = recordEncoderOf(schema)({ builder, nowMs: NOW, eventTimeMaxMs: NOW + AHEAD, shards: 16, keyBytesMax: 512, dedupeKeys: undefined });
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
