/**
 * Compiles a table definition, once per schema version, into one function
 * that validates and normalizes a JSON.parse'd record into positional values.
 *
 * Why generated code (`new Function`) rather than TypeBox's compiler: the job
 * is to normalize, not only to check — ints become bigint past 2^53,
 * timestamps become epoch ms, decimals are canonicalized, base64 becomes
 * bytes, aliases are resolved, and the output is a positional array. A
 * TypeBox `Check` would be a second pass before this work, and its error
 * paths would still need a third. The generated function reads each field by
 * a constant property name (monomorphic inline caches), inlines the common
 * cases (a short string, a safe integer, a boolean) and calls the helpers of
 * `field-value.ts` only for the rest. Measured on the 2-core dev machine
 * (Node 24, one core, 7-field record): 6–8 M records/s with epoch-ms times,
 * ≈6 M/s with ISO times, against ≈5–6 M/s for TypeBox's compiled `Check`
 * alone on the same record (no normalization). The throughput case in
 * `test/core/schema/compile-schema.test.ts` prints the figure.
 *
 * Safety of the generated source: field names are restricted to
 * `[A-Za-z_][A-Za-z0-9_]*` by the definition checks and still pass through
 * JSON.stringify into string literals; every other value (defaults, alias
 * expiries, helpers) enters as a closure argument, never as source text.
 */
import assert from 'node:assert/strict';
import { FIELD_TYPES, type FieldDef, type FieldType, type TableDef } from './table-def.ts';
import { VIOLATION_CODES, pointerToken, type Violation, type ViolationCode } from './violation.ts';
import {
  isJsonWithin,
  isPlainDecimal,
  normalizeBool,
  normalizeBytes,
  normalizeDecimal,
  normalizeFieldValue,
  normalizeFloat,
  normalizeInt,
  normalizeJson,
  normalizeString,
  normalizeTimestamp,
  TIMESTAMP_MS_MAX,
  ValueProblem,
  type ValueLimits,
} from './field-value.ts';
import { keyString } from './key-string.ts';

export { keyString } from './key-string.ts';
export type { Violation } from './violation.ts';

/** Limits of record validation. */
export interface CompileSchemaOptions {
  /** Nesting depth of `json` values and of kept extra fields. @default 32 */
  readonly jsonDepthMax?: number;
  /** UTF-8 bytes of one string (and of the base64 text of a bytes field). @default 1_048_576 (1 MiB) */
  readonly stringBytesMax?: number;
  /** Violations reported per record; the rest are dropped. @default 100 */
  readonly violationsMax?: number;
}

/** The defaults of `CompileSchemaOptions`. */
export const COMPILE_SCHEMA_DEFAULTS = {
  jsonDepthMax: 32,
  stringBytesMax: 1024 * 1024,
  violationsMax: 100,
} as const satisfies Required<CompileSchemaOptions>;

/** The outcome of normalizing one record. */
export type NormalizeResult = { ok: true; values: unknown[] } | { ok: false; errors: Violation[] };

/** A table definition compiled for validation. */
export interface CompiledSchema {
  readonly def: TableDef;
  /**
   * Validates and normalizes one JSON.parse'd record. Values are positional
   * in `def.fields` order, plus, when `extraFields` is 'keep', one trailing
   * element: an object of the extra fields, or null. Never throws on user input.
   *
   * `eventTimeMaxMs`: the latest event time accepted (the server clock plus
   * the table's bound, Kafka 4.0's message.timestamp.after.max.ms); a later
   * one is an EVENT_TIME_IN_FUTURE violation. A run-time argument, not a
   * compiled-in literal, so a change of the table's bound needs no
   * recompile; it costs one comparison per record. Absent: no bound.
   */
  normalize(input: unknown, nowMs: number, eventTimeMaxMs?: number): NormalizeResult;
  readonly shardKeyIndex: number;
  /** -1 when the table has no primary key. */
  readonly primaryKeyIndex: number;
  /** -1 when the table has no time field. */
  readonly timeIndex: number;
  /** Canonical shard key string of normalized values (see `keyString`). */
  shardKeyOf(values: readonly unknown[]): string;
  /** Canonical primary key string, or undefined when the table has none. */
  primaryKeyOf(values: readonly unknown[]): string | undefined;
  /** The limits values are checked against (the generated encoder checks the same). */
  readonly limits: ValueLimits;
  /** Each field's default, normalized (undefined: none), in `def.fields` order. */
  readonly defaults: readonly unknown[];
}

const { REQUIRED, TYPE, UNKNOWN_FIELD, RESERVED_FIELD, ALIAS_EXPIRED, DUPLICATE_FIELD, EVENT_TIME_IN_FUTURE } = VIOLATION_CODES;

type Normalizer = (input: unknown, nowMs: number, eventTimeMaxMs?: number) => NormalizeResult;

/** Everything the generated source refers to, passed in as arguments. */
interface GeneratedScope {
  readonly P: typeof ValueProblem;
  readonly hasOwn: (o: object, k: string) => boolean;
  readonly addErr: (errors: Violation[] | null, path: string, code: ViolationCode, message: string) => Violation[];
  readonly futureErr: (errors: Violation[] | null, path: string, time: number, eventTimeMaxMs: number, nowMs: number) => Violation[];
  readonly notObject: (input: unknown) => NormalizeResult;
  readonly extraErrors: (input: Record<string, unknown>, errors: Violation[] | null) => Violation[] | null;
  readonly collectExtras: (input: Record<string, unknown>) => Record<string, unknown> | null | typeof BAD_EXTRAS;
  readonly BAD_EXTRAS: typeof BAD_EXTRAS;
  readonly slow: Readonly<Record<FieldType, (v: unknown) => unknown>>;
  readonly D: readonly unknown[];
  readonly EXP: readonly number[];
  readonly plainDecimal: (v: string) => boolean;
}
const SCOPE_NAMES = ['P', 'hasOwn', 'addErr', 'futureErr', 'notObject', 'extraErrors', 'collectExtras', 'BAD_EXTRAS', 'slow', 'D', 'EXP', 'plainDecimal'] as const satisfies readonly (keyof GeneratedScope)[];

const BAD_EXTRAS: unique symbol = Symbol('bad extras');

function pathOf(name: string): string {
  return `/${pointerToken(name)}`;
}

function describeType(v: unknown): string {
  if (v === null) return 'null';
  return Array.isArray(v) ? 'array' : typeof v;
}

/** Source that reads own property `name` of `input` (prototype names like `constructor` must not leak in). */
export function readSource(name: string): string {
  const lit = JSON.stringify(name);
  return name in Object.prototype ? `(hasOwn(input, ${lit}) ? input[${lit}] : undefined)` : `input[${lit}]`;
}

/** Source of the inlined fast check and value of `type`; the slow helper covers everything else. */
export function fastPath(type: FieldType, limits: ValueLimits): { test: string; value: string } | undefined {
  switch (type) {
    case 'string':
      // length*3 bounds the UTF-8 bytes, so only long strings need byte counting (slow path).
      return { test: `typeof v === "string" && v.length <= ${Math.floor(limits.stringBytesMax / 3)} && v.isWellFormed()`, value: 'v' };
    case 'int':
      return { test: 'typeof v === "number" && Number.isSafeInteger(v)', value: 'v + 0' /* -0 → 0 */ };
    case 'timestamp':
      return { test: `typeof v === "number" && Number.isSafeInteger(v) && v >= ${-TIMESTAMP_MS_MAX} && v <= ${TIMESTAMP_MS_MAX}`, value: 'v + 0' };
    case 'float':
      return { test: 'typeof v === "number" && Number.isFinite(v)', value: 'v' };
    case 'bool':
      return { test: 'typeof v === "boolean"', value: 'v' };
    case 'decimal':
      return { test: 'typeof v === "string" && plainDecimal(v)', value: 'v' };
    default:
      return undefined;
  }
}

/** Generated source for one field: read (with aliases), then missing / null / fast / slow. */
function fieldSource(f: FieldDef, i: number, hasDefault: boolean, limits: ValueLimits, exp: number[], timeCheck: string): string {
  // The type is spliced into the source (`slow.${type}`), so it must be one of ours.
  assert((FIELD_TYPES as readonly string[]).includes(f.type), `unknown field type ${f.type}`);
  const path = JSON.stringify(pathOf(f.name));
  const lines: string[] = [];
  const aliases = f.aliases ?? [];
  lines.push(`v = ${readSource(f.name)}; p = ${path};${aliases.length > 0 ? ' bad = false;' : ''}`);
  lines.push('if (v !== undefined) seen++;');
  for (const a of aliases) {
    const ap = JSON.stringify(pathOf(a.name));
    const k = exp.push(a.expiresAtMs) - 1;
    lines.push(`a = ${readSource(a.name)};`);
    lines.push('if (a !== undefined) {');
    lines.push('  seen++;');
    lines.push(`  if (v !== undefined || bad) { bad = true; errors = addErr(errors, ${ap}, "${DUPLICATE_FIELD}", ${JSON.stringify(`field ${f.name} given twice (under its name and an alias)`)}); }`);
    lines.push(`  else if (nowMs >= EXP[${k}]) { bad = true; errors = addErr(errors, ${ap}, "${ALIAS_EXPIRED}", ${JSON.stringify(`${a.name} was renamed to ${f.name} and the old name is no longer accepted`)}); }`);
    lines.push(`  else { v = a; p = ${ap}; }`);
    lines.push('}');
  }
  let missing: string;
  if (hasDefault) missing = `f${i} = D[${i}];`;
  else if (f.required) missing = `errors = addErr(errors, p, "${REQUIRED}", "required field is missing");`;
  else missing = '';
  const onNull = f.required ? `errors = addErr(errors, p, "${REQUIRED}", "required field is null");` : '';
  const fast = fastPath(f.type, limits);
  const slow = `{ r = slow.${f.type}(v); if (r instanceof P) errors = addErr(errors, p + r.subPath, r.code, r.message); else f${i} = r; }`;
  // `bad`: an alias problem was already reported for this field.
  lines.push(`${aliases.length > 0 ? 'if (bad) {} else ' : ''}if (v === undefined) { ${missing} }`);
  lines.push(`else if (v === null) { ${onNull} }`);
  if (fast !== undefined) lines.push(`else if (${fast.test}) f${i} = ${fast.value};`);
  lines.push(`else ${slow}`);
  if (timeCheck !== '') lines.push(timeCheck.replaceAll('$F', `f${i}`));
  return lines.join('\n');
}

/** Compiles `def` into a record normalizer (see the file comment). */
export function compileSchema(def: TableDef, options: CompileSchemaOptions = {}): CompiledSchema {
  const opts = { ...COMPILE_SCHEMA_DEFAULTS, ...options };
  // These numbers are written into the generated source as literals.
  assert(Number.isSafeInteger(opts.stringBytesMax) && opts.stringBytesMax > 0, 'stringBytesMax must be a positive integer');
  assert(Number.isSafeInteger(opts.jsonDepthMax) && opts.jsonDepthMax > 0, 'jsonDepthMax must be a positive integer');
  assert(Number.isSafeInteger(opts.violationsMax) && opts.violationsMax > 0, 'violationsMax must be a positive integer');
  const limits: ValueLimits = { stringBytesMax: opts.stringBytesMax, jsonDepthMax: opts.jsonDepthMax };
  const fields = def.fields;
  const shardKeyIndex = fields.findIndex((f) => f.name === def.shardKey);
  assert(shardKeyIndex >= 0, `shardKey ${def.shardKey} is not a field of ${def.name}`);
  const primaryKeyIndex = def.primaryKey === undefined ? -1 : fields.findIndex((f) => f.name === def.primaryKey);
  assert(def.primaryKey === undefined || primaryKeyIndex >= 0, `primaryKey ${def.primaryKey} is not a field of ${def.name}`);
  const timeIndex = def.timeField === undefined ? -1 : fields.findIndex((f) => f.name === def.timeField);
  assert(def.timeField === undefined || timeIndex >= 0, `timeField ${def.timeField} is not a field of ${def.name}`);

  // Defaults are normalized once here; a bytes default (a Buffer) is shared by every record that takes it.
  const defaults = fields.map((f) => {
    if (f.default === undefined || f.default === null) return undefined;
    const v = normalizeFieldValue(f.type, f.default, limits);
    assert(!(v instanceof ValueProblem), `default of ${def.name}.${f.name} is not a valid ${f.type}`);
    return v;
  });

  const known = new Set<string>();
  for (const f of fields) {
    known.add(f.name);
    for (const a of f.aliases ?? []) known.add(a.name);
  }
  const keep = def.extraFields === 'keep';
  const scope = makeScope(limits, opts.violationsMax, opts.jsonDepthMax, known, keep, defaults);

  // The time field is a number (epoch ms) or null once normalized; `x > undefined` is false, so no bound means no refusal.
  const timeCheck = 'if ($F !== null && $F > tmax) errors = futureErr(errors, p, $F, tmax, nowMs);';
  const exp: number[] = [];
  const body: string[] = [
    'if (typeof input !== "object" || input === null || Array.isArray(input)) return notObject(input);',
    'let errors = null, v, a, r, p, bad, seen = 0;',
    fields.map((_, i) => `let f${i} = null;`).join(' '),
    ...fields.map((f, i) => fieldSource(f, i, defaults[i] !== undefined, limits, exp, i === timeIndex ? timeCheck : '')),
  ];
  if (keep) {
    body.push('let extras = null, n = 0;', 'for (const k in input) n++;');
    body.push('if (n !== seen) { extras = collectExtras(input); if (extras === BAD_EXTRAS) { extras = null; errors = extraErrors(input, errors); } }');
  } else {
    body.push('let n = 0;', 'for (const k in input) n++;', 'if (n !== seen) errors = extraErrors(input, errors);');
  }
  body.push('if (errors !== null) return { ok: false, errors };');
  body.push(`return { ok: true, values: [${[...fields.map((_, i) => `f${i}`), ...(keep ? ['extras'] : [])].join(', ')}] };`);

  const source = `"use strict";\nreturn function normalizeRecord(input, nowMs, tmax) {\n${body.join('\n')}\n};`;
  const fullScope = { ...scope, EXP: exp };
  const factory = new Function(...SCOPE_NAMES, source) as (...args: unknown[]) => Normalizer;
  const normalize = factory(...SCOPE_NAMES.map((n) => fullScope[n]));

  const shardKeyType = (fields[shardKeyIndex] as FieldDef).type;
  const primaryKeyType = primaryKeyIndex >= 0 ? (fields[primaryKeyIndex] as FieldDef).type : undefined;
  return {
    def,
    normalize,
    shardKeyIndex,
    primaryKeyIndex,
    timeIndex,
    shardKeyOf: (values) => keyString(values[shardKeyIndex], shardKeyType),
    primaryKeyOf: (values) => (primaryKeyType === undefined ? undefined : keyString(values[primaryKeyIndex], primaryKeyType)),
    limits,
    defaults,
  };
}


/** Each type's full normalizer (what the generated code calls off its fast path), bound to `limits`. */
export function slowNormalizers(limits: ValueLimits): Readonly<Record<FieldType, (v: unknown) => unknown>> {
  return {
    string: (v) => normalizeString(v, limits),
    int: normalizeInt,
    float: normalizeFloat,
    bool: normalizeBool,
    timestamp: normalizeTimestamp,
    decimal: normalizeDecimal,
    bytes: (v) => normalizeBytes(v, limits),
    json: (v) => normalizeJson(v, limits),
  };
}
/** The helpers the generated function calls; all bound to this schema's limits. */
function makeScope(
  limits: ValueLimits,
  violationsMax: number,
  jsonDepthMax: number,
  known: ReadonlySet<string>,
  keep: boolean,
  defaults: readonly unknown[],
): Omit<GeneratedScope, 'EXP'> {
  const addErr = (errors: Violation[] | null, path: string, code: ViolationCode, message: string): Violation[] => {
    const list = errors ?? [];
    if (list.length < violationsMax) list.push({ path, code, message });
    return list;
  };
  const extraErrors = (input: Record<string, unknown>, errors: Violation[] | null): Violation[] | null => {
    let list = errors;
    for (const k in input) {
      if (known.has(k)) continue;
      const path = pathOf(k);
      if (k.startsWith('_')) list = addErr(list, path, RESERVED_FIELD, 'names starting with _ are reserved for system fields (_id, _ingested_at)');
      else if (!keep) list = addErr(list, path, UNKNOWN_FIELD, 'field is not in the table schema');
      else {
        const r = normalizeJson(input[k], limits);
        if (r instanceof ValueProblem) list = addErr(list, path + r.subPath, r.code, r.message);
      }
      if (list !== null && list.length >= violationsMax) break;
    }
    return list;
  };
  const collectExtras = (input: Record<string, unknown>): Record<string, unknown> | null | typeof BAD_EXTRAS => {
    let extras: Record<string, unknown> | null = null;
    for (const k in input) {
      if (known.has(k)) continue;
      const v = input[k];
      if (k.charCodeAt(0) === 95 /* _ */ || !isJsonWithin(v, 0, jsonDepthMax)) return BAD_EXTRAS;
      (extras ??= {})[k] = v;
    }
    return extras;
  };
  const futureErr = (errors: Violation[] | null, path: string, time: number, eventTimeMaxMs: number, nowMs: number): Violation[] =>
    addErr(errors, path, EVENT_TIME_IN_FUTURE, `event time ${isoOf(time)} is more than ${eventTimeMaxMs - nowMs} ms ahead of the server clock (${isoOf(nowMs)}); the table's eventTimeAheadMsMax refuses it`);
  const notObject = (input: unknown): NormalizeResult => ({
    ok: false,
    errors: [{ path: '', code: TYPE, message: `a record must be a JSON object, got ${describeType(input)}` }],
  });
  return {
    P: ValueProblem,
    hasOwn: Object.hasOwn,
    addErr,
    futureErr,
    notObject,
    extraErrors,
    collectExtras,
    BAD_EXTRAS,
    slow: slowNormalizers(limits),
    D: defaults,
    plainDecimal: isPlainDecimal,
  };
}

/** An epoch-ms time as ISO-8601 (for messages), or the number when out of Date's range. */
function isoOf(ms: number): string {
  const d = new Date(ms);
  return Number.isNaN(d.getTime()) ? String(ms) : d.toISOString();
}
