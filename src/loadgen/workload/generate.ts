/**
 * Record j of a bench run, as an object (`benchRecord`, for verification)
 * or as NDJSON (`batchBody`, the hot path of the generator). Both read the
 * same generators, so they cannot drift; a test parses bodies back and
 * compares them with `benchRecord`.
 *
 * Why bodies are concatenated by hand: the generator shares two cores with
 * the server at ~60,000 records/s. Field names and the run id are written
 * once per table or batch, numbers with String() (the same shortest
 * round-trip text JSON.stringify writes, so JSON.parse gives back the same
 * double), strings between quotes as they are (generators never produce a
 * character JSON escapes, bench-table.ts); only json fields go through
 * JSON.stringify, and only their own small value.
 */
import type { FieldType, JsonValue } from '../../core/schema/table-def.ts';
import { checkWorkloadParams, type WorkloadParams } from './params.ts';
import { intBelow, intBetween, unit } from './prng.ts';
import { PAYLOAD_STREAM_BASE, PAYLOAD_STREAMS_PER_FIELD, STREAM } from './streams.ts';
import { ID_FIELD, RUN_FIELD, TIME_FIELD, type BenchTable } from './bench-table.ts';

export type { WorkloadParams } from './params.ts';

/** Digits of a shard key's number (`dev-000123`); more only when keysPerTable needs them. */
const KEY_DIGITS = 6;

/** True when record j's event time is skewed (a seeded fraction `outOfOrder` of records). */
export function isOutOfOrder(p: WorkloadParams, j: number): boolean {
  return unit(p.seed, STREAM.outOfOrder, j) < p.outOfOrder;
}

/** Record j's nominal time: when the schedule sends it, to the ms. */
export function nominalTimeMs(p: WorkloadParams, j: number): number {
  return p.t0Ms + Math.round((j * 1000) / p.recordsPerSecond);
}

/** The skew of record j in ms, uniform in [skewMinMs, skewMaxMs]; 0 when it is in order. */
export function skewMs(p: WorkloadParams, j: number): number {
  return isOutOfOrder(p, j) ? intBetween(p.seed, STREAM.skew, j, p.skewMinMs, p.skewMaxMs) : 0;
}

/** Record j's event time (the `ts` field): nominal time plus its skew. */
export function eventTimeMs(p: WorkloadParams, j: number): number {
  return nominalTimeMs(p, j) + skewMs(p, j);
}

/** Record j's shard key in `table`: one of keysPerTable keys, `<prefix>000123`. */
export function shardKeyOf(p: WorkloadParams, table: BenchTable, j: number): string {
  return table.keyPrefix + String(intBelow(p.seed, STREAM.key, j, p.keysPerTable)).padStart(KEY_DIGITS, '0');
}

/** First PRNG stream of payload field i (streams.ts). */
function streamOf(i: number): number {
  return PAYLOAD_STREAM_BASE + PAYLOAD_STREAMS_PER_FIELD * i;
}

/** Record j of `table` as the object a client sends (and, field by field, sluice renders back). */
export function benchRecord(p: WorkloadParams, table: BenchTable, j: number): Record<string, JsonValue> {
  const r: Record<string, JsonValue> = { [RUN_FIELD]: p.runId, [ID_FIELD]: j, [table.shardKey]: shardKeyOf(p, table, j), [TIME_FIELD]: eventTimeMs(p, j) };
  const payload = table.payload;
  for (let i = 0; i < payload.length; i++) {
    const f = payload[i] as BenchTable['payload'][number];
    r[f.name] = f.gen(p, j, streamOf(i));
  }
  return r;
}

/** JSON text of a generated value of `type` (see the file comment for why strings need no escaping). */
function valueText(type: FieldType, v: JsonValue): string {
  if (v === null) return 'null';
  switch (type) {
    case 'string':
    case 'decimal':
      return `"${v as string}"`;
    case 'json':
      return JSON.stringify(v);
    default:
      return String(v);
  }
}

/** NDJSON of records firstJ … firstJ+count-1 of `table`, one object per line, each line ending in \n. */
export function batchBody(p: WorkloadParams, table: BenchTable, firstJ: number, count: number): string {
  // Once per batch: the run id goes into the body unescaped, so it must be checked.
  checkWorkloadParams(p);
  const head = `{"${RUN_FIELD}":"${p.runId}","${ID_FIELD}":`;
  const keyHead = `,"${table.shardKey}":"`;
  const timeHead = `","${TIME_FIELD}":`;
  const payload = table.payload;
  const prefixes = table.payloadPrefixes;
  let out = '';
  for (let j = firstJ; j < firstJ + count; j++) {
    let line = head + j + keyHead + shardKeyOf(p, table, j) + timeHead + eventTimeMs(p, j);
    for (let i = 0; i < payload.length; i++) {
      const f = payload[i] as BenchTable['payload'][number];
      line += (prefixes[i] as string) + valueText(f.type, f.gen(p, j, streamOf(i)));
    }
    out += line + '}\n';
  }
  return out;
}
