/**
 * Checks the `fields` list a user sends, shared by table creation
 * (`parseTableDef`) and schema evolution (`evolveSchema`). It checks shape
 * only; ids and alias expiries are decided by the caller, which knows whether
 * a field is new.
 */
import { FIELD_TYPES, KEY_FIELD_TYPES, type FieldDef, type FieldType, type JsonValue } from './table-def.ts';
import { fieldValueToJson, normalizeFieldValue, ValueProblem, type ValueLimits } from './field-value.ts';
import type { ErrorDetail } from '../errors.ts';

/** A field name: letters, digits, `_`, not starting with a digit, at most 63 characters. */
export const FIELD_NAME_RE = /^[A-Za-z_][A-Za-z0-9_]{0,62}$/;

/** An alias as the user sent it; `expiresAtMs` only when echoed back from a described table. */
export interface AliasSpec {
  readonly name: string;
  readonly expiresAtMs?: number;
}

/** One field as the user sent it, checked. */
export interface FieldSpec {
  readonly name: string;
  readonly type: FieldType;
  readonly required: boolean;
  /** The default in its normalized JSON form (e.g. a timestamp default becomes epoch ms). */
  readonly default?: JsonValue;
  readonly aliases: readonly AliasSpec[];
  /** Only in a schema patch: the id from a described table, cross-checked by the caller. */
  readonly id?: number;
  /** JSON pointer of this field in the request, for error details. */
  readonly path: string;
}

/** Collects definition problems, bounded so a hostile definition cannot flood the answer. */
export class DefinitionProblems {
  readonly list: ErrorDetail[] = [];
  private readonly problemsMax: number;
  constructor(problemsMax = 100) {
    this.problemsMax = problemsMax;
  }
  add(path: string, message: string): void {
    if (this.list.length < this.problemsMax) this.list.push({ path, message });
  }
  get isEmpty(): boolean {
    return this.list.length === 0;
  }
}

export interface FieldSpecOptions extends ValueLimits {
  /** At most this many fields per table. */
  readonly fieldsMax: number;
  /** At most this many aliases per field. */
  readonly aliasesMax: number;
  /** A schema patch may carry `id` and alias objects (a described table sent back). */
  readonly isPatch: boolean;
}

const CREATE_KEYS = new Set(['name', 'type', 'required', 'default', 'aliases']);
// A patch may echo a described table: `id` is cross-checked, `initialDefault` is server-managed and ignored.
const PATCH_KEYS = new Set([...CREATE_KEYS, 'id', 'initialDefault']);

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Problem text for a bad field or alias name, or undefined when it is fine. */
export function fieldNameProblem(name: unknown): string | undefined {
  if (typeof name !== 'string') return 'must be a string';
  if (!FIELD_NAME_RE.test(name)) return 'must match ^[A-Za-z_][A-Za-z0-9_]{0,62}$';
  if (name.startsWith('_')) return 'names starting with _ are reserved for system fields (_id, _ingested_at)';
  return undefined;
}

function parseAliases(raw: unknown, path: string, ownName: string, options: FieldSpecOptions, problems: DefinitionProblems): AliasSpec[] {
  if (raw === undefined) return [];
  if (!Array.isArray(raw)) {
    problems.add(path, 'aliases must be an array of names');
    return [];
  }
  if (raw.length > options.aliasesMax) problems.add(path, `at most ${options.aliasesMax} aliases per field`);
  const out: AliasSpec[] = [];
  raw.slice(0, options.aliasesMax).forEach((a: unknown, i) => {
    const p = `${path}/${i}`;
    let spec: AliasSpec | undefined;
    if (typeof a === 'string') spec = { name: a };
    else if (options.isPatch && isPlainObject(a) && typeof a.name === 'string' && Object.keys(a).every((k) => k === 'name' || k === 'expiresAtMs')) {
      spec = Number.isSafeInteger(a.expiresAtMs) ? { name: a.name, expiresAtMs: a.expiresAtMs as number } : { name: a.name };
    }
    if (spec === undefined) return problems.add(p, options.isPatch ? 'an alias is a name or {name, expiresAtMs}' : 'an alias is a field name string');
    const bad = fieldNameProblem(spec.name);
    if (bad !== undefined) return problems.add(p, `alias ${bad}`);
    if (spec.name === ownName) return problems.add(p, 'an alias cannot repeat the field name');
    out.push(spec);
  });
  return out;
}

function parseDefault(raw: unknown, type: FieldType, required: boolean, path: string, options: FieldSpecOptions, problems: DefinitionProblems): JsonValue | undefined {
  if (raw === undefined) return undefined;
  if (raw === null) {
    if (required) problems.add(path, 'a required field cannot default to null');
    return undefined;
  }
  const v = normalizeFieldValue(type, raw, options);
  if (v instanceof ValueProblem) {
    problems.add(path + v.subPath, `default is not a valid ${type}: ${v.message}`);
    return undefined;
  }
  return fieldValueToJson(type, v);
}

function parseOneField(raw: unknown, path: string, options: FieldSpecOptions, problems: DefinitionProblems): FieldSpec | undefined {
  if (!isPlainObject(raw)) {
    problems.add(path, 'a field is an object like {"name": "amount", "type": "decimal"}');
    return undefined;
  }
  const allowed = options.isPatch ? PATCH_KEYS : CREATE_KEYS;
  for (const k of Object.keys(raw)) if (!allowed.has(k)) problems.add(`${path}/${k}`, `unknown field property ${JSON.stringify(k)}`);
  const nameProblem = fieldNameProblem(raw.name);
  if (nameProblem !== undefined) problems.add(`${path}/name`, `field name ${nameProblem}`);
  const typeOk = typeof raw.type === 'string' && (FIELD_TYPES as readonly string[]).includes(raw.type);
  if (!typeOk) problems.add(`${path}/type`, `type must be one of ${FIELD_TYPES.join(', ')}`);
  if (raw.required !== undefined && typeof raw.required !== 'boolean') problems.add(`${path}/required`, 'required must be true or false');
  if (raw.id !== undefined && !(Number.isSafeInteger(raw.id) && (raw.id as number) > 0)) problems.add(`${path}/id`, 'id must be a positive integer');
  if (nameProblem !== undefined || !typeOk) return undefined;
  const name = raw.name as string;
  const type = raw.type as FieldType;
  const required = raw.required === true;
  const def = parseDefault(raw.default, type, required, `${path}/default`, options, problems);
  const aliases = parseAliases(raw.aliases, `${path}/aliases`, name, options, problems);
  return {
    name,
    type,
    required,
    ...(def !== undefined ? { default: def } : {}),
    aliases,
    ...(typeof raw.id === 'number' ? { id: raw.id } : {}),
    path,
  };
}

/** Checks a `fields` list: shapes, names, types, defaults, and no name or alias used twice. */
export function parseFieldSpecs(raw: unknown, path: string, options: FieldSpecOptions, problems: DefinitionProblems): FieldSpec[] {
  if (!Array.isArray(raw) || raw.length === 0) {
    problems.add(path, 'fields must be a non-empty array');
    return [];
  }
  if (raw.length > options.fieldsMax) {
    problems.add(path, `at most ${options.fieldsMax} fields per table`);
    return [];
  }
  const specs: FieldSpec[] = [];
  const seen = new Map<string, string>();
  raw.forEach((f: unknown, i) => {
    const spec = parseOneField(f, `${path}/${i}`, options, problems);
    if (spec === undefined) return;
    for (const [n, p] of [[spec.name, `${spec.path}/name`], ...spec.aliases.map((a, j) => [a.name, `${spec.path}/aliases/${j}`])] as [string, string][]) {
      const first = seen.get(n);
      if (first !== undefined) problems.add(p, `name ${JSON.stringify(n)} is already used at ${first}`);
      else seen.set(n, p);
    }
    specs.push(spec);
  });
  return specs;
}

/** Checks that `name` designates a field usable as the table's `role` key (type and required). */
export function checkKeyField(role: string, name: unknown, fields: readonly Pick<FieldDef, 'name' | 'type' | 'required'>[], path: string, problems: DefinitionProblems): void {
  if (typeof name !== 'string') return problems.add(path, `${role} must be a field name`);
  const f = fields.find((x) => x.name === name);
  if (f === undefined) return problems.add(path, `${role} ${JSON.stringify(name)} is not a field of the table`);
  if (!KEY_FIELD_TYPES.includes(f.type)) return problems.add(path, `${role} must be of type ${KEY_FIELD_TYPES.join(', ')}, not ${f.type}`);
  if (!f.required) problems.add(path, `${role} field ${JSON.stringify(name)} must be required`);
}

/** Checks that `name` designates a timestamp field. */
export function checkTimeField(name: unknown, fields: readonly Pick<FieldDef, 'name' | 'type'>[], path: string, problems: DefinitionProblems): void {
  if (typeof name !== 'string') return problems.add(path, 'timeField must be a field name');
  const f = fields.find((x) => x.name === name);
  if (f === undefined) return problems.add(path, `timeField ${JSON.stringify(name)} is not a field of the table`);
  if (f.type !== 'timestamp') problems.add(path, `timeField must be of type timestamp, not ${f.type}`);
}
