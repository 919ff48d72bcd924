/**
 * A table's write limits (DESIGN §7, "Limits per table"): a rate and burst
 * of records and of bytes (token buckets, as Loki and Mimir limit a
 * tenant), and how far ahead of the server clock an event time may be
 * (Kafka 4.0's `message.timestamp.after.max.ms`). They are settings, not
 * schema: given with the definition (`POST /v1/tables`, key `limits`),
 * changed by `PATCH /v1/tables/{t}` as a JSON merge patch (a null removes a
 * setting), and kept beside the schema versions, so a change never makes
 * a new schema version.
 *
 * Stored as the user gave them; `effectiveLimits` fills in the defaults
 * (a burst of one second at the rate, the node's event-time bound), so a
 * later change of the rate or of the node default applies to tables that
 * never named a burst or a bound.
 */
import { SluiceError } from '../errors.ts';
import { DefinitionProblems } from './parse-field-specs.ts';

/** A table's limits as stored; absent: no limit (rates) or the default (bursts, event-time bound). */
export interface TableLimits {
  /** Records written per second, on average. */
  readonly recordsPerSecond?: number;
  /** Records one request (or a quick run of them) may take at once. @default one second at recordsPerSecond */
  readonly recordsBurst?: number;
  /** Request body bytes (after decompression) per second, on average. */
  readonly bytesPerSecond?: number;
  /** Body bytes one request may take at once. @default one second at bytesPerSecond */
  readonly bytesBurst?: number;
  /** How far an event time may be ahead of the server clock, ms. @default the node's `eventTimeAheadMsMax` (1 h) */
  readonly eventTimeAheadMsMax?: number;
}

/** The limits that apply to writes: every default filled in. */
export interface EffectiveLimits {
  readonly records?: { readonly perSecond: number; readonly burst: number };
  readonly bytes?: { readonly perSecond: number; readonly burst: number };
  readonly eventTimeAheadMsMax: number;
}

/** Inclusive bounds of each setting (config.ts holds the values). */
export type TableLimitBounds = { readonly [K in keyof Required<TableLimits>]: readonly [number, number] };

const KEYS = ['recordsPerSecond', 'recordsBurst', 'bytesPerSecond', 'bytesBurst', 'eventTimeAheadMsMax'] as const satisfies readonly (keyof TableLimits)[];
/** Settings that count whole things (records, bytes, ms): integers. A rate may be fractional (one record every ten seconds). */
const INTEGER_KEYS: ReadonlySet<keyof TableLimits> = new Set(['recordsBurst', 'bytesBurst', 'eventTimeAheadMsMax']);
const UNITS: Readonly<Record<keyof TableLimits, string>> = {
  recordsPerSecond: 'records per second',
  recordsBurst: 'records',
  bytesPerSecond: 'bytes per second',
  bytesBurst: 'bytes',
  eventTimeAheadMsMax: 'ms',
};

/** Checks the `limits` of a table definition; adds each problem (with `path`) to `problems`. */
export function parseTableLimits(raw: unknown, path: string, bounds: TableLimitBounds, problems: DefinitionProblems): TableLimits {
  if (raw === undefined) return {};
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
    problems.add(path, `limits is an object with any of ${KEYS.join(', ')}`);
    return {};
  }
  const out: Record<string, number> = {};
  for (const [k, v] of Object.entries(raw)) {
    if (!(KEYS as readonly string[]).includes(k)) {
      problems.add(`${path}/${k}`, `unknown limit ${JSON.stringify(k)}; limits are ${KEYS.join(', ')}`);
      continue;
    }
    const key = k as keyof TableLimits;
    const [min, max] = bounds[key];
    const whole = INTEGER_KEYS.has(key);
    if (typeof v !== 'number' || !Number.isFinite(v) || v < min || v > max || (whole && !Number.isInteger(v))) {
      problems.add(`${path}/${k}`, `${k} must be ${whole ? 'an integer' : 'a number'} from ${min} to ${max} (${UNITS[key]}), got ${JSON.stringify(v)}`);
      continue;
    }
    out[key] = v;
  }
  // A burst is the size of a rate's bucket: alone it limits nothing, and saying so beats ignoring it.
  if (out.recordsBurst !== undefined && out.recordsPerSecond === undefined) problems.add(`${path}/recordsBurst`, 'recordsBurst needs recordsPerSecond');
  if (out.bytesBurst !== undefined && out.bytesPerSecond === undefined) problems.add(`${path}/bytesBurst`, 'bytesBurst needs bytesPerSecond');
  return out as TableLimits;
}

/**
 * Applies a `PATCH /v1/tables/{t}` body's `limits` (JSON merge patch,
 * RFC 7396: a value sets, null removes) to `current`; throws
 * INVALID_TABLE_DEFINITION with every problem of the result.
 */
export function patchTableLimits(current: TableLimits, patch: unknown, bounds: TableLimitBounds): TableLimits {
  const problems = new DefinitionProblems();
  if (typeof patch !== 'object' || patch === null || Array.isArray(patch)) {
    throw new SluiceError('INVALID_TABLE_DEFINITION', 'invalid limits: /limits must be an object (a null value removes a limit)', [{ path: '/limits', message: 'limits is an object' }]);
  }
  const merged: Record<string, unknown> = { ...current };
  for (const [k, v] of Object.entries(patch)) {
    if (v === null) delete merged[k];
    else merged[k] = v;
  }
  const limits = parseTableLimits(merged, '/limits', bounds, problems);
  if (!problems.isEmpty) {
    const first = problems.list[0];
    throw new SluiceError('INVALID_TABLE_DEFINITION', `invalid limits: ${first?.path} ${first?.message}`, problems.list);
  }
  return limits;
}

/** The limits that apply: bursts default to one second at their rate (at least 1), the bound to the node's. */
export function effectiveLimits(limits: TableLimits | undefined, eventTimeAheadMsMaxDefault: number): EffectiveLimits {
  const l = limits ?? {};
  const burstOf = (rate: number, burst: number | undefined): number => burst ?? Math.max(1, Math.ceil(rate));
  return {
    ...(l.recordsPerSecond === undefined ? {} : { records: { perSecond: l.recordsPerSecond, burst: burstOf(l.recordsPerSecond, l.recordsBurst) } }),
    ...(l.bytesPerSecond === undefined ? {} : { bytes: { perSecond: l.bytesPerSecond, burst: burstOf(l.bytesPerSecond, l.bytesBurst) } }),
    eventTimeAheadMsMax: l.eventTimeAheadMsMax ?? eventTimeAheadMsMaxDefault,
  };
}

/** The limits as `GET /v1/tables/{t}` shows them: what applies, in the keys a definition uses. */
export function describeLimits(limits: TableLimits | undefined, eventTimeAheadMsMaxDefault: number): TableLimits {
  const e = effectiveLimits(limits, eventTimeAheadMsMaxDefault);
  return {
    ...(e.records === undefined ? {} : { recordsPerSecond: e.records.perSecond, recordsBurst: e.records.burst }),
    ...(e.bytes === undefined ? {} : { bytesPerSecond: e.bytes.perSecond, bytesBurst: e.bytes.burst }),
    eventTimeAheadMsMax: e.eventTimeAheadMsMax,
  };
}
