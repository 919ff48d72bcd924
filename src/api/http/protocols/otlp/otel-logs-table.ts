/**
 * The table OTLP log records land in (default `otel_logs`, `--otlp-logs-table`),
 * created on the first write with this definition. Records are routed by
 * the resource's `service.name`, ordered by event time in ms, and keep the
 * exact nanosecond time as a decimal string (ms would lose the last six
 * digits). docs/protocols.md documents every field.
 */
import { SluiceError } from '../../../../core/errors.ts';
import type { FieldType, TableDef } from '../../../../core/schema/table-def.ts';

/** The fields of an OTLP logs table, in order: name, type, required. */
export const OTEL_LOGS_FIELDS: readonly { readonly name: string; readonly type: FieldType; readonly required: boolean }[] = [
  { name: 'service_name', type: 'string', required: true },
  { name: 'time', type: 'timestamp', required: true },
  { name: 'time_unix_nano', type: 'string', required: true },
  { name: 'observed_time_unix_nano', type: 'string', required: false },
  { name: 'severity_number', type: 'int', required: false },
  { name: 'severity_text', type: 'string', required: false },
  { name: 'body', type: 'json', required: false },
  { name: 'trace_id', type: 'string', required: false },
  { name: 'span_id', type: 'string', required: false },
  { name: 'flags', type: 'int', required: false },
  { name: 'event_name', type: 'string', required: false },
  { name: 'attributes', type: 'json', required: false },
  { name: 'resource_attributes', type: 'json', required: false },
  { name: 'scope', type: 'json', required: false },
  { name: 'dropped_attributes_count', type: 'int', required: false },
];

const SHARD_KEY = 'service_name';
const TIME_FIELD = 'time';

/** The definition `ensureTable` creates the table `name` with. */
export function otelLogsTableDefinition(name: string): { readonly name: string } & Record<string, unknown> {
  return { name, shardKey: SHARD_KEY, timeField: TIME_FIELD, fields: OTEL_LOGS_FIELDS.map((f) => ({ ...f })) };
}

/**
 * Refuses (409 SCHEMA_INCOMPATIBLE) a table that OTLP records do not fit: an
 * operator may point OTLP at a table made by hand or evolved since, which
 * is fine as long as every OTLP field is there with its type, the keys are
 * the same and no other field is required without a default. Otherwise
 * every record would be refused one by one, which reads like bad input.
 */
export function checkOtelLogsTable(def: TableDef): void {
  const problems: { path: string; message: string }[] = [];
  const byName = new Map(def.fields.map((f) => [f.name, f]));
  for (const want of OTEL_LOGS_FIELDS) {
    const have = byName.get(want.name);
    if (have === undefined) problems.push({ path: `/fields/${want.name}`, message: `missing field ${want.name} (${want.type})` });
    else if (have.type !== want.type) problems.push({ path: `/fields/${want.name}`, message: `field ${want.name} is ${have.type}, OTLP logs need ${want.type}` });
  }
  const ours = new Set(OTEL_LOGS_FIELDS.map((f) => f.name));
  for (const f of def.fields) {
    if (!ours.has(f.name) && f.required && f.default === undefined) problems.push({ path: `/fields/${f.name}`, message: `required field ${f.name} has no default: OTLP records never carry it` });
  }
  if (def.shardKey !== SHARD_KEY) problems.push({ path: '/shardKey', message: `shardKey is ${def.shardKey}, OTLP logs need ${SHARD_KEY}` });
  if (def.timeField !== TIME_FIELD) problems.push({ path: '/timeField', message: `timeField is ${def.timeField ?? 'unset'}, OTLP logs need ${TIME_FIELD}` });
  if (problems.length === 0) return;
  throw new SluiceError('SCHEMA_INCOMPATIBLE', `table ${def.name} cannot take OTLP log records: ${problems[0]?.message}${problems.length > 1 ? ` (and ${problems.length - 1} more)` : ''}`, problems);
}
