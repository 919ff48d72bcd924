/**
 * Reading back: turns the positional values of a record stored under schema
 * version `stored` into a plain JSON-ready object under version `current`.
 *
 * - Fields are matched by id, so a renamed field shows its new name.
 * - A field added after the record was written reads as its `initialDefault`
 *   (its default when it was added), or null when it had none. Null, not
 *   omitted: every record of a version has the same keys, whatever version it
 *   was written under, like a column in a table.
 * - A field removed since is not shown; its value stays on disk.
 * - int: a number when safe, else a decimal string (JSON numbers lose digits
 *   past 2^53); bytes: base64; timestamp: epoch ms; decimal: its string.
 * - Widened types: int → float becomes a number, int → decimal a string.
 * - Extra fields kept by an `extraFields: 'keep'` table are merged in after
 *   the declared fields; a declared field wins a name clash. A field
 *   declared after the record was written takes the kept extra of its name
 *   when its type accepts it (a write through a node behind on the schema
 *   kept it there).
 *
 * Compiled (`new Function`) once per (current, stored) pair; callers cache it.
 * The result is read-only by contract: a json default object may be shared.
 */
import assert from 'node:assert/strict';
import type { FieldDef, FieldType, JsonValue, TableDef } from './table-def.ts';
import { FIELD_NAME_RE } from './parse-field-specs.ts';
import { ValueProblem, bytesToBase64, fieldValueToJson, intToJson, normalizeFieldValue, type ValueLimits } from './field-value.ts';

/** Renders one stored record's values as a JSON-ready object. */
export type RecordRenderer = (values: readonly unknown[]) => Record<string, unknown>;

function intOrNull(v: unknown): JsonValue {
  return v === null || v === undefined ? null : intToJson(v as number | bigint);
}
function bytesOrNull(v: unknown): JsonValue {
  return v === null || v === undefined ? null : bytesToBase64(v as Uint8Array);
}
function intToFloat(v: unknown): JsonValue {
  return v === null || v === undefined ? null : Number(v as number | bigint);
}
function intToDecimal(v: unknown): JsonValue {
  return v === null || v === undefined ? null : String(v as number | bigint);
}

/** No bound when reading back: a kept value was within the node's limits when it was written. */
const READ_LIMITS: ValueLimits = { stringBytesMax: Number.POSITIVE_INFINITY, jsonDepthMax: Number.POSITIVE_INFINITY };

/**
 * The value kept as extra `name` in a record of an older version, as field
 * `type` of a later one that declares it: a write through a node behind on
 * the schema kept it there (decision 57). `fallback` when absent or when
 * the type refuses it (then it stays hidden, as any clash).
 */
function fromExtra(extras: unknown, name: string, type: FieldType, fallback: JsonValue): JsonValue {
  if (extras === null || typeof extras !== 'object' || !Object.hasOwn(extras, name)) return fallback;
  const v = normalizeFieldValue(type, (extras as Record<string, unknown>)[name], READ_LIMITS);
  return v instanceof ValueProblem || v === null || v === undefined ? fallback : fieldValueToJson(type, v);
}

const SCOPE = { intOrNull, bytesOrNull, intToFloat, intToDecimal, fromExtra, hasOwn: Object.hasOwn, clone: structuredClone };
const SCOPE_NAMES = Object.keys(SCOPE) as (keyof typeof SCOPE)[];

/** Source converting the stored value at `slot` from `from` to `to`. */
function convertSource(from: FieldType, to: FieldType, slot: number): string {
  const v = `values[${slot}]`;
  if (from === to) {
    if (to === 'int') return `intOrNull(${v})`;
    if (to === 'bytes') return `bytesOrNull(${v})`;
    return `(${v} ?? null)`;
  }
  if (from === 'int' && to === 'float') return `intToFloat(${v})`;
  if (from === 'int' && to === 'decimal') return `intToDecimal(${v})`;
  return assert.fail(`no conversion from ${from} to ${to}: evolveSchema refuses this change`);
}

/** Compiles the renderer of records stored under `stored` for readers of `current`. */
export function compileRenderer(current: TableDef, stored: TableDef): RecordRenderer {
  assert(current.name === stored.name, 'renderer across two tables');
  const storedById = new Map<number, { field: FieldDef; slot: number }>();
  stored.fields.forEach((field, slot) => storedById.set(field.id, { field, slot }));
  const constants: JsonValue[] = [];
  const keep = stored.extraFields === 'keep';
  const props = current.fields.map((f) => {
    // Names enter the source as object-literal keys: `__proto__` there would set the prototype.
    assert(FIELD_NAME_RE.test(f.name) && !f.name.startsWith('_'), `bad field name ${f.name}`);
    const hit = storedById.get(f.id);
    let value: string;
    if (hit !== undefined) value = convertSource(hit.field.type, f.type, hit.slot);
    else {
      const c = f.initialDefault ?? null;
      constants.push(c);
      value = typeof c === 'object' && c !== null ? `clone(C[${constants.length - 1}])` : `C[${constants.length - 1}]`;
      // Added after the record was written: a kept extra of its name is its value.
      if (keep) value = `fromExtra(x, ${JSON.stringify(f.name)}, ${JSON.stringify(f.type)}, ${value})`;
    }
    return `${JSON.stringify(f.name)}: ${value}`;
  });
  const lines = keep ? [`const x = values[${stored.fields.length}];`] : [];
  lines.push(`const o = { ${props.join(', ')} };`);
  if (keep) {
    lines.push('if (x !== null && x !== undefined) for (const k in x) if (k !== "__proto__" && !hasOwn(o, k)) o[k] = x[k];');
  }
  lines.push('return o;');
  const source = `"use strict";\nreturn function renderRecord(values) {\n${lines.join('\n')}\n};`;
  const factory = new Function(...SCOPE_NAMES, 'C', source) as (...args: unknown[]) => RecordRenderer;
  return factory(...SCOPE_NAMES.map((n) => SCOPE[n]), constants);
}
