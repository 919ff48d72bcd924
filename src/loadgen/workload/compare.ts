/**
 * Checks one record read back from sluice (`/export?format=ndjson`, a GET
 * by id) against the record the workload would generate for its `bench_id`.
 *
 * Sluice renders a record back (src/core/schema/render-record.ts) as: int a
 * number when safe, timestamp epoch ms, decimal its canonical string, json
 * the value, float the number, null for null; plus the system fields `_id`
 * and `_ingested_at`. The generator writes every value already in that form
 * (epoch-ms times, canonical decimals), so a correct read-back equals the
 * generated record field by field, with no conversion here.
 */
import type { JsonValue } from '../../core/schema/table-def.ts';
import { ID_FIELD, RUN_FIELD, type BenchTable } from './bench-table.ts';
import { benchRecord } from './generate.ts';
import type { WorkloadParams } from './params.ts';

/** Fields sluice adds to every record it renders; not part of the workload. */
export const SYSTEM_FIELDS: ReadonlySet<string> = new Set(['_id', '_ingested_at']);

/** The outcome of comparing one read-back record: its j (-1 when unreadable) and the first problem, if any. */
export interface RecordComparison {
  readonly j: number;
  readonly problem?: string;
}

/** Longest value text quoted in a problem, so one huge value cannot flood a report. */
const SHOWN_CHARS_MAX = 120;

function shown(v: unknown): string {
  const text = v === undefined ? 'nothing' : JSON.stringify(v);
  return text.length > SHOWN_CHARS_MAX ? `${text.slice(0, SHOWN_CHARS_MAX)}…` : text;
}

/** Deep equality of JSON values; object key order does not matter. */
export function sameJson(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return false;
  if (Array.isArray(a)) {
    if (!Array.isArray(b) || a.length !== b.length) return false;
    for (let i = 0; i < a.length; i++) if (!sameJson(a[i], b[i])) return false;
    return true;
  }
  if (Array.isArray(b)) return false;
  const ao = a as Record<string, unknown>;
  const bo = b as Record<string, unknown>;
  const keys = Object.keys(ao);
  if (keys.length !== Object.keys(bo).length) return false;
  for (const k of keys) if (!Object.hasOwn(bo, k) || !sameJson(ao[k], bo[k])) return false;
  return true;
}

/**
 * Compares `readBack` with the record its `bench_id` regenerates to;
 * `problem` names the first differing field (`field temperature: expected
 * 21.5, got 21.6`), a field sluice should not have, or a bad `bench_id`.
 */
export function compareRecord(p: WorkloadParams, table: BenchTable, readBack: Record<string, unknown>): RecordComparison {
  const j = readBack[ID_FIELD];
  if (typeof j !== 'number' || !Number.isSafeInteger(j) || j < 0) return { j: -1, problem: `field ${ID_FIELD}: expected a record number, got ${shown(j)}` };
  // A record of another run (a reused table) is not this run's record j, whatever its other fields say.
  if (readBack[RUN_FIELD] !== p.runId) return { j, problem: `field ${RUN_FIELD}: expected ${shown(p.runId)}, got ${shown(readBack[RUN_FIELD])}` };
  const expected: Record<string, JsonValue> = benchRecord(p, table, j);
  for (const name of table.fieldTypes.keys()) {
    if (!sameJson(expected[name], readBack[name])) return { j, problem: `field ${name}: expected ${shown(expected[name])}, got ${shown(readBack[name])}` };
  }
  for (const name of Object.keys(readBack)) {
    if (!table.fieldTypes.has(name) && !SYSTEM_FIELDS.has(name)) return { j, problem: `field ${name}: not in table ${table.name}, got ${shown(readBack[name])}` };
  }
  return { j };
}
