/**
 * Everything a `sluice bench` run is set by, typed and checked: the CLI
 * builds it from flags, the tests build it directly.
 */
import type { Arrival } from './schedule.ts';
import type { Threshold } from './thresholds.ts';
import { WORKLOAD_DEFAULTS } from './workload/params.ts';

/** A run's settings (durations in ms, rates per second). */
export interface BenchConfig {
  /** Node base URLs; connections are dealt round-robin. */
  readonly urls: readonly string[];
  readonly token: string | undefined;
  /** Extra CA (PEM) for https:// URLs. */
  readonly caPem: string | undefined;
  readonly connections: number;
  readonly connectPerSecond: number;
  /** Local addresses to bind (empty: the system picks). */
  readonly sourceIps: readonly string[];
  /** Records per second offered; 0 only holds the connections open. */
  readonly rate: number;
  readonly batchMin: number;
  readonly batchMax: number;
  readonly arrival: Arrival;
  readonly durationMs: number;
  readonly seed: number;
  /** `--mix` text (tables or groups with weights); undefined: every table alike. */
  readonly mix: string | undefined;
  readonly outOfOrder: number;
  readonly skewMinMs: number;
  readonly skewMaxMs: number;
  readonly keysPerTable: number;
  readonly requestTimeoutMs: number;
  readonly maxQueueDelayMs: number;
  readonly maxRetries: number;
  /** Longest pause before a retry (back-off doubles from 50 ms, the node's Retry-After is a floor), ms. */
  readonly retryPauseMaxMs: number;
  /** Send dedupe keys with every write (off only to see what a resend does without them). */
  readonly dedupe: boolean;
  readonly createTables: boolean;
  readonly verify: boolean;
  /** Shard keys per table whose range query the verification reads (Infinity: all of them). */
  readonly verifyKeysPerTable: number;
  readonly jsonFile: string | undefined;
  readonly thresholds: readonly Threshold[];
  /** Print a progress line every second (stderr). */
  readonly progress: boolean;
  /** The node's PID when it runs on this machine: its CPU and RSS come from /proc. */
  readonly serverPid: number | undefined;
  /** p99 of the generator's own send lag above which the run is invalid, ms. */
  readonly maxSendLagMs: number;
  /** At rate 0: a request on every connection this often, to outlast the node's keep-alive timeout (0: none), ms. */
  readonly idlePingMs: number;
  /** The run id (records' bench_run and the dedupe prefix); default: made from the time. */
  readonly runId: string | undefined;
}

/** Defaults of the optional settings. */
export const BENCH_DEFAULTS = {
  connectPerSecond: 5_000,
  batchMin: 20,
  batchMax: 20,
  arrival: 'constant',
  seed: 42,
  ...WORKLOAD_DEFAULTS,
  keysPerTable: 1_000,
  requestTimeoutMs: 30_000,
  maxQueueDelayMs: 30_000,
  maxRetries: 8,
  retryPauseMaxMs: 5_000,
  verifyKeysPerTable: Number.POSITIVE_INFINITY,
  maxSendLagMs: 5,
} as const;

/** Exit codes of `sluice bench` (k6 uses 99 for a failed threshold). */
export const BENCH_EXIT = { ok: 0, verifyFailed: 1, invalid: 2, thresholdFailed: 99 } as const;

/** A run that cannot start (limits, unreachable node, a table it cannot create); the CLI exits 2 with its message. */
export class BenchRefused extends Error {}
