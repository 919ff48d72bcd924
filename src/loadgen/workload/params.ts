/**
 * The parameters a bench run's records are a function of. Record j of a run
 * is `f(params, table, j)`: the verifier regenerates it from these alone, so
 * they go into the run's JSON report as they are.
 */

/**
 * A run id: URL- and JSON-safe as it stands (it is written into bodies and
 * dedupe prefixes without escaping), at most 64 characters.
 */
export const RUN_ID_RE = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;

/** Everything a record depends on besides its table and number. */
export interface WorkloadParams {
  /** PRNG seed: any safe integer. */
  readonly seed: number;
  /** Written into every record's `bench_run` (see RUN_ID_RE). */
  readonly runId: string;
  /** Epoch ms of record 0's nominal event time (the run's T0). */
  readonly t0Ms: number;
  /** Records per second of the schedule: record j is nominally due at t0Ms + j·1000/recordsPerSecond. */
  readonly recordsPerSecond: number;
  /** Fraction of records whose event time is skewed, 0..1. @default 0.05 */
  readonly outOfOrder: number;
  /** Lowest skew in ms (negative: in the past). @default -30000 */
  readonly skewMinMs: number;
  /** Highest skew in ms. @default 5000 */
  readonly skewMaxMs: number;
  /** Distinct shard keys per table (devices, accounts, …). */
  readonly keysPerTable: number;
}

/** The defaults of the skew parameters (DESIGN bench §3.4). */
export const WORKLOAD_DEFAULTS = { outOfOrder: 0.05, skewMinMs: -30_000, skewMaxMs: 5_000 } as const;

/** What is wrong with `p`, or undefined when it can drive a run. */
export function workloadProblem(p: WorkloadParams): string | undefined {
  if (!Number.isSafeInteger(p.seed)) return `seed must be a safe integer, got ${p.seed}`;
  if (!RUN_ID_RE.test(p.runId)) return `run id must match ${RUN_ID_RE.source}, got ${JSON.stringify(p.runId)}`;
  if (!Number.isSafeInteger(p.t0Ms) || p.t0Ms < 0) return `t0Ms must be a non-negative integer, got ${p.t0Ms}`;
  if (!(p.recordsPerSecond > 0 && Number.isFinite(p.recordsPerSecond))) return `records per second must be positive, got ${p.recordsPerSecond}`;
  if (!(p.outOfOrder >= 0 && p.outOfOrder <= 1)) return `out-of-order fraction must be within 0..1, got ${p.outOfOrder}`;
  if (!Number.isSafeInteger(p.skewMinMs) || !Number.isSafeInteger(p.skewMaxMs) || p.skewMinMs > p.skewMaxMs) {
    return `skew must be integer ms with min ≤ max, got ${p.skewMinMs}..${p.skewMaxMs}`;
  }
  if (!Number.isSafeInteger(p.keysPerTable) || p.keysPerTable < 1) return `keys per table must be a positive integer, got ${p.keysPerTable}`;
  return undefined;
}

/** Throws an Error naming the first bad parameter. */
export function checkWorkloadParams(p: WorkloadParams): void {
  const problem = workloadProblem(p);
  if (problem !== undefined) throw new Error(`workload: ${problem}`);
}
