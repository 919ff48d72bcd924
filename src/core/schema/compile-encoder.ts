/**
 * A second generated function per schema version, beside the normalizer of
 * compile-schema.ts: it validates a JSON.parse'd record and writes it as a
 * record-batch-v1 entry straight into the batch (keys, value header and the
 * positional msgpack of its fields), with no `{ok, values}` object, no
 * values array, no msgpackr dispatch and no second copy of the fields.
 *
 * It is a fast path, not a second definition of validity. It takes only
 * records the normalizer accepts as they are: every value is read and
 * normalized by the same inlined checks (`fastPath`) and the same helpers
 * of field-value.ts, and it answers false, having written nothing, for
 * anything else: a violation of any kind, an alias in use, an extra field
 * the table refuses (kept ones are written), an event time past the bound, a key too long, a value msgpack-writer.ts
 * does not write exactly as msgpackr. The caller then encodes that record
 * with the normalizer and msgpackr (ingest/batch-encoder.ts), so
 * rejections, their codes, paths and messages come from one place only and
 * the batch bytes are the same either way (test/ingest/batch-encoder-fast-path.test.ts
 * checks random records of every type against the reference path).
 *
 * Safety of the generated source is as in compile-schema.ts: field names
 * (checked `[A-Za-z_][A-Za-z0-9_]*`) enter through JSON.stringify, types
 * are checked against FIELD_TYPES, every other value is a closure argument.
 */
import assert from 'node:assert/strict';
import type { MsgpackWriter } from '../codec/msgpack-writer.ts';
import type { PkWriter, RecordBatchBuilder } from '../codec/record-batch-v1.ts';
import { shardOf } from '../murmur3.ts';
import { fastPath, readSource, slowNormalizers, type CompiledSchema } from './compile-schema.ts';
import { isJsonWithin, isPlainDecimal, ValueProblem, type ValueLimits } from './field-value.ts';
import { keyString } from './key-string.ts';
import { FIELD_TYPES, type FieldDef, type FieldType, type TableDef } from './table-def.ts';

/** What one batch's records are encoded into, and the bounds they are checked against. */
export interface EncodeTarget {
  readonly builder: RecordBatchBuilder;
  readonly nowMs: number;
  /** Latest event time accepted (absent: no bound). */
  readonly eventTimeMaxMs: number | undefined;
  readonly shards: number;
  readonly keyBytesMax: number;
  /** Writes the dedupe key of request record `index`, for a table without a primary key (absent: none). */
  readonly dedupeKeys: PkWriter | undefined;
}

/** Encodes record `index` into the batch; false, with nothing written, when the reference path must take it. */
export type RecordEncoder = (input: unknown, index: number) => boolean;

/** Binds a schema's generated encoder to one batch. */
export type RecordEncoderFactory = (target: EncodeTarget) => RecordEncoder;

type Factory = (b: RecordBatchBuilder, nowMs: number, tmax: number | undefined, shards: number, kmax: number, dk: PkWriter | undefined) => RecordEncoder;

/** Everything the generated source refers to, passed in as arguments. */
interface EncoderScope {
  readonly P: typeof ValueProblem;
  readonly hasOwn: (o: object, k: string) => boolean;
  readonly slow: Readonly<Record<FieldType, (v: unknown) => unknown>>;
  readonly D: readonly unknown[];
  readonly keyStr: typeof keyString;
  readonly shardOf: typeof shardOf;
  readonly byteLength: (s: string) => number;
  readonly plainDecimal: (v: string) => boolean;
  readonly writeExtras: (w: MsgpackWriter, input: Record<string, unknown>) => boolean;
}
const SCOPE_NAMES = ['P', 'hasOwn', 'slow', 'D', 'keyStr', 'shardOf', 'byteLength', 'plainDecimal', 'writeExtras'] as const satisfies readonly (keyof EncoderScope)[];

const factories = new WeakMap<CompiledSchema, RecordEncoderFactory>();

/** The schema's record encoder, generated on first use and kept for the life of the compiled schema (one schema version). */
export function recordEncoderOf(schema: CompiledSchema): RecordEncoderFactory {
  let factory = factories.get(schema);
  if (factory === undefined) {
    const generated = compileEncoder(schema);
    factory = (t) => generated(t.builder, t.nowMs, t.eventTimeMaxMs, t.shards, t.keyBytesMax, t.dedupeKeys);
    factories.set(schema, factory);
  }
  return factory;
}

/** Generated source for reading, checking and normalizing field `i` into local `f${i}`; `return false` on anything unusual. */
function readFieldSource(f: FieldDef, i: number, hasDefault: boolean, isTime: boolean, limits: ValueLimits): string {
  // The type is spliced into the source (`slow.${type}`), so it must be one of ours.
  assert((FIELD_TYPES as readonly string[]).includes(f.type), `unknown field type ${f.type}`);
  const lines = [`v = ${readSource(f.name)};`, 'if (v !== undefined) seen++;'];
  // A write under an old name is rare: the normalizer resolves it (and its expiry, and duplicates).
  for (const a of f.aliases ?? []) lines.push(`if (${readSource(a.name)} !== undefined) return false;`);
  const missing = hasDefault ? `f${i} = D[${i}];` : f.required ? 'return false;' : '';
  lines.push(`if (v === undefined) { ${missing} }`);
  lines.push(`else if (v === null) { ${f.required ? 'return false;' : ''} }`);
  const fast = fastPath(f.type, limits);
  if (fast !== undefined) lines.push(`else if (${fast.test}) f${i} = ${fast.value};`);
  lines.push(`else { r = slow.${f.type}(v); if (r instanceof P) return false; f${i} = r; }`);
  // Same comparison as the normalizer's: `x > undefined` is false, so no bound refuses nothing.
  if (isTime) lines.push(`if (f${i} !== null && f${i} > tmax) return false;`);
  return lines.join('\n');
}

/** Generated source writing normalized field `i` of `type` (null or its stored form) through `w`. */
function writeFieldSource(type: FieldType, i: number): string {
  const f = `f${i}`;
  switch (type) {
    case 'string':
    case 'decimal':
      return `if (${f} === null) w.nil(); else w.str(${f});`;
    case 'float':
    case 'timestamp':
      return `if (${f} === null) w.nil(); else w.num(${f});`;
    case 'int':
      return `if (${f} === null) w.nil(); else if (typeof ${f} === "number") w.num(${f}); else if (!w.bigint(${f})) { b.abortEntry(); return false; }`;
    case 'bool':
      return `if (${f} === null) w.nil(); else w.bool(${f});`;
    case 'bytes':
      return `if (${f} === null) w.nil(); else w.bin(${f});`;
    case 'json':
      return `if (!w.json(${f})) { b.abortEntry(); return false; }`;
  }
}

/** Generated source computing key string `name` from local `f${i}` of `type`, with the key size check. */
function keySource(name: string, i: number, type: FieldType): string {
  // A required key field is never null here; the check keeps the reference path's failure for one that is.
  const value = type === 'string' ? `f${i}` : `keyStr(f${i}, ${JSON.stringify(type)})`;
  return [`if (f${i} === null) return false;`, `const ${name} = ${value};`, `if (${name}.length * 3 > kmax && byteLength(${name}) > kmax) return false;`].join('\n');
}

function compileEncoder(schema: CompiledSchema): Factory {
  const { def, limits, defaults, shardKeyIndex, primaryKeyIndex, timeIndex } = schema;
  const fields = def.fields;
  const keep = def.extraFields === 'keep';
  const typeAt = (i: number): FieldType => (fields[i] as FieldDef).type;
  const body: string[] = [
    'if (typeof input !== "object" || input === null || Array.isArray(input)) return false;',
    'let v, r, seen = 0;',
    fields.map((_, i) => `let f${i} = null;`).join(' '),
    ...fields.map((f, i) => readFieldSource(f, i, defaults[i] !== undefined, i === timeIndex, limits)),
    // Any key that is not a field under its own name: an extra field (kept or refused), or an alias (declined above).
    'let n = 0;',
    'for (const k in input) n++;',
    keep ? 'const extra = n !== seen;' : 'if (n !== seen) return false;',
    keySource('key', shardKeyIndex, typeAt(shardKeyIndex)),
    primaryKeyIndex >= 0 ? keySource('pk', primaryKeyIndex, typeAt(primaryKeyIndex)) : 'const pk = dk;',
    `b.beginEntry(shardOf(key, shards), key, pk, ${timeIndex >= 0 ? `typeof f${timeIndex} === "number" ? f${timeIndex} : nowMs` : 'nowMs'}, index);`,
    `w.arrayHeader(${fields.length + (keep ? 1 : 0)});`,
    ...fields.map((f, i) => writeFieldSource(f.type, i)),
    // Kept extras: null when every key was a field, else the map the normalizer would collect.
    ...(keep ? ['if (!extra) w.nil(); else if (!writeExtras(w, input)) { b.abortEntry(); return false; }'] : []),
    'b.endEntry();',
    'return true;',
  ];
  const source = [
    '"use strict";',
    'return function forBatch(b, nowMs, tmax, shards, kmax, dk) {',
    'const w = b.writer;',
    'return function encodeRecord(input, index) {',
    body.join('\n'),
    '};',
    '};',
  ].join('\n');
  const scope: EncoderScope = {
    P: ValueProblem,
    hasOwn: Object.hasOwn,
    slow: slowNormalizers(limits),
    D: defaults,
    keyStr: keyString,
    shardOf,
    byteLength: (s) => Buffer.byteLength(s),
    plainDecimal: isPlainDecimal,
    writeExtras: extrasWriter(def, limits.jsonDepthMax),
  };
  const make = new Function(...SCOPE_NAMES, source) as (...args: unknown[]) => Factory;
  return make(...SCOPE_NAMES.map((n) => scope[n]));
}

/**
 * Writes the extra fields of a record of an `extraFields: keep` table as
 * the normalizer's `collectExtras` object would be packed: the record's
 * keys that are not fields, in for-in order (what the collected object's
 * own order is), each checked as the normalizer checks it. False (the
 * reference path decides) for a reserved `_` name, a value past the depth
 * limit or not JSON, no extra at all, or a map msgpackr would not write.
 */
function extrasWriter(def: TableDef, jsonDepthMax: number): (w: MsgpackWriter, input: Record<string, unknown>) => boolean {
  const known = new Set<string>();
  for (const f of def.fields) {
    known.add(f.name);
    for (const a of f.aliases ?? []) known.add(a.name);
  }
  return (w, input) => {
    const sizeAt = w.beginMap16();
    let size = 0;
    for (const k in input) {
      if (known.has(k)) continue;
      const v = input[k];
      if (k.charCodeAt(0) === 95 /* _ */ || !isJsonWithin(v, 0, jsonDepthMax)) return false;
      w.str(k);
      if (!w.json(v)) return false;
      size++;
    }
    return size > 0 && w.endMap16(sizeAt, size);
  };
}

