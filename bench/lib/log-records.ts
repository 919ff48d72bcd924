/**
 * The protocols benchmark's log records: one logical shape (service, event
 * time in ns, severity, message, trace context, a few attributes) that
 * every way in carries, so the only difference between them is the wire
 * format and its mapping. Deterministic: record `i` is always the same.
 */

/** Services the records come from (OTLP resources, Loki `service` label values). */
export const LOG_SERVICES = 64;
/** Consecutive records of one service: a body of 1,000 holds 10 resources, as a Collector's batch of several services. */
export const LOGS_PER_SERVICE_RUN = 100;

/** One log record, before any wire format. */
export interface BenchLog {
  readonly service: string;
  /** Event time in nanoseconds since the epoch, a decimal string (2^53 ns would not fit). */
  readonly timeNs: string;
  /** The same instant in epoch ms, rounded down. */
  readonly timeMs: number;
  /** The same instant as OpenTelemetry's [seconds, nanoseconds]. */
  readonly hrTime: readonly [number, number];
  /** OTLP SeverityNumber: 9 INFO, 13 WARN, 17 ERROR. */
  readonly severityNumber: number;
  readonly severityText: 'INFO' | 'WARN' | 'ERROR';
  readonly message: string;
  /** 32 lower-case hex digits. */
  readonly traceId: string;
  /** 16 lower-case hex digits. */
  readonly spanId: string;
  /** String and integer attributes (Loki metadata takes strings only, so integers are stringified there). */
  readonly attributes: Readonly<Record<string, string | number>>;
}

/** The service of record `i`. */
export function serviceOf(i: number): string {
  return `svc-${String(Math.floor(i / LOGS_PER_SERVICE_RUN) % LOG_SERVICES).padStart(2, '0')}`;
}

/** 8 hex digits of a 32-bit mix of `n` (never all zero together with its neighbours). */
function hex8(n: number): string {
  return (Math.imul(n ^ 0x5bd1e995, 0x9e3779b1) >>> 0).toString(16).padStart(8, '0');
}

/** Record `i`; event times start at `baseMs` (one record per ms, with sub-ms nanoseconds so the ns field matters). */
export function benchLog(i: number, baseMs: number): BenchLog {
  const timeMs = baseMs + i;
  const subMs = (i * 7919) % 1_000_000;
  const severity = i % 50 === 0 ? 'ERROR' : i % 10 === 0 ? 'WARN' : 'INFO';
  const status = severity === 'ERROR' ? 500 : severity === 'WARN' ? 429 : 200;
  const route = `/api/orders/${i % 5000}`;
  return {
    service: serviceOf(i),
    timeNs: `${timeMs}${String(subMs).padStart(6, '0')}`,
    timeMs,
    hrTime: [Math.floor(timeMs / 1000), (timeMs % 1000) * 1_000_000 + subMs],
    severityNumber: severity === 'ERROR' ? 17 : severity === 'WARN' ? 13 : 9,
    severityText: severity,
    message: `GET ${route} answered ${status} in ${(i % 97) + 1} ms`,
    traceId: `${hex8(i)}${hex8(i + 1)}${hex8(i + 2)}${hex8(i + 3)}`,
    spanId: `${hex8(i + 4)}${hex8(i + 5)}`,
    attributes: { 'http.method': 'GET', 'http.route': '/api/orders/{id}', 'http.status_code': status, 'user.id': `u-${String(i % 100_000).padStart(6, '0')}` },
  };
}

/** `count` batches of `perBatch` records, from record `first` on. */
export function logBatches(first: number, count: number, perBatch: number, baseMs: number): BenchLog[][] {
  return Array.from({ length: count }, (_, b) => Array.from({ length: perBatch }, (_, k) => benchLog(first + b * perBatch + k, baseMs)));
}
