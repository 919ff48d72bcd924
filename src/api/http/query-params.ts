/**
 * Query-string parsing with clear 400s: every parameter is checked, none
 * is silently ignored when malformed.
 */
import type { FastifyRequest } from 'fastify';
import { DEDUPE_PREFIX_BYTES_MAX } from '../../config.ts';
import { SluiceError } from '../../core/errors.ts';
import { isoTimestampProblem, parseIsoTimestamp } from '../../core/schema/parse-iso-timestamp.ts';

/** The request's query parameters as single strings (a repeated parameter is an error). */
export function queryParams(request: FastifyRequest): Record<string, string | undefined> {
  const raw = request.query as Record<string, unknown>;
  const out: Record<string, string | undefined> = {};
  for (const [k, v] of Object.entries(raw)) {
    if (Array.isArray(v)) throw new SluiceError('INVALID_ARGUMENT', `query parameter ${k} is given more than once`);
    out[k] = typeof v === 'string' ? v : undefined;
  }
  return out;
}

/** A parameter restricted to `allowed` values. */
export function oneOf<T extends string>(q: Record<string, string | undefined>, name: string, allowed: readonly T[], fallback: T): T {
  const v = q[name];
  if (v === undefined || v === '') return fallback;
  if (!(allowed as readonly string[]).includes(v)) {
    throw new SluiceError('INVALID_ARGUMENT', `${name} must be one of ${allowed.join(', ')}`, [{ path: name, message: `got ${JSON.stringify(v)}` }]);
  }
  return v as T;
}

/** A positive integer parameter within [1, max]. */
export function intParam(q: Record<string, string | undefined>, name: string, fallback: number, max: number): number {
  const v = q[name];
  if (v === undefined || v === '') return fallback;
  if (!/^[0-9]{1,9}$/.test(v) || Number(v) < 1 || Number(v) > max) {
    throw new SluiceError('INVALID_ARGUMENT', `${name} must be an integer between 1 and ${max}`, [{ path: name, message: `got ${JSON.stringify(v)}` }]);
  }
  return Number(v);
}

/** A non-negative integer parameter (up to 2^53 - 1); undefined when absent (given empty, it is malformed). */
export function nonNegativeIntParam(q: Record<string, string | undefined>, name: string): number | undefined {
  const v = q[name];
  if (v === undefined) return undefined;
  if (!/^[0-9]{1,16}$/.test(v) || !Number.isSafeInteger(Number(v))) {
    throw new SluiceError('INVALID_ARGUMENT', `${name} must be a non-negative integer, got ${v}`, [{ path: name, message: `got ${JSON.stringify(v)}` }]);
  }
  return Number(v);
}

/** A time parameter: epoch ms or ISO-8601 (the rules of `timestamp` fields); undefined when absent. */
export function timeParam(q: Record<string, string | undefined>, name: string): number | undefined {
  const v = q[name];
  if (v === undefined || v === '') return undefined;
  if (/^-?[0-9]{1,16}$/.test(v)) return Number(v);
  const ms = parseIsoTimestamp(v);
  if (Number.isNaN(ms)) {
    throw new SluiceError('INVALID_ARGUMENT', `${name} must be epoch milliseconds or an ISO-8601 time: ${isoTimestampProblem(v)}`, [
      { path: name, message: `got ${JSON.stringify(v)}` },
    ]);
  }
  return ms;
}

/** `dedupe_prefix` (1 to 256 bytes), or undefined when absent and not `required`. */
export function dedupePrefixParam(q: Record<string, string | undefined>, required: boolean): string | undefined {
  const prefix = q['dedupe_prefix'];
  if (prefix === undefined && !required) return undefined;
  if (prefix === undefined || prefix.length === 0 || Buffer.byteLength(prefix) > DEDUPE_PREFIX_BYTES_MAX) {
    throw new SluiceError('INVALID_ARGUMENT', `dedupe_prefix must be 1 to ${DEDUPE_PREFIX_BYTES_MAX} bytes`);
  }
  return prefix;
}

/** Characters of a `source` label (http, import:events.ndjson, kafka:orders/3). */
const SOURCE_RE = /^[A-Za-z0-9_.:/@+-]{1,128}$/;

/** `source`, the label a client gives its records' dead letters, or `fallback`. */
export function sourceParam(q: Record<string, string | undefined>, fallback: string): string {
  const v = q['source'];
  if (v === undefined || v === '') return fallback;
  if (!SOURCE_RE.test(v)) throw new SluiceError('INVALID_ARGUMENT', 'source must be 1 to 128 characters of letters, digits and _ . : / @ + -', [{ path: 'source', message: `got ${JSON.stringify(v)}` }]);
  return v;
}
