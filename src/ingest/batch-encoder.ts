/**
 * Validates parsed records against a compiled schema and encodes the valid
 * ones into a record batch, routed by shard key. This is the per-record
 * work of the write path, done once: validate, route and write straight
 * into the batch (the schema's generated encoder, decision 29), or for a
 * record it declines normalize, route, msgpack, copy. It is pure, so it runs on the main thread for small bodies and
 * in the decode workers for large ones.
 */
import { RecordBatchBuilder } from '../core/codec/record-batch-v1.ts';
import { encodeFields } from '../core/codec/fields-codec.ts';
import type { CompiledSchema } from '../core/schema/compile-schema.ts';
import { keyString } from '../core/schema/key-string.ts';
import { recordEncoderOf, type EncodeTarget, type RecordEncoder, type RecordEncoderFactory } from '../core/schema/compile-encoder.ts';
import { shardOf } from '../core/murmur3.ts';
import { DedupeKeyWriter, type DedupeKeys } from './dedupe-keys.ts';
import type { FieldType, InvalidPolicy } from '../core/schema/table-def.ts';

/**
 * What happens to invalid records: refuse the whole request, store the valid
 * ones, or store the valid ones and the invalid ones as dead letters.
 */
export type OnInvalid = InvalidPolicy;

/** One record that was not stored, and why. */
export interface Rejection {
  readonly index: number;
  readonly code: string;
  readonly path: string;
  readonly message: string;
}

/** Options of one encode call. */
export interface EncodeContext {
  readonly tableId: number;
  readonly shards: number;
  readonly nowMs: number;
  /** Latest event time accepted: `nowMs` plus the table's eventTimeAheadMsMax (absent: no bound). */
  readonly eventTimeMaxMs?: number;
  readonly keyBytesMax: number;
  /** Violations collected at most (the request is refused or answered with them). */
  readonly errorDetailsMax: number;
  /** Source-given dedupe keys (a table's primary key takes precedence). */
  readonly dedupe?: DedupeKeys;
}

/** A record that could not even be parsed (framed input): rejected with its message, not fatal to the request. */
export class UnparsedRecord {
  readonly message: string;
  /** INVALID_JSON, or INVALID_PROTOBUF for a binary message. */
  readonly code: string;
  constructor(message: string, code = 'INVALID_JSON') {
    this.message = message;
    this.code = code;
  }
}

/** A batch ready for id stamping, plus what was rejected. */
export interface EncodedBatch {
  /** record-batch-v1 bytes of the valid records (ids and versions zero). */
  readonly batch: Uint8Array;
  /** Valid records in the batch. */
  readonly count: number;
  /** Records in the request. */
  readonly total: number;
  /** Violations of invalid records (at most errorDetailsMax listed; `rejectedCount` counts records). */
  readonly rejected: Rejection[];
  readonly rejectedCount: number;
  /** Rejected records with an event time too far ahead of the clock (EVENT_TIME_IN_FUTURE): the metric counts them. */
  readonly futureCount: number;
  /** Request index of each batch entry, present only when something was rejected. */
  readonly positions?: Uint32Array;
  /** True when entries carry a key to resolve to an existing id (a primary key or a dedupe key). */
  readonly keyed: boolean;
  /** A body whose decoder refuses records on its own (OTLP): those, and where each validated record sat in the request. */
  readonly decoded?: DecodedRefusals;
  /** Raw bytes of each refused record, in request order, when they cannot be cut from the body (OTLP: the mapped record's JSON). */
  readonly refusedRaw?: readonly Uint8Array[];
}

/**
 * What a body's own decoder refused before validation, in the request's
 * numbering (every record it holds); the batch's indexes count only the
 * records that reached validation, and `positions` maps them back.
 */
export interface DecodedRefusals {
  /** Request index of each record that reached validation. */
  readonly positions: Uint32Array;
  readonly rejected: Rejection[];
  /** Records in the request. */
  readonly total: number;
}

/**
 * Validates and encodes `records`; never throws on user input. Each record
 * takes the schema's generated encoder (core/schema/compile-encoder.ts),
 * which writes it straight into the batch, or, when that declines (an
 * invalid record, an alias, an extra field, an unusual value), the
 * reference path of `encodeBatchReference`. Both give the same bytes.
 */
export function encodeBatch(records: readonly unknown[], schema: CompiledSchema, ctx: EncodeContext): EncodedBatch {
  return encodeRecords(records, schema, ctx, recordEncoderOf(schema));
}

/**
 * `encodeBatch` with every record through the normalizer, keyString and
 * msgpackr: the definition the fast path is tested against, byte for byte.
 */
export function encodeBatchReference(records: readonly unknown[], schema: CompiledSchema, ctx: EncodeContext): EncodedBatch {
  return encodeRecords(records, schema, ctx, undefined);
}

function encodeRecords(records: readonly unknown[], schema: CompiledSchema, ctx: EncodeContext, fast: RecordEncoderFactory | undefined): EncodedBatch {
  const encoding = new BatchEncoding(schema, ctx, records.length, fast);
  for (let i = 0; i < records.length; i++) encoding.add(records[i], i);
  return encoding.finish(records.length);
}

/**
 * One batch encoded record by record: `encodeBatch`'s loop for a caller
 * that parses as it goes (ingest/encode-json-text.ts), and writes some
 * records into `builder` itself (`target`, `added`).
 */
export class BatchEncoding {
  readonly builder: RecordBatchBuilder;
  private readonly schema: CompiledSchema;
  private readonly ctx: EncodeContext;
  private readonly rejected: Rejection[] = [];
  private rejectedCount = 0;
  private futureCount = 0;
  /** Request index of each entry; made at the first rejection (until then entry i is record i). */
  private positions: number[] | undefined;
  private readonly keyType: FieldType;
  private readonly pkType: FieldType | undefined;
  private readonly dedupe: DedupeKeys | undefined;
  /** What an encoder writing into `builder` is bound to (the generated one's, and a caller's scan encoder). */
  readonly target: EncodeTarget;
  private readonly encodeFast: RecordEncoder | undefined;

  /** `records`: about how many, to size the batch; `fast`: the generated encoder's factory (absent: the reference path only). */
  constructor(schema: CompiledSchema, ctx: EncodeContext, records: number, fast: RecordEncoderFactory | undefined) {
    this.schema = schema;
    this.ctx = ctx;
    this.builder = new RecordBatchBuilder(ctx.tableId, schema.def.version, ctx.nowMs, 256 + records * 160);
    this.keyType = fieldTypeAt(schema, schema.shardKeyIndex);
    this.pkType = schema.primaryKeyIndex >= 0 ? fieldTypeAt(schema, schema.primaryKeyIndex) : undefined;
    const dedupe = this.pkType === undefined ? ctx.dedupe : undefined;
    this.dedupe = dedupe;
    this.target = { builder: this.builder, nowMs: ctx.nowMs, eventTimeMaxMs: ctx.eventTimeMaxMs, shards: ctx.shards, keyBytesMax: ctx.keyBytesMax, dedupeKeys: dedupe === undefined ? undefined : new DedupeKeyWriter(dedupe) };
    this.encodeFast = fast?.(this.target);
  }

  /** Request record `i` was written into `builder` by the caller. */
  added(i: number): void {
    this.positions?.push(i);
  }

  /** Validates and encodes request record `i` (parsed, or an UnparsedRecord to refuse). */
  add(record: unknown, i: number): void {
    if (record instanceof UnparsedRecord) {
      this.reject(i, [{ code: record.code, path: '', message: record.message }]);
      return;
    }
    if (this.encodeFast !== undefined && this.encodeFast(record, i)) {
      this.positions?.push(i);
      return;
    }
    const { schema, ctx, pkType } = this;
    const result = schema.normalize(record, ctx.nowMs, ctx.eventTimeMaxMs);
    if (!result.ok) {
      if (result.errors.some((e) => e.code === 'EVENT_TIME_IN_FUTURE')) this.futureCount++;
      this.reject(i, result.errors);
      return;
    }
    const values = result.values;
    const key = keyString(values[schema.shardKeyIndex], this.keyType);
    const pk = pkType === undefined ? undefined : keyString(values[schema.primaryKeyIndex], pkType);
    const tooLong = Buffer.byteLength(key) > ctx.keyBytesMax ? schema.def.shardKey : pk !== undefined && Buffer.byteLength(pk) > ctx.keyBytesMax ? schema.def.primaryKey : undefined;
    if (tooLong !== undefined) {
      this.reject(i, [{ code: 'KEY_TOO_LARGE', path: `/${tooLong}`, message: `${tooLong} is longer than ${ctx.keyBytesMax} bytes` }]);
      return;
    }
    const time = schema.timeIndex >= 0 ? values[schema.timeIndex] : undefined;
    this.builder.add(shardOf(key, ctx.shards), key, pk ?? this.target.dedupeKeys, typeof time === 'number' ? time : ctx.nowMs, encodeFields(values), i);
    this.positions?.push(i);
  }

  /** The batch of a request of `total` records. */
  finish(total: number): EncodedBatch {
    const keyed = this.pkType !== undefined || this.dedupe !== undefined;
    const base = { batch: this.builder.finish(), count: this.builder.count, total, rejected: this.rejected, rejectedCount: this.rejectedCount, futureCount: this.futureCount, keyed };
    return this.positions === undefined ? base : { ...base, positions: Uint32Array.from(this.positions) };
  }

  private reject(index: number, violations: readonly Omit<Rejection, 'index'>[]): void {
    this.rejectedCount++;
    this.positions ??= range(index);
    for (const v of violations) {
      if (this.rejected.length >= this.ctx.errorDetailsMax) break;
      this.rejected.push({ index, ...v });
    }
  }
}

function fieldTypeAt(schema: CompiledSchema, index: number): FieldType {
  const field = schema.def.fields[index];
  if (field === undefined) throw new Error(`schema ${schema.def.name} has no field at ${index}`);
  return field.type;
}

/** [0, 1, …, n-1]: positions of the records accepted before the first rejection. */
function range(n: number): number[] {
  return Array.from({ length: n }, (_, i) => i);
}
