/**
 * The table definition types shared by every layer. Parsing and checking a
 * definition lives in `parse-table-def.ts`; this file only names the shapes.
 */

import type { ProtoBinding } from './proto-schema.ts';

/** The field types of DESIGN §1. */
export const FIELD_TYPES = ['string', 'int', 'float', 'bool', 'timestamp', 'decimal', 'bytes', 'json'] as const;
export type FieldType = (typeof FIELD_TYPES)[number];

/**
 * Types that may be a shard key or primary key: their normalized values have
 * one exact canonical string (`keyString`). float (NaN, -0, rounding), json
 * and bytes do not.
 */
export const KEY_FIELD_TYPES: readonly FieldType[] = ['string', 'int', 'decimal', 'timestamp', 'bool'];

/** Any JSON value (as produced by JSON.parse). */
export type JsonValue = null | boolean | number | string | JsonValue[] | { [key: string]: JsonValue };

/** An old name of a field, accepted on writes until it expires. */
export interface FieldAlias {
  readonly name: string;
  /** Epoch ms after which writes under this name are refused. */
  readonly expiresAtMs: number;
}

/** One field of a table. */
export interface FieldDef {
  /**
   * Stable id assigned by sluice when the field is added; it survives renames,
   * so a record written under an old schema version maps to the current one
   * by id, not by name (as Iceberg does).
   */
  readonly id: number;
  readonly name: string;
  readonly type: FieldType;
  readonly required: boolean;
  /** JSON default, used for writes that omit the field and for old records read back. */
  readonly default?: JsonValue;
  /**
   * What records written before this field existed read back as: the field's
   * default at the moment it was added by a schema change, fixed from then on
   * (Iceberg's `initial-default`), so changing `default` later never rewrites
   * history. Absent: such records read the field as null.
   */
  readonly initialDefault?: JsonValue;
  readonly aliases?: readonly FieldAlias[];
}

/** What a table does with fields that are not in its field list. */
export type ExtraFields = 'reject' | 'keep';

/**
 * What a write does with the records a table refuses when the request does
 * not say: refuse the whole request, store only the valid ones, or store the
 * valid ones and keep the refused ones in `<table>__dead_letters`.
 */
export const INVALID_POLICIES = ['reject', 'skip', 'dead_letter'] as const;
export type InvalidPolicy = (typeof INVALID_POLICIES)[number];

/** Suffix of a table's dead-letter table (`payments__dead_letters`). */
export const DEAD_LETTER_SUFFIX = '__dead_letters';

/** A table definition at one schema version. */
export interface TableDef {
  readonly name: string;
  readonly fields: readonly FieldDef[];
  /** Name of the field that routes records to shards. */
  readonly shardKey: string;
  /** Event-time field (type timestamp); range queries order by it. */
  readonly timeField?: string;
  /** Dedupe/upsert key field. */
  readonly primaryKey?: string;
  readonly replicationFactor: number;
  /** `keep` stores unknown fields as JSON (the schemaless `events` table); `reject` refuses them. */
  readonly extraFields: ExtraFields;
  /** Schema version, 1 at creation, +1 per accepted change. */
  readonly version: number;
  /**
   * Highest field id ever assigned, including removed fields, so a new field
   * never reuses the id of a removed one (old records still carry it).
   * Absent: the highest id in `fields`.
   */
  readonly lastFieldId?: number;
  /** The protobuf message binary sources may send instead of JSON (see proto-schema.ts). */
  readonly proto?: ProtoBinding;
  /** Default `on_invalid` of writes that do not name one (a write policy, not part of the schema). @default 'reject' */
  readonly onInvalid?: InvalidPolicy;
}
