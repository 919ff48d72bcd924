/**
 * Per-type normalization of one field value, and the way back to JSON.
 *
 * Normalized (stored) forms, DESIGN §1:
 *   string    string
 *   int       number when it is a safe integer, else bigint (never outside int64)
 *   float     number (finite)
 *   bool      boolean
 *   timestamp number, epoch ms (safe integer within the ECMAScript Date range)
 *   decimal   canonical string: no '+', no leading zeros, no negative zero,
 *             scale kept as written ("12.50" stays "12.50")
 *   bytes     Buffer
 *   json      the JSON value itself (not copied)
 *
 * The compiled schema inlines the common cases (a string, a safe integer, ...)
 * and calls these only for the rest, so they favour clarity over speed; they
 * also normalize defaults at definition time, so the two paths cannot drift.
 */
import type { FieldType, JsonValue } from './table-def.ts';
import { VIOLATION_CODES, pointerToken, type ViolationCode } from './violation.ts';
import { isoTimestampProblem, parseIsoTimestamp } from './parse-iso-timestamp.ts';

/** The limits one value is checked against. */
export interface ValueLimits {
  /** UTF-8 bytes of one string (also bounds base64 text of bytes fields). */
  readonly stringBytesMax: number;
  /** Nesting depth of `json` values: `{}` is 1, `{"a":[1]}` is 2. */
  readonly jsonDepthMax: number;
}

/** Why a value was refused; `subPath` is a JSON pointer below the field (json values only). */
export class ValueProblem {
  readonly code: ViolationCode;
  readonly message: string;
  readonly subPath: string;
  constructor(code: ViolationCode, message: string, subPath = '') {
    this.code = code;
    this.message = message;
    this.subPath = subPath;
  }
}

const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;
/** Digits of the largest int64 (9223372036854775807). */
const INT64_DIGITS_MAX = 19;
/** SQL DECIMAL(38): the widest exact decimal most engines and Parquet's decimal128 hold. */
export const DECIMAL_DIGITS_MAX = 38;
/** ECMAScript Date range: ±100,000,000 days around 1970. */
export const TIMESTAMP_MS_MAX = 8.64e15;

const INT_TEXT_RE = /^-?[0-9]+$/;
const DECIMAL_RE = /^([+-]?)([0-9]+)(?:\.([0-9]+))?$/;

const { TYPE, FORMAT, RANGE, TOO_LONG, DEPTH } = VIOLATION_CODES;

function typeName(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'array';
  return typeof v;
}

/** A string within `stringBytesMax` UTF-8 bytes and well-formed Unicode. */
export function normalizeString(v: unknown, limits: ValueLimits): string | ValueProblem {
  if (typeof v !== 'string') return new ValueProblem(TYPE, `expected a string, got ${typeName(v)}`);
  // Each UTF-16 unit is at most 3 UTF-8 bytes, so only long strings need counting.
  if (v.length * 3 > limits.stringBytesMax && Buffer.byteLength(v, 'utf8') > limits.stringBytesMax) {
    return new ValueProblem(TOO_LONG, `string longer than ${limits.stringBytesMax} bytes`);
  }
  // A lone surrogate (JSON allows "\ud800") would be silently replaced by U+FFFD when encoded as UTF-8.
  if (!v.isWellFormed()) return new ValueProblem(FORMAT, 'string contains a lone surrogate (not valid Unicode)');
  return v;
}

/** A 64-bit signed integer from a safe-integer JSON number or a decimal string. */
export function normalizeInt(v: unknown): number | bigint | ValueProblem {
  if (typeof v === 'number') {
    if (Number.isSafeInteger(v)) return v;
    if (Number.isInteger(v)) {
      return new ValueProblem(RANGE, 'integer beyond ±(2^53-1) cannot travel exactly as a JSON number: send it as a decimal string like "9007199254740993"');
    }
    return new ValueProblem(TYPE, `expected an integer, got ${v}`);
  }
  if (typeof v === 'string') {
    if (!INT_TEXT_RE.test(v)) return new ValueProblem(FORMAT, 'expected an integer as a JSON number or a decimal string like "-42"');
    let first = v.charCodeAt(0) === 45 /* - */ ? 1 : 0;
    while (first < v.length - 1 && v.charCodeAt(first) === 48 /* 0 */) first++;
    if (v.length - first > INT64_DIGITS_MAX) return new ValueProblem(RANGE, 'integer outside the int64 range');
    const big = BigInt(v);
    if (big < INT64_MIN || big > INT64_MAX) return new ValueProblem(RANGE, 'integer outside the int64 range');
    const n = Number(big);
    return Number.isSafeInteger(n) ? n : big;
  }
  return new ValueProblem(TYPE, `expected an integer, got ${typeName(v)}`);
}

/** A finite JSON number. */
export function normalizeFloat(v: unknown): number | ValueProblem {
  if (typeof v === 'number') return Number.isFinite(v) ? v : new ValueProblem(RANGE, 'expected a finite number');
  return new ValueProblem(TYPE, `expected a number, got ${typeName(v)}`);
}

/** A JSON boolean. */
export function normalizeBool(v: unknown): boolean | ValueProblem {
  return typeof v === 'boolean' ? v : new ValueProblem(TYPE, `expected a boolean, got ${typeName(v)}`);
}

/** Epoch ms from an ISO-8601 string or a safe-integer epoch-ms number. */
export function normalizeTimestamp(v: unknown): number | ValueProblem {
  let ms: number;
  if (typeof v === 'number') {
    if (!Number.isInteger(v)) return new ValueProblem(TYPE, `expected epoch milliseconds as an integer, got ${v}`);
    ms = v;
  } else if (typeof v === 'string') {
    ms = parseIsoTimestamp(v);
    if (Number.isNaN(ms)) return new ValueProblem(FORMAT, isoTimestampProblem(v));
  } else {
    return new ValueProblem(TYPE, `expected an ISO-8601 string or epoch milliseconds, got ${typeName(v)}`);
  }
  if (ms < -TIMESTAMP_MS_MAX || ms > TIMESTAMP_MS_MAX) return new ValueProblem(RANGE, 'timestamp outside ±8.64e15 ms (the Date range)');
  return ms;
}

/** An exact decimal string, canonicalized (see the file comment). */
export function normalizeDecimal(v: unknown): string | ValueProblem {
  if (typeof v !== 'string') {
    const hint = typeof v === 'number' ? ': send decimals as JSON strings ("12.50") so they never pass through a float' : '';
    return new ValueProblem(TYPE, `expected a decimal string, got ${typeName(v)}${hint}`);
  }
  const m = DECIMAL_RE.exec(v);
  if (m === null) return new ValueProblem(FORMAT, 'expected a decimal like "-12.50" (digits, optional sign and fraction, no exponent)');
  const sign = m[1] as string;
  const intDigits = m[2] as string;
  const fraction = m[3] ?? '';
  let first = 0;
  while (first < intDigits.length - 1 && intDigits.charCodeAt(first) === 48) first++;
  const intPart = first === 0 ? intDigits : intDigits.slice(first);
  const precision = (intPart === '0' ? 0 : intPart.length) + fraction.length;
  if (precision > DECIMAL_DIGITS_MAX) return new ValueProblem(RANGE, `decimal with more than ${DECIMAL_DIGITS_MAX} digits`);
  const isZero = intPart === '0' && /^0*$/.test(fraction);
  const canonicalSign = sign === '-' && !isZero ? '-' : '';
  if (canonicalSign === sign && first === 0) return v;
  return fraction === '' ? canonicalSign + intPart : `${canonicalSign}${intPart}.${fraction}`;
}

/**
 * True for a decimal text that `normalizeDecimal` returns unchanged, found
 * without its regular expression (which allocates a match per value): no
 * sign, no leading zero, digits on both sides of at most one '.', at most
 * DECIMAL_DIGITS_MAX characters. False decides nothing; the helper does.
 */
export function isPlainDecimal(v: string): boolean {
  const n = v.length;
  if (n === 0 || n > DECIMAL_DIGITS_MAX) return false;
  const first = v.charCodeAt(0);
  if (first < 48 || first > 57) return false;
  // "0" alone, or "0." and a fraction: any other leading zero is canonicalized away.
  if (first === 48 && n > 1 && v.charCodeAt(1) !== 46 /* . */) return false;
  let dot = false;
  for (let i = 1; i < n; i++) {
    const c = v.charCodeAt(i);
    if (c === 46) {
      if (dot || i === n - 1) return false;
      dot = true;
    } else if (c < 48 || c > 57) return false;
  }
  return true;
}

/** `isPlainDecimal` of the ASCII text src[start, end). */
export function isPlainDecimalBytes(src: Uint8Array, start: number, end: number): boolean {
  const n = end - start;
  if (n === 0 || n > DECIMAL_DIGITS_MAX) return false;
  const first = src[start] as number;
  if (first < 48 || first > 57) return false;
  if (first === 48 && n > 1 && src[start + 1] !== 46 /* . */) return false;
  let dot = false;
  for (let i = start + 1; i < end; i++) {
    const c = src[i] as number;
    if (c === 46) {
      if (dot || i === end - 1) return false;
      dot = true;
    } else if (c < 48 || c > 57) return false;
  }
  return true;
}

/** 6-bit value of each base64 character; 255 = not in the standard alphabet. */
const BASE64_VALUE = new Uint8Array(128).fill(255);
for (let i = 0; i < 64; i++) {
  BASE64_VALUE['ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/'.charCodeAt(i)] = i;
}

/** True for canonical padded standard base64 (RFC 4648 §4): the form Buffer writes. */
function isStrictBase64(s: string): boolean {
  const n = s.length;
  if (n % 4 !== 0) return false;
  let pad = 0;
  if (n > 0 && s.charCodeAt(n - 1) === 61 /* = */) pad = s.charCodeAt(n - 2) === 61 ? 2 : 1;
  const end = n - pad;
  for (let i = 0; i < end; i++) {
    const c = s.charCodeAt(i);
    if (c >= 128 || BASE64_VALUE[c] === 255) return false;
  }
  // Unused low bits of the last character must be zero, or two texts decode to the same bytes.
  if (pad === 2) return ((BASE64_VALUE[s.charCodeAt(end - 1)] as number) & 0x0f) === 0;
  if (pad === 1) return ((BASE64_VALUE[s.charCodeAt(end - 1)] as number) & 0x03) === 0;
  return true;
}

/** Bytes from a strict base64 string. */
export function normalizeBytes(v: unknown, limits: ValueLimits): Buffer | ValueProblem {
  if (typeof v !== 'string') return new ValueProblem(TYPE, `expected a base64 string, got ${typeName(v)}`);
  if (v.length > limits.stringBytesMax) return new ValueProblem(TOO_LONG, `base64 text longer than ${limits.stringBytesMax} bytes`);
  if (!isStrictBase64(v)) return new ValueProblem(FORMAT, 'expected standard padded base64 (A-Z a-z 0-9 + /, = padding)');
  return Buffer.from(v, 'base64');
}

/**
 * True when `v` is a JSON value nested at most `depthMax - depth` levels
 * deeper. Recursion depth is bounded by `depthMax`, so hostile input cannot
 * overflow the stack here.
 */
export function isJsonWithin(v: unknown, depth: number, depthMax: number): boolean {
  switch (typeof v) {
    case 'string':
    case 'boolean':
      return true;
    case 'number':
      return Number.isFinite(v);
    case 'object': {
      if (v === null) return true;
      if (depth >= depthMax) return false;
      if (Array.isArray(v)) {
        for (let i = 0; i < v.length; i++) if (!isJsonWithin(v[i], depth + 1, depthMax)) return false;
        return true;
      }
      const o = v as Record<string, unknown>;
      for (const k in o) if (!isJsonWithin(o[k], depth + 1, depthMax)) return false;
      return true;
    }
    default:
      return false;
  }
}

/** Where and why `v` fails `isJsonWithin` (slow path, errors only). */
function jsonProblem(v: unknown, path: string, depth: number, depthMax: number): ValueProblem | undefined {
  if (typeof v === 'object' && v !== null) {
    if (depth >= depthMax) return new ValueProblem(DEPTH, `JSON nested deeper than ${depthMax} levels`, path);
    const entries: [string, unknown][] = Array.isArray(v) ? v.map((x, i) => [String(i), x]) : Object.entries(v);
    for (const [k, x] of entries) {
      const p = jsonProblem(x, `${path}/${pointerToken(k)}`, depth + 1, depthMax);
      if (p !== undefined) return p;
    }
    return undefined;
  }
  if (isJsonWithin(v, depth, depthMax)) return undefined;
  return new ValueProblem(TYPE, `not a JSON value (${typeof v === 'number' ? String(v) : typeof v})`, path);
}

/** Any JSON value within the depth limit (returned as is). */
export function normalizeJson(v: unknown, limits: ValueLimits): unknown {
  if (isJsonWithin(v, 0, limits.jsonDepthMax)) return v;
  return jsonProblem(v, '', 0, limits.jsonDepthMax) ?? new ValueProblem(TYPE, 'not a JSON value');
}

/** Normalizes one value of a field of `type` (see the file comment); a ValueProblem when refused. */
export function normalizeFieldValue(type: FieldType, v: unknown, limits: ValueLimits): unknown {
  switch (type) {
    case 'string': return normalizeString(v, limits);
    case 'int': return normalizeInt(v);
    case 'float': return normalizeFloat(v);
    case 'bool': return normalizeBool(v);
    case 'timestamp': return normalizeTimestamp(v);
    case 'decimal': return normalizeDecimal(v);
    case 'bytes': return normalizeBytes(v, limits);
    case 'json': return normalizeJson(v, limits);
  }
}

/** The JSON form of an int: a number when safe, else its decimal string (beyond 2^53 a JSON number would lose digits). */
export function intToJson(v: number | bigint): number | string {
  if (typeof v === 'number') return v;
  return v >= -9007199254740991n && v <= 9007199254740991n ? Number(v) : v.toString();
}

/** Base64 of stored bytes (Buffer or any Uint8Array a decoder hands back). */
export function bytesToBase64(v: Uint8Array): string {
  const buf = Buffer.isBuffer(v) ? v : Buffer.from(v.buffer, v.byteOffset, v.byteLength);
  return buf.toString('base64');
}

/** The JSON form of a normalized value of `type` (null stays null). */
export function fieldValueToJson(type: FieldType, v: unknown): JsonValue {
  if (v === null || v === undefined) return null;
  if (type === 'int') return intToJson(v as number | bigint);
  if (type === 'bytes') return bytesToBase64(v as Uint8Array);
  return v as JsonValue;
}
