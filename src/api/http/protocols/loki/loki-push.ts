/**
 * A decoded Loki push, whatever its encoding: streams of entries under one
 * label set each. Times are kept twice: the exact nanoseconds as a decimal
 * string (Loki's precision, which a float cannot hold) and epoch ms (the
 * table's time field, what range queries order by).
 */
import { SluiceError } from '../../../../core/errors.ts';
import type { LabelSet } from './loki-labels.ts';

/** One log entry. */
export interface LokiEntry {
  /** Nanoseconds since the epoch, a canonical decimal string (no sign, no leading zeros). */
  readonly tsNs: string;
  /** The same instant in epoch ms, rounded down. */
  readonly tsMs: number;
  readonly line: string;
  /** Structured metadata (names to values); empty when the entry has none. */
  readonly metadata: Readonly<Record<string, string>>;
}

/** One stream: a label set and its entries in arrival order. */
export interface LokiStream {
  readonly labels: LabelSet;
  readonly entries: readonly LokiEntry[];
}

/** Latest time a push may carry: the largest int64 of nanoseconds (2262-04-11), what Loki itself can hold. */
export const LOKI_TIME_NS_MAX = '9223372036854775807';
/** LOKI_TIME_NS_MAX as whole seconds and the nanoseconds past them, compared without a BigInt per entry. */
const MAX_SECONDS = 9_223_372_036;
const MAX_NANOS_AT_MAX_SECONDS = 854_775_807;

/** The metadata of an entry without any (shared, frozen: the record builder writes `{}` for it without serializing). */
export const NO_METADATA: Readonly<Record<string, string>> = Object.freeze({});
// Digits, leading zeros allowed (as Go's ParseInt reads them), bounded so BigInt never parses a huge string.
const NS_DIGITS_RE = /^[0-9]{1,32}$/;

/** A push-shape problem: 400 BAD_REQUEST naming where (`path`) and what. */
export function badPush(path: string, message: string): SluiceError {
  return new SluiceError('BAD_REQUEST', `invalid Loki push at ${path}: ${message}`, [{ path, message }]);
}

/** The entry time of a JSON push's nanosecond string; BAD_REQUEST unless it is a non-negative int64 in decimal. */
export function timeFromNsString(text: unknown, path: string): { tsNs: string; tsMs: number } {
  if (typeof text !== 'string') throw badPush(path, `the timestamp is ${text === null ? 'null' : typeof text}; it is a string of nanoseconds since the epoch (a number would lose precision)`);
  const tsNs = NS_DIGITS_RE.test(text) ? text.replace(/^0+(?=[0-9])/, '') : '';
  // Canonical decimals of equal length compare as strings do.
  if (tsNs === '' || tsNs.length > 19 || (tsNs.length === 19 && tsNs > LOKI_TIME_NS_MAX)) {
    throw badPush(path, `the timestamp ${JSON.stringify(text.slice(0, 40))} is not a non-negative int64 of nanoseconds`);
  }
  return { tsNs, tsMs: tsNs.length <= 6 ? 0 : Number(tsNs.slice(0, -6)) };
}

/** The entry time of a protobuf Timestamp; BAD_REQUEST when it is absent or outside 1970 … 2262. */
export function timeFromSecondsNanos(seconds: number, nanos: number, path: string): { tsNs: string; tsMs: number } {
  if (!Number.isSafeInteger(seconds) || seconds < 0 || !Number.isInteger(nanos) || nanos < 0 || nanos > 999_999_999) {
    throw badPush(path, `the timestamp {seconds: ${seconds}, nanos: ${nanos}} is not a time from 1970 on with nanos in 0..999999999`);
  }
  if (seconds > MAX_SECONDS || (seconds === MAX_SECONDS && nanos > MAX_NANOS_AT_MAX_SECONDS)) throw badPush(path, `the timestamp (${seconds} s) is past 2262-04-11, the last time Loki can hold`);
  const tsNs = seconds === 0 ? String(nanos) : `${seconds}${String(nanos).padStart(9, '0')}`;
  return { tsNs, tsMs: seconds * 1000 + Math.floor(nanos / 1_000_000) };
}
