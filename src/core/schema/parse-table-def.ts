/**
 * Checks a user's table definition (`POST /v1/tables`, DESIGN §1) and
 * returns the normalized `TableDef` at version 1. Every problem found is
 * reported at once, each with the JSON pointer of the offending input.
 */
import { SluiceError } from '../errors.ts';
import { DEAD_LETTER_SUFFIX, INVALID_POLICIES, type ExtraFields, type FieldDef, type InvalidPolicy, type JsonValue, type TableDef } from './table-def.ts';
import { bindProto, protoFields, type ProtoBinding } from './proto-schema.ts';
import { checkKeyField, checkTimeField, DefinitionProblems, parseFieldSpecs, type FieldSpec } from './parse-field-specs.ts';

/** A table name: a letter, then letters, digits or `_`, at most 63 characters. */
export const TABLE_NAME_RE = /^[A-Za-z][A-Za-z0-9_]{0,62}$/;

/** Limits and defaults of table definitions. */
export interface TableDefOptions {
  /** How long a field's old name keeps accepting writes after a rename. @default 604_800_000 (7 days) */
  readonly aliasTtlMs?: number;
  /** Fields per table. @default 1024 */
  readonly fieldsMax?: number;
  /** Aliases per field. @default 16 */
  readonly aliasesMax?: number;
  /** Highest replication factor a table may ask for. @default 7 */
  readonly replicationFactorMax?: number;
  /** Replication factor of a definition without one. @default 1 */
  readonly replicationFactorDefault?: number;
  /** Limits a field `default` is checked against (same as for records). @default 1 MiB */
  readonly stringBytesMax?: number;
  /** @default 32 */
  readonly jsonDepthMax?: number;
}

/** The defaults of `TableDefOptions`. */
export const TABLE_DEF_DEFAULTS = {
  aliasTtlMs: 7 * 24 * 3600 * 1000,
  fieldsMax: 1024,
  aliasesMax: 16,
  replicationFactorMax: 7,
  replicationFactorDefault: 1,
  stringBytesMax: 1024 * 1024,
  jsonDepthMax: 32,
} as const satisfies Required<TableDefOptions>;

const TOP_KEYS = new Set(['name', 'fields', 'shardKey', 'timeField', 'primaryKey', 'replicationFactor', 'extraFields', 'proto', 'onInvalid']);

/** Throws INVALID_TABLE_DEFINITION with every collected problem, if any. */
export function throwIfProblems(problems: DefinitionProblems, what = 'invalid table definition'): void {
  if (problems.isEmpty) return;
  const first = problems.list[0];
  const more = problems.list.length > 1 ? ` (and ${problems.list.length - 1} more)` : '';
  throw new SluiceError('INVALID_TABLE_DEFINITION', `${what}: ${first?.path} ${first?.message}${more}`, problems.list);
}

/** The stored form of a checked field spec. */
export function fieldDefOf(spec: FieldSpec, id: number, nowMs: number, aliasTtlMs: number): FieldDef {
  return {
    id,
    name: spec.name,
    type: spec.type,
    required: spec.required,
    ...(spec.default !== undefined ? { default: spec.default } : {}),
    ...(spec.aliases.length > 0 ? { aliases: spec.aliases.map((a) => ({ name: a.name, expiresAtMs: nowMs + aliasTtlMs })) } : {}),
  };
}

/** Checks a table definition and returns it normalized at version 1; throws INVALID_TABLE_DEFINITION. */
export function parseTableDef(input: unknown, nowMs: number, options: TableDefOptions = {}): TableDef {
  const opts = { ...TABLE_DEF_DEFAULTS, ...options };
  const problems = new DefinitionProblems();
  if (typeof input !== 'object' || input === null || Array.isArray(input)) {
    problems.add('', 'a table definition is a JSON object');
    throwIfProblems(problems);
  }
  const raw = input as Record<string, unknown>;
  for (const k of Object.keys(raw)) if (!TOP_KEYS.has(k)) problems.add(`/${k}`, `unknown property ${JSON.stringify(k)}`);
  if (typeof raw.name !== 'string' || !TABLE_NAME_RE.test(raw.name)) problems.add('/name', 'table name must match ^[A-Za-z][A-Za-z0-9_]{0,62}$');
  const proto = raw.proto === undefined ? undefined : protoOf(raw.proto, problems);
  // A table made from a message may leave `fields` out: they come from the message.
  const rawFields = raw.fields === undefined && proto !== undefined ? fieldsFromProto(proto, raw) : raw.fields;
  const specs = parseFieldSpecs(rawFields, '/fields', { ...opts, isPatch: false }, problems);
  const fields = specs.map((s, i) => fieldDefOf(s, i + 1, nowMs, opts.aliasTtlMs));
  if (specs.length > 0) {
    checkKeyField('shardKey', raw.shardKey, fields, '/shardKey', problems);
    if (raw.primaryKey !== undefined) checkKeyField('primaryKey', raw.primaryKey, fields, '/primaryKey', problems);
    if (raw.timeField !== undefined) checkTimeField(raw.timeField, fields, '/timeField', problems);
  }
  const rf = raw.replicationFactor === undefined ? opts.replicationFactorDefault : raw.replicationFactor;
  if (!Number.isSafeInteger(rf) || (rf as number) < 1 || (rf as number) > opts.replicationFactorMax) {
    problems.add('/replicationFactor', `replicationFactor must be an integer from 1 to ${opts.replicationFactorMax}`);
  }
  const extraFields = raw.extraFields === undefined ? 'reject' : raw.extraFields;
  if (extraFields !== 'reject' && extraFields !== 'keep') problems.add('/extraFields', 'extraFields must be "reject" or "keep"');
  checkOnInvalid(raw.name, raw.onInvalid, problems);
  throwIfProblems(problems);
  return {
    name: raw.name as string,
    fields,
    shardKey: raw.shardKey as string,
    ...(raw.timeField !== undefined ? { timeField: raw.timeField as string } : {}),
    ...(raw.primaryKey !== undefined ? { primaryKey: raw.primaryKey as string } : {}),
    replicationFactor: rf as number,
    extraFields: extraFields as ExtraFields,
    version: 1,
    lastFieldId: fields.length,
    ...(proto !== undefined ? { proto } : {}),
    ...(raw.onInvalid !== undefined ? { onInvalid: raw.onInvalid as InvalidPolicy } : {}),
  };
}

/** `onInvalid` is one of the policies; a dead-letter table cannot dead-letter (its letters would recurse). */
export function checkOnInvalid(name: unknown, value: unknown, problems: DefinitionProblems): void {
  if (value === undefined) return;
  if (typeof value !== 'string' || !(INVALID_POLICIES as readonly string[]).includes(value)) {
    problems.add('/onInvalid', `onInvalid must be one of ${INVALID_POLICIES.map((p) => JSON.stringify(p)).join(', ')}`);
  } else if (value === 'dead_letter' && typeof name === 'string' && name.endsWith(DEAD_LETTER_SUFFIX)) {
    problems.add('/onInvalid', 'a dead-letter table cannot itself dead-letter');
  } else if (value === 'dead_letter' && typeof name === 'string' && !TABLE_NAME_RE.test(name + DEAD_LETTER_SUFFIX)) {
    problems.add('/onInvalid', `the dead-letter table ${name}${DEAD_LETTER_SUFFIX} would pass the 63-character name limit`);
  }
}

/**
 * `proto`: `{message, source}` (.proto text, from a user) or
 * `{message, descriptor}` (already bound, e.g. a described table sent back).
 */
function protoOf(raw: unknown, problems: DefinitionProblems): ProtoBinding | undefined {
  const p = raw as { message?: unknown; source?: unknown; descriptor?: unknown } | null;
  if (typeof p !== 'object' || p === null || typeof p.message !== 'string' || (typeof p.source !== 'string' && (typeof p.descriptor !== 'object' || p.descriptor === null))) {
    problems.add('/proto', 'proto must be {"message": "pkg.Message", "source": ".proto text"} (or a "descriptor" instead of "source")');
    return undefined;
  }
  try {
    const binding = typeof p.source === 'string' ? bindProto(p.source, p.message) : { message: p.message, descriptor: p.descriptor as JsonValue };
    protoFields(binding);
    return binding;
  } catch (err) {
    problems.add('/proto', err instanceof Error ? err.message : String(err));
    return undefined;
  }
}

/** The message's fields; the key fields named in the definition are required (a record without them cannot be routed). */
function fieldsFromProto(proto: ProtoBinding, raw: Record<string, unknown>): unknown[] {
  const keys = new Set([raw.shardKey, raw.primaryKey].filter((k) => typeof k === 'string'));
  return protoFields(proto).map((f) => ({ name: f.name, type: f.type, required: keys.has(f.name) }));
}

/**
 * The default table behind `POST /ingest` (DESIGN §1): records routed by a
 * required `trace_id`, every other field kept as JSON.
 */
export const EVENTS_TABLE: TableDef = Object.freeze({
  name: 'events',
  fields: Object.freeze([Object.freeze({ id: 1, name: 'trace_id', type: 'string', required: true } as const)]),
  shardKey: 'trace_id',
  replicationFactor: 1,
  extraFields: 'keep',
  version: 1,
  lastFieldId: 1,
} as const);

/**
 * `current` with its `onInvalid` write policy set (null: back to the
 * default, reject), as the next schema version: the policy travels with
 * the definition, so every node of a cluster applies the same one.
 * INVALID_TABLE_DEFINITION for a value that is not a policy.
 */
export function withOnInvalid(current: TableDef, value: unknown): TableDef {
  const problems = new DefinitionProblems();
  if (value !== null) checkOnInvalid(current.name, value, problems);
  throwIfProblems(problems, 'invalid table settings');
  const next = value === null ? undefined : (value as InvalidPolicy);
  if (current.onInvalid === next) return current;
  const { onInvalid: _old, ...rest } = current;
  return { ...rest, ...(next === undefined ? {} : { onInvalid: next }), version: current.version + 1 };
}
