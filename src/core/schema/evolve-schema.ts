/**
 * Schema evolution (`PATCH /v1/tables/{t}/schema`, DESIGN §1): the client
 * sends the full desired `fields` list; this diffs it against the current
 * definition and applies the rules, never rewriting stored data.
 *
 * Matching a desired field to a current one: by name, else by an alias that
 * names a current field (a rename). An `id` (from a described table sent
 * back) is only a cross-check of that match.
 *
 * | change                                   | outcome                                  |
 * |------------------------------------------|------------------------------------------|
 * | add an optional field                    | ok, id = lastFieldId + 1                 |
 * | add a required field                     | ok only with a default                   |
 * | rename (old name in `aliases`)           | ok, same id, the alias expires after TTL |
 * | drop an alias / add one                  | ok (a new alias gets a fresh expiry)     |
 * | type change                              | refused, except int→float, int→decimal   |
 * | optional → required                      | ok only with a default                   |
 * | required → optional                      | ok (not for key or time fields)          |
 * | change or add a default                  | ok: affects writes; old records keep     |
 * |                                          | reading the field's `initialDefault`     |
 * | remove an optional field                 | ok: its id is never reused, its stored   |
 * |                                          | values are simply no longer shown        |
 * | remove a required field                  | refused                                  |
 * | change shardKey / primaryKey / timeField | refused (also: their field's type,       |
 * |                                          | required-ness or existence); renaming    |
 * |                                          | the field is fine, the key follows it    |
 * | extraFields reject ↔ keep                | ok: a write policy; kept extras of old   |
 * |                                          | records still read back                  |
 *
 * Shape errors throw INVALID_TABLE_DEFINITION; rule violations throw
 * SCHEMA_INCOMPATIBLE (409), each with every problem found.
 */
import { isDeepStrictEqual } from 'node:util';
import { SluiceError } from '../errors.ts';
import type { ExtraFields, FieldAlias, FieldDef, FieldType, InvalidPolicy, JsonValue, TableDef } from './table-def.ts';
import { DefinitionProblems, parseFieldSpecs, type FieldSpec } from './parse-field-specs.ts';
import { TABLE_DEF_DEFAULTS, checkOnInvalid, throwIfProblems, type TableDefOptions } from './parse-table-def.ts';

/**
 * A patch may be a whole described table sent back: everything but `fields`
 * and `extraFields` must repeat the current value (`version` doubles as an
 * optimistic-concurrency check); `lastFieldId` is server-managed and ignored.
 */
const PATCH_KEYS = new Set(['fields', 'name', 'shardKey', 'primaryKey', 'timeField', 'replicationFactor', 'extraFields', 'version', 'lastFieldId', 'onInvalid', 'proto']);

const WIDENINGS: ReadonlySet<string> = new Set(['int>float', 'int>decimal']);

function isWidening(from: FieldType, to: FieldType): boolean {
  return WIDENINGS.has(`${from}>${to}`);
}

/**
 * A stored JSON value of type `from` in the JSON form of `to` (a widening or
 * no change). An initial default is read back in place of a value records
 * never had: after int → decimal it must be the decimal's string, as the
 * widened stored ints are (render-record.ts), or readers such as the Parquet
 * export's decimal column meet a number.
 */
function widenedJson(value: JsonValue | undefined, from: FieldType, to: FieldType): JsonValue | undefined {
  if (value === undefined || value === null || from === to) return value;
  if (from === 'int' && to === 'float') return Number(value);
  if (from === 'int' && to === 'decimal') return String(value);
  return value;
}

/** Which current field each desired field continues (undefined: a new field). */
function matchFields(current: TableDef, specs: readonly FieldSpec[], nowMs: number, problems: DefinitionProblems): (FieldDef | undefined)[] {
  const byName = new Map(current.fields.map((f) => [f.name, f]));
  const aliasOwner = new Map<string, number>();
  for (const f of current.fields) for (const a of f.aliases ?? []) if (nowMs < a.expiresAtMs) aliasOwner.set(a.name, f.id);
  return specs.map((spec) => {
    const named = byName.get(spec.name);
    const viaAlias = spec.aliases.flatMap((a) => byName.get(a.name) ?? []).filter((f) => f !== named);
    let match = named;
    if (named !== undefined && viaAlias.length > 0) {
      problems.add(`${spec.path}/aliases`, `alias ${JSON.stringify(viaAlias[0]?.name)} names another existing field; remove or rename that field first`);
    } else if (named === undefined && viaAlias.length > 1) {
      problems.add(`${spec.path}/aliases`, 'aliases name more than one existing field: a field can continue only one');
    } else if (named === undefined) match = viaAlias[0];
    for (const [j, a] of spec.aliases.entries()) {
      const owner = aliasOwner.get(a.name);
      if (owner !== undefined && owner !== match?.id) problems.add(`${spec.path}/aliases/${j}`, `alias ${JSON.stringify(a.name)} still belongs to another field`);
    }
    if (spec.id !== undefined && spec.id !== match?.id) {
      problems.add(`${spec.path}/id`, `id ${spec.id} does not match the field ${match === undefined ? 'being added' : `${JSON.stringify(match.name)} (id ${match.id})`}`);
    }
    return match;
  });
}

/** The ids of the key and time fields, which no change may touch. */
function keyFieldIds(current: TableDef): Map<number, string> {
  const roles = new Map<number, string>();
  const add = (name: string | undefined, role: string): void => {
    const f = name === undefined ? undefined : current.fields.find((x) => x.name === name);
    if (f !== undefined) roles.set(f.id, roles.has(f.id) ? `${roles.get(f.id)}/${role}` : role);
  };
  add(current.shardKey, 'shardKey');
  add(current.primaryKey, 'primaryKey');
  add(current.timeField, 'timeField');
  return roles;
}

/** Checks one continued field against DESIGN §1's rules. */
function checkContinued(cur: FieldDef, spec: FieldSpec, role: string | undefined, problems: DefinitionProblems): void {
  if (cur.type !== spec.type) {
    if (role !== undefined) problems.add(`${spec.path}/type`, `the ${role} field's type cannot change`);
    else if (!isWidening(cur.type, spec.type)) problems.add(`${spec.path}/type`, `type change ${cur.type} → ${spec.type} refused: only int → float and int → decimal widen safely`);
  }
  if (!cur.required && spec.required && spec.default === undefined) problems.add(`${spec.path}/required`, 'an optional field can become required only with a default');
  if (cur.required && !spec.required && role !== undefined) problems.add(`${spec.path}/required`, `the ${role} field must stay required`);
}

function aliasesOf(spec: FieldSpec, cur: FieldDef | undefined, nowMs: number, aliasTtlMs: number): FieldAlias[] {
  // An alias that already exists keeps its expiry: re-sending a described table never extends a grace period.
  return spec.aliases.map((a) => ({ name: a.name, expiresAtMs: cur?.aliases?.find((x) => x.name === a.name)?.expiresAtMs ?? nowMs + aliasTtlMs }));
}

/** Checks the top-level keys of a patch that may only repeat the current value. */
function checkTopLevel(current: TableDef, raw: Record<string, unknown>, invalid: DefinitionProblems, incompatible: DefinitionProblems): void {
  for (const k of Object.keys(raw)) if (!PATCH_KEYS.has(k)) invalid.add(`/${k}`, `unknown property ${JSON.stringify(k)}`);
  if (raw.name !== undefined && raw.name !== current.name) invalid.add('/name', 'a table cannot be renamed through its schema');
  if (raw.replicationFactor !== undefined && raw.replicationFactor !== current.replicationFactor) {
    invalid.add('/replicationFactor', 'replicationFactor is not part of the schema and cannot change here');
  }
  // A described proto-bound table shows its binding: sent back it must be the same one (JSON-equal, as stored).
  if (raw.proto !== undefined && !isDeepStrictEqual(raw.proto, JSON.parse(JSON.stringify(current.proto ?? null)))) {
    invalid.add('/proto', 'the protobuf binding is not part of a schema patch and cannot change here');
  }
  if (raw.extraFields !== undefined && raw.extraFields !== 'reject' && raw.extraFields !== 'keep') invalid.add('/extraFields', 'extraFields must be "reject" or "keep"');
  checkOnInvalid(current.name, raw.onInvalid, invalid);
  if (raw.version !== undefined && raw.version !== current.version) {
    incompatible.add('/version', `the table is at schema version ${current.version}, not ${String(raw.version)}: describe it again and retry`);
  }
}

/** The current key/time field's new name, checking that a given value designates the same field. */
function followRole(role: 'shardKey' | 'primaryKey' | 'timeField', current: TableDef, given: unknown, next: readonly FieldDef[], problems: DefinitionProblems): string | undefined {
  const curName = current[role];
  const curId = curName === undefined ? undefined : current.fields.find((f) => f.name === curName)?.id;
  const newName = curId === undefined ? undefined : next.find((f) => f.id === curId)?.name;
  if (given !== undefined && given !== newName && given !== curName) {
    problems.add(`/${role}`, curName === undefined ? `a ${role} cannot be added to an existing table` : `${role} cannot change (it is ${JSON.stringify(newName ?? curName)})`);
  }
  return newName;
}

/** Applies a schema patch to `current`; returns the new definition (version + 1), or `current` when nothing changes. */
export function evolveSchema(
  current: TableDef,
  patch: unknown,
  nowMs: number,
  aliasTtlMs: number = TABLE_DEF_DEFAULTS.aliasTtlMs,
  options: TableDefOptions = {},
): TableDef {
  const opts = { ...TABLE_DEF_DEFAULTS, ...options };
  const invalid = new DefinitionProblems();
  const incompatible = new DefinitionProblems();
  if (typeof patch !== 'object' || patch === null || Array.isArray(patch)) {
    invalid.add('', 'a schema patch is a JSON object like {"fields": [...]}');
    throwIfProblems(invalid, 'invalid schema patch');
  }
  const raw = patch as Record<string, unknown>;
  checkTopLevel(current, raw, invalid, incompatible);
  const specs = parseFieldSpecs(raw.fields, '/fields', { ...opts, isPatch: true }, invalid);
  throwIfProblems(invalid, 'invalid schema patch');
  const matches = matchFields(current, specs, nowMs, invalid);
  throwIfProblems(invalid, 'invalid schema patch');

  const roles = keyFieldIds(current);
  let lastFieldId = current.lastFieldId ?? Math.max(0, ...current.fields.map((f) => f.id));
  const fields = specs.map((spec, i): FieldDef => {
    const cur = matches[i];
    if (cur !== undefined) checkContinued(cur, spec, roles.get(cur.id), incompatible);
    else if (spec.required && spec.default === undefined) incompatible.add(spec.path, `new required field ${JSON.stringify(spec.name)} needs a default (old records read back with it)`);
    const aliases = aliasesOf(spec, cur, nowMs, aliasTtlMs);
    const initialDefault = cur === undefined ? spec.default : widenedJson(cur.initialDefault, cur.type, spec.type);
    return {
      id: cur?.id ?? ++lastFieldId,
      name: spec.name,
      type: spec.type,
      required: spec.required,
      ...(spec.default !== undefined ? { default: spec.default } : {}),
      ...(initialDefault !== undefined ? { initialDefault } : {}),
      ...(aliases.length > 0 ? { aliases } : {}),
    };
  });
  const kept = new Set(matches.flatMap((m) => (m === undefined ? [] : [m.id])));
  for (const f of current.fields) {
    if (kept.has(f.id)) continue;
    const role = roles.get(f.id);
    if (role !== undefined) incompatible.add('/fields', `the ${role} field ${JSON.stringify(f.name)} cannot be removed`);
    else if (f.required) incompatible.add('/fields', `required field ${JSON.stringify(f.name)} cannot be removed (make it optional first)`);
  }
  const shardKey = followRole('shardKey', current, raw.shardKey, fields, incompatible);
  const primaryKey = followRole('primaryKey', current, raw.primaryKey, fields, incompatible);
  const timeField = followRole('timeField', current, raw.timeField, fields, incompatible);
  if (!incompatible.isEmpty) {
    const first = incompatible.list[0];
    throw new SluiceError('SCHEMA_INCOMPATIBLE', `incompatible schema change: ${first?.path} ${first?.message}`, incompatible.list);
  }
  const candidate: TableDef = {
    name: current.name,
    fields,
    shardKey: shardKey as string, // the shard key field can be neither removed nor left unmatched (checked above)
    ...(timeField !== undefined ? { timeField } : {}),
    ...(primaryKey !== undefined ? { primaryKey } : {}),
    replicationFactor: current.replicationFactor,
    extraFields: (raw.extraFields as ExtraFields | undefined) ?? current.extraFields,
    version: current.version,
    // The message binding stays: a record decoded from it is then checked against the evolved fields.
    ...(current.proto !== undefined ? { proto: current.proto } : {}),
    // A write policy like extraFields: a patch may set it; otherwise it stays.
    ...((raw.onInvalid ?? current.onInvalid) !== undefined ? { onInvalid: (raw.onInvalid ?? current.onInvalid) as InvalidPolicy } : {}),
    ...(current.lastFieldId !== undefined || lastFieldId !== Math.max(0, ...current.fields.map((f) => f.id)) ? { lastFieldId } : {}),
  };
  if (isDeepStrictEqual(candidate, current)) return current;
  return { ...candidate, version: current.version + 1, lastFieldId };
}
