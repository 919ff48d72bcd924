/**
 * AnyValue and KeyValue lists of an OTLP/JSON request as plain JSON, the
 * same values the protobuf decoder makes (see proto-any-value.ts). OTLP/JSON
 * is proto3's JSON mapping with two exceptions: ids are hex, enums are
 * numbers. So an int64 is a JSON number or a decimal string, a double may
 * be "NaN", "Infinity" or "-Infinity", bytes are base64. Field names are
 * lowerCamelCase; the proto names (snake_case) are accepted as well.
 */
import type { JsonValue } from '../../../core/schema/table-def.ts';
import { newAttributes, setAttribute, type Attributes } from './otlp-log-entry.ts';
import { doubleJson, int64Json } from './proto-any-value.ts';
import { ValueProblem } from './value-problem.ts';

const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;
const BASE64_RE = /^[A-Za-z0-9+/_-]*={0,2}$/;

/** The member `camel` (or its proto name `snake`) of a JSON object; undefined when absent or null. */
export function member(obj: Record<string, unknown>, camel: string, snake?: string): unknown {
  const v = Object.hasOwn(obj, camel) ? obj[camel] : snake !== undefined && Object.hasOwn(obj, snake) ? obj[snake] : undefined;
  return v === null ? undefined : v;
}

/** `v` as a JSON object, or a TYPE problem at `path`. */
export function asObject(v: unknown, path: string): Record<string, unknown> {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new ValueProblem(path, 'TYPE', 'expected an object');
  return v as Record<string, unknown>;
}

/** `v` as an array (absent: empty), or a TYPE problem. */
export function asArray(v: unknown, path: string): readonly unknown[] {
  if (v === undefined) return [];
  if (!Array.isArray(v)) throw new ValueProblem(path, 'TYPE', 'expected an array');
  return v;
}

/** `v` as a string (absent: ''), or a TYPE problem. */
export function asString(v: unknown, path: string): string {
  if (v === undefined) return '';
  if (typeof v !== 'string') throw new ValueProblem(path, 'TYPE', 'expected a string');
  return v;
}

/** An integer given as a JSON number or a decimal string, within [min, max]. */
export function asInteger(v: unknown, path: string, min: bigint, max: bigint): bigint {
  let n: bigint | undefined;
  if (typeof v === 'number' && Number.isInteger(v)) n = BigInt(v);
  else if (typeof v === 'string' && /^-?[0-9]{1,20}$/.test(v)) n = BigInt(v);
  if (n === undefined) throw new ValueProblem(path, 'TYPE', 'expected an integer (a JSON number or a decimal string)');
  if (n < min || n > max) throw new ValueProblem(path, 'RANGE', `integer out of range [${min}, ${max}]`);
  return n;
}

/** An AnyValue as JSON; `depth` is its nesting level (1 for an attribute's value). */
export function jsonAnyValue(v: unknown, path: string, depth: number, depthMax: number): JsonValue {
  if (depth > depthMax) throw new ValueProblem(path, 'DEPTH', `value nested deeper than ${depthMax}`);
  if (v === undefined || v === null) return null;
  const o = asObject(v, path);
  let x: unknown;
  if ((x = member(o, 'stringValue', 'string_value')) !== undefined) return asString(x, `${path}/stringValue`);
  if ((x = member(o, 'boolValue', 'bool_value')) !== undefined) {
    if (typeof x !== 'boolean') throw new ValueProblem(`${path}/boolValue`, 'TYPE', 'expected true or false');
    return x;
  }
  if ((x = member(o, 'intValue', 'int_value')) !== undefined) return int64Json(asInteger(x, `${path}/intValue`, INT64_MIN, INT64_MAX));
  if ((x = member(o, 'doubleValue', 'double_value')) !== undefined) return jsonDouble(x, `${path}/doubleValue`);
  if ((x = member(o, 'bytesValue', 'bytes_value')) !== undefined) {
    if (typeof x !== 'string' || !BASE64_RE.test(x)) throw new ValueProblem(`${path}/bytesValue`, 'FORMAT', 'expected base64 text');
    return Buffer.from(x, 'base64').toString('base64');
  }
  if ((x = member(o, 'arrayValue', 'array_value')) !== undefined) {
    const values = asArray(member(asObject(x, `${path}/arrayValue`), 'values'), `${path}/arrayValue/values`);
    return values.map((item, i) => jsonAnyValue(item, `${path}/arrayValue/values/${i}`, depth + 1, depthMax));
  }
  if ((x = member(o, 'kvlistValue', 'kvlist_value')) !== undefined) {
    const values = asArray(member(asObject(x, `${path}/kvlistValue`), 'values'), `${path}/kvlistValue/values`);
    return jsonAttributes(values, `${path}/kvlistValue/values`, depth + 1, depthMax);
  }
  return null;
}

/** A KeyValue list as an object; a repeated key keeps its last value. */
export function jsonAttributes(kvs: readonly unknown[], path: string, depth: number, depthMax: number): Attributes {
  const out = newAttributes();
  kvs.forEach((raw, i) => {
    const kv = asObject(raw, `${path}/${i}`);
    const key = asString(member(kv, 'key'), `${path}/${i}/key`);
    setAttribute(out, key, jsonAnyValue(member(kv, 'value'), `${path}/${i}/value`, depth, depthMax));
  });
  return out;
}

function jsonDouble(v: unknown, path: string): number | string {
  if (typeof v === 'number') return doubleJson(v);
  if (v === 'NaN' || v === 'Infinity' || v === '-Infinity') return v;
  // proto3 JSON also allows a number in a string.
  if (typeof v === 'string' && v.trim() !== '' && Number.isFinite(Number(v))) return Number(v);
  throw new ValueProblem(path, 'TYPE', 'expected a number');
}
