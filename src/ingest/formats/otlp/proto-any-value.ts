/**
 * AnyValue and KeyValue lists of a decoded protobuf request as plain JSON:
 * string, bool and double as themselves (a non-finite double as its name,
 * "NaN", "Infinity", "-Infinity": JSON has no such numbers), int64 as a
 * number when it is a safe integer and as a decimal string otherwise,
 * bytes as base64, arrays as arrays, kvlists as objects, an empty AnyValue
 * as null. Nesting past `depthMax` is refused (DEPTH) before it can
 * exhaust the stack.
 */
import type { JsonValue } from '../../../core/schema/table-def.ts';
import { newAttributes, type Attributes } from './otlp-log-entry.ts';
import { ValueProblem } from './value-problem.ts';

/** What protobufjs decodes a KeyValue into. */
export interface ProtoKeyValue {
  readonly key?: string;
  readonly value?: ProtoAnyValue | null;
}

/** protobufjs's int64: a number, or a Long (low and high 32-bit halves) when `long` is installed. */
export type ProtoLong = number | { readonly low: number; readonly high: number };

/** What protobufjs decodes an AnyValue into: the set member of the oneof is an own property. */
export interface ProtoAnyValue {
  readonly stringValue?: string;
  readonly boolValue?: boolean;
  readonly intValue?: ProtoLong;
  readonly doubleValue?: number;
  readonly arrayValue?: { readonly values?: readonly ProtoAnyValue[] } | null;
  readonly kvlistValue?: { readonly values?: readonly ProtoKeyValue[] } | null;
  readonly bytesValue?: Uint8Array;
}

/** A 64-bit integer as a BigInt, signed or not. */
export function longToBigInt(v: ProtoLong, signed: boolean): bigint {
  if (typeof v === 'number') return BigInt(v);
  const bits = (BigInt(v.high >>> 0) << 32n) | BigInt(v.low >>> 0);
  return signed ? BigInt.asIntN(64, bits) : bits;
}

/** An int64 as JSON: a number when exact, else its decimal string. */
export function int64Json(v: bigint): number | string {
  return v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v.toString();
}

/** A double as JSON. */
export function doubleJson(v: number): number | string {
  return Number.isFinite(v) ? v : String(v);
}

/** An AnyValue as JSON; `depth` is its nesting level (1 for an attribute's value). */
export function protoAnyValue(v: ProtoAnyValue | null | undefined, path: string, depth: number, depthMax: number): JsonValue {
  if (depth > depthMax) throw new ValueProblem(path, 'DEPTH', `value nested deeper than ${depthMax}`);
  if (v === null || v === undefined) return null;
  if (Object.hasOwn(v, 'stringValue')) return v.stringValue ?? '';
  if (Object.hasOwn(v, 'boolValue')) return v.boolValue === true;
  if (Object.hasOwn(v, 'intValue')) return int64Json(longToBigInt(v.intValue ?? 0, true));
  if (Object.hasOwn(v, 'doubleValue')) return doubleJson(v.doubleValue ?? 0);
  if (Object.hasOwn(v, 'bytesValue')) return Buffer.from(v.bytesValue ?? new Uint8Array()).toString('base64');
  if (Object.hasOwn(v, 'arrayValue')) {
    return (v.arrayValue?.values ?? []).map((item, i) => protoAnyValue(item, `${path}/${i}`, depth + 1, depthMax));
  }
  if (Object.hasOwn(v, 'kvlistValue')) return protoAttributes(v.kvlistValue?.values ?? [], path, depth + 1, depthMax);
  return null;
}

/** A KeyValue list as an object; a repeated key keeps its last value. */
export function protoAttributes(kvs: readonly ProtoKeyValue[], path: string, depth: number, depthMax: number): Attributes {
  const out = newAttributes();
  for (const kv of kvs) {
    const key = kv.key ?? '';
    out[key] = protoAnyValue(kv.value, `${path}/${escapeToken(key)}`, depth, depthMax);
  }
  return out;
}

/** One JSON pointer reference token (RFC 6901). */
export function escapeToken(key: string): string {
  return key.replaceAll('~', '~0').replaceAll('/', '~1');
}
