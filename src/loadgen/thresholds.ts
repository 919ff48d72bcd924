/**
 * Pass/fail conditions of a run, as k6 writes them: `p99<50ms`,
 * `max<=1s`, `errors<0.1%`, `rate>=95%`. A failed one makes `sluice bench`
 * exit 99, so a CI job can gate on a load test.
 *
 *   p50 p90 p99 p999 max mean   response time (from the due time), ms/s/us
 *   service.p99 …               service time (from the write), same units
 *   errors                      requests failed or dropped ÷ requests due, %, or a fraction
 *   rate                        records acknowledged per second ÷ the target, %, or a fraction
 */

/** One parsed condition. */
export interface Threshold {
  readonly text: string;
  readonly metric: string;
  readonly op: '<' | '<=' | '>' | '>=';
  /** In ms for latencies, a fraction for errors and rate. */
  readonly value: number;
}

/** What thresholds are checked against. */
export interface ThresholdInputs {
  /** Latency metrics in ms by name (`p99`, `service.p99`, …). */
  readonly latencyMs: Readonly<Record<string, number>>;
  readonly errorFraction: number;
  readonly rateFraction: number;
}

/** A checked condition. */
export interface ThresholdResult {
  readonly threshold: string;
  readonly actual: number;
  readonly ok: boolean;
}

const LATENCY_NAMES = ['p50', 'p90', 'p99', 'p999', 'max', 'mean'];
const UNIT_MS: Record<string, number> = { us: 0.001, ms: 1, s: 1000 };

/** Parses `text`; an Error naming what is accepted when it is not a threshold. */
export function parseThreshold(text: string): Threshold {
  const m = /^\s*([a-z.0-9]+)\s*(<=|>=|<|>)\s*([0-9]+(?:\.[0-9]+)?)\s*(us|ms|s|%)?\s*$/.exec(text);
  if (m === null) throw new Error(`threshold ${JSON.stringify(text)} is not <metric><op><value>, e.g. 'p99<50ms', 'errors<0.1%', 'rate>=95%'`);
  const [, metric = '', op = '<', num = '0', unit] = m;
  const value = Number(num);
  const latency = metric.startsWith('service.') ? metric.slice('service.'.length) : metric;
  if (LATENCY_NAMES.includes(latency)) {
    if (unit === '%') throw new Error(`threshold ${JSON.stringify(text)}: a latency takes us, ms or s`);
    return { text, metric, op: op as Threshold['op'], value: value * (UNIT_MS[unit ?? 'ms'] as number) };
  }
  if (metric === 'errors' || metric === 'rate') {
    if (unit !== undefined && unit !== '%') throw new Error(`threshold ${JSON.stringify(text)}: ${metric} takes a % or a fraction`);
    return { text, metric, op: op as Threshold['op'], value: unit === '%' ? value / 100 : value };
  }
  throw new Error(`threshold ${JSON.stringify(text)}: unknown metric ${metric} (p50, p90, p99, p999, max, mean, service.<p>, errors, rate)`);
}

/** Checks `t` against a run's figures. */
export function checkThreshold(t: Threshold, inputs: ThresholdInputs): ThresholdResult {
  const actual = t.metric === 'errors' ? inputs.errorFraction : t.metric === 'rate' ? inputs.rateFraction : (inputs.latencyMs[t.metric] ?? NaN);
  const ok = t.op === '<' ? actual < t.value : t.op === '<=' ? actual <= t.value : t.op === '>' ? actual > t.value : actual >= t.value;
  return { threshold: t.text, actual, ok };
}
