/**
 * The shape of a built-in bench table: four common fields the engine and the
 * verifier rely on, then payload fields, each drawn by its own generator.
 *
 * Every record starts with
 *   bench_run  string     the run id (WorkloadParams.runId)
 *   bench_id   int        the record's global number j
 *   <shardKey> string     one of keysPerTable keys, `<keyPrefix>000123`
 *   ts         timestamp  the event time (eventTimeMs), the table's timeField
 * so verify can map a read-back record to j and check per-key time order.
 *
 * Invariant of generators: a string they return contains no character JSON
 * escapes (quote, backslash, control characters), so `batchBody` writes it
 * between quotes as it is; the test that parses every body line checks it.
 */
import assert from 'node:assert/strict';
import type { FieldType, JsonValue } from '../../core/schema/table-def.ts';
import type { WorkloadParams } from './params.ts';

/** Name of the field holding the run id. */
export const RUN_FIELD = 'bench_run';
/** Name of the field holding the record number j. */
export const ID_FIELD = 'bench_id';
/** Name of every bench table's time field. */
export const TIME_FIELD = 'ts';

/** One generated field after the common four. */
export interface PayloadField {
  readonly name: string;
  /** Any type but bytes (never generated). */
  readonly type: Exclude<FieldType, 'bytes'>;
  readonly required: boolean;
  /** Record j's value; draws only from streams s … s+7 (streams.ts). */
  readonly gen: (p: WorkloadParams, j: number, s: number) => JsonValue;
}

/** One field of a `POST /v1/tables` body. */
export interface FieldDefinition {
  readonly name: string;
  readonly type: FieldType;
  readonly required: boolean;
}

/** The JSON body of `POST /v1/tables` for a bench table. */
export interface TableDefinitionBody {
  readonly name: string;
  readonly shardKey: string;
  readonly timeField: string;
  readonly primaryKey?: string;
  readonly fields: readonly FieldDefinition[];
}

/** A built-in bench table. */
export interface BenchTable {
  /** Sluice table name, `bench_<group>_<kind>` (or `bench_payments`). */
  readonly name: string;
  /** The `--mix` name, `<group>.<kind>` (or `payments`). */
  readonly shortName: string;
  readonly group: string;
  /** Shard key field (a string). */
  readonly shardKey: string;
  /** Shard keys are `keyPrefix` + a zero-padded number below keysPerTable. */
  readonly keyPrefix: string;
  /** Event-time field: always TIME_FIELD. */
  readonly timeField: string;
  readonly primaryKey?: string;
  readonly payload: readonly PayloadField[];
  /** `,"<name>":` of each payload field, for batchBody. */
  readonly payloadPrefixes: readonly string[];
  /** Type of every field by name, common ones included. */
  readonly fieldTypes: ReadonlyMap<string, FieldType>;
  /** The body to create the table with. */
  readonly definition: TableDefinitionBody;
}

/** What a table module declares; `benchTable` derives the rest. */
export interface BenchTableSpec {
  readonly group: string;
  /** `reading`, `app`, …; empty for a table that is its whole group (payments). */
  readonly kind: string;
  readonly shardKey: string;
  readonly keyPrefix: string;
  readonly primaryKey?: string;
  readonly payload: readonly PayloadField[];
}

const SAFE_NAME_RE = /^[a-z][a-z0-9_]*$/;

/** Builds a bench table (its definition, names and prefixes) from its spec. */
export function benchTable(spec: BenchTableSpec): BenchTable {
  assert(SAFE_NAME_RE.test(spec.group) && (spec.kind === '' || SAFE_NAME_RE.test(spec.kind)), 'bench table names are lower-case identifiers');
  const name = spec.kind === '' ? `bench_${spec.group}` : `bench_${spec.group}_${spec.kind}`;
  const fields: FieldDefinition[] = [
    { name: RUN_FIELD, type: 'string', required: true },
    { name: ID_FIELD, type: 'int', required: true },
    { name: spec.shardKey, type: 'string', required: true },
    { name: TIME_FIELD, type: 'timestamp', required: true },
    ...spec.payload.map((f) => ({ name: f.name, type: f.type, required: f.required })),
  ];
  const names = fields.map((f) => f.name);
  assert(new Set(names).size === names.length, `${name}: a field name is used twice`);
  // Field names enter bodies unescaped.
  for (const n of names) assert(SAFE_NAME_RE.test(n), `${name}: field name ${n} is not a lower-case identifier`);
  assert(spec.primaryKey === undefined || spec.payload.some((f) => f.name === spec.primaryKey && f.type === 'string' && f.required), `${name}: primaryKey must be a required string payload field`);
  return {
    name,
    shortName: spec.kind === '' ? spec.group : `${spec.group}.${spec.kind}`,
    group: spec.group,
    shardKey: spec.shardKey,
    keyPrefix: spec.keyPrefix,
    timeField: TIME_FIELD,
    ...(spec.primaryKey !== undefined ? { primaryKey: spec.primaryKey } : {}),
    payload: spec.payload,
    payloadPrefixes: spec.payload.map((f) => `,"${f.name}":`),
    fieldTypes: new Map(fields.map((f) => [f.name, f.type])),
    definition: {
      name,
      shardKey: spec.shardKey,
      timeField: TIME_FIELD,
      ...(spec.primaryKey !== undefined ? { primaryKey: spec.primaryKey } : {}),
      fields,
    },
  };
}
