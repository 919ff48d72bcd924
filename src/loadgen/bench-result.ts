/**
 * The result of a run: the JSON document `--json` writes (configuration,
 * environment, timeline, latency spectra, errors, verification, validity,
 * thresholds) and the verdict's exit code. The text table is report.ts.
 */
import os from 'node:os';
import type { ELDHistogram } from 'node:perf_hooks';
import type { BenchConfig } from './bench-config.ts';
import { BENCH_EXIT } from './bench-config.ts';
import type { ConnectionPool } from './connection-pool.ts';
import { summarize, type LatencySummary } from './latency.ts';
import type { HostLimits } from './preflight.ts';
import { meanBatch } from './schedule.ts';
import type { TimelinePoint } from './sampler.ts';
import type { ServerSample } from './server-stats.ts';
import { checkThreshold, type ThresholdResult } from './thresholds.ts';
import type { VerifyResult } from './verify.ts';
import type { TableCounts } from './run-counters.ts';
import type { LoadOutcome, ServerSummary } from './run-bench.ts';

/** Version of the JSON document; bumped when a field changes meaning. */
export const RESULT_SCHEMA_VERSION = 1;

/** The `--json` document. Field names are part of the interface: scripts read them. */
export interface BenchResult {
  readonly schemaVersion: number;
  readonly runId: string;
  readonly startedAt: string;
  readonly config: Record<string, unknown>;
  readonly environment: Record<string, unknown>;
  readonly connections: { wanted: number; opened: number; openedTotal: number; openAtEnd: number; closed: number; connectSeconds: number; connectErrors: Record<string, number>; connectMs: LatencySummary; sourceAddresses: readonly string[] };
  readonly target: { recordsPerSecond: number; requestsPerSecond: number; meanBatch: number; mix: string };
  readonly records: { acked: number; failed: number; dropped: number; perSecond: number };
  readonly requests: { attempts: number; acked: number; failed: number; dropped: number; retries: number; throttled: number };
  readonly latency: { response: LatencySummary; service: LatencySummary; queue: LatencySummary; sendLag: LatencySummary };
  readonly errors: { failed: Record<string, number>; retried: Record<string, number> };
  readonly tables: Record<string, TableCounts & { readonly response: LatencySummary }>;
  readonly timeline: readonly TimelinePoint[];
  readonly client: { cpuSeconds: number; cpuSecondsPerMillionRecords: number | null; rssBytes: number; rssBytesPerConnection: number | null; eventLoopDelayP99Ms: number };
  readonly server: { cpuSeconds: number | null; cpuSecondsPerMillionRecords: number | null; baselineRssBytes: number; peakRssBytes: number; rssBytesPerConnection: number | null; first: readonly ServerSample[]; last: readonly ServerSample[] };
  readonly verify: VerifyResult | null;
  readonly durationSeconds: number;
  readonly valid: boolean;
  readonly invalidReasons: readonly string[];
  readonly thresholds: readonly ThresholdResult[];
  readonly exitCode: number;
}

/** What runBench hands over. */
export interface ResultInputs {
  readonly cfg: BenchConfig;
  readonly runId: string;
  /** The mix the run drew tables from, normalized (`formatMix`). */
  readonly mix: string;
  readonly t0Ms: number;
  readonly limits: HostLimits;
  readonly pool: ConnectionPool;
  readonly connectSeconds: number;
  /** Connections open when the clock started. */
  readonly openAtStart: number;
  readonly load: LoadOutcome;
  readonly loop: ELDHistogram;
  readonly server: ServerSummary;
  readonly verify: VerifyResult | undefined;
  readonly clientCpuSeconds: number;
  readonly clientRssBytes: number;
  readonly clientRssBytesBefore: number;
}

/** Assembles the document and its verdict. */
export function buildResult(x: ResultInputs): BenchResult {
  const { cfg, load, pool } = x;
  const d = load.dispatcher;
  const c = d?.counters.snapshot();
  const acked = c?.ackedRecords ?? 0;
  const perMillion = (s: number | undefined): number | null => (s === undefined || acked === 0 ? null : Math.round((s / acked) * 1e6 * 100) / 100);
  const latency = {
    response: summarize(d?.latency.response),
    service: summarize(d?.latency.service),
    queue: summarize(d?.latency.queue),
    sendLag: summarize(d?.sendLag),
  };
  const invalidReasons = invalidity(x, latency.sendLag);
  const due = (c?.ackedRequests ?? 0) + (c?.failedRequests ?? 0) + (c?.droppedRequests ?? 0);
  const thresholds = cfg.thresholds.map((t) =>
    checkThreshold(t, {
      latencyMs: latencyByName(latency.response, latency.service),
      errorFraction: due === 0 ? 0 : ((c?.failedRequests ?? 0) + (c?.droppedRequests ?? 0)) / due,
      rateFraction: cfg.rate === 0 ? 1 : acked / load.seconds / cfg.rate,
    }),
  );
  const exitCode = exitCodeOf(x.verify?.ok, invalidReasons.length > 0, thresholds.some((t) => !t.ok));
  return {
    schemaVersion: RESULT_SCHEMA_VERSION,
    runId: x.runId,
    startedAt: new Date(x.t0Ms).toISOString(),
    config: { ...cfg, token: cfg.token === undefined ? undefined : '(given)', caPem: cfg.caPem === undefined ? undefined : '(given)', thresholds: cfg.thresholds.map((t) => t.text) },
    environment: environment(x.limits),
    connections: {
      wanted: cfg.connections,
      opened: x.openAtStart,
      openedTotal: pool.opened,
      openAtEnd: pool.open,
      closed: pool.closed,
      connectSeconds: round(x.connectSeconds),
      connectErrors: Object.fromEntries(pool.connectErrors),
      connectMs: summarize(pool.connectTimes),
      sourceAddresses: pool.sourceAddresses,
    },
    target: { recordsPerSecond: cfg.rate, requestsPerSecond: round(cfg.rate / meanBatch(cfg)), meanBatch: meanBatch(cfg), mix: x.mix },
    records: { acked, failed: c?.failedRecords ?? 0, dropped: c?.droppedRecords ?? 0, perSecond: Math.round(acked / Math.max(load.seconds, 0.001)) },
    requests: { attempts: c?.attempts ?? 0, acked: c?.ackedRequests ?? 0, failed: c?.failedRequests ?? 0, dropped: c?.droppedRequests ?? 0, retries: c?.retries ?? 0, throttled: c?.throttled ?? 0 },
    latency,
    errors: { failed: Object.fromEntries(d?.counters.errors ?? []), retried: Object.fromEntries(d?.counters.retried ?? []) },
    tables: Object.fromEntries([...(d?.counters.tables ?? [])].map(([name, t]) => [name, { ...t, response: summarize(d?.tableResponse.get(name)) }])),
    timeline: load.sampler.timeline,
    client: {
      cpuSeconds: round(x.clientCpuSeconds),
      cpuSecondsPerMillionRecords: perMillion(x.clientCpuSeconds),
      rssBytes: x.clientRssBytes,
      rssBytesPerConnection: pool.open === 0 ? null : Math.round((x.clientRssBytes - x.clientRssBytesBefore) / pool.open),
      eventLoopDelayP99Ms: round(x.loop.percentile(99) / 1e6),
    },
    server: {
      cpuSeconds: x.server.cpuSeconds === undefined ? null : round(x.server.cpuSeconds),
      cpuSecondsPerMillionRecords: perMillion(x.server.cpuSeconds),
      peakRssBytes: x.server.peakRssBytes,
      baselineRssBytes: x.server.baselineRssBytes,
      rssBytesPerConnection: x.server.baselineRssBytes === 0 || pool.open === 0 ? null : Math.round((x.server.peakRssBytes - x.server.baselineRssBytes) / pool.open),
      first: x.server.first,
      last: x.server.last,
    },
    verify: x.verify ?? null,
    durationSeconds: round(load.seconds),
    valid: invalidReasons.length === 0,
    invalidReasons,
    thresholds,
    exitCode,
  };
}

/**
 * The verdict: a failed verification (records lost, doubled or altered) is
 * the worst news and wins; then an invalid run, whose figures mean nothing;
 * then a failed threshold.
 */
export function exitCodeOf(verified: boolean | undefined, invalid: boolean, thresholdFailed: boolean): number {
  if (verified === false) return BENCH_EXIT.verifyFailed;
  if (invalid) return BENCH_EXIT.invalid;
  return thresholdFailed ? BENCH_EXIT.thresholdFailed : BENCH_EXIT.ok;
}

/** Why the run's latencies are not the server's (the generator fell behind, or the connections were not all there). */
function invalidity(x: ResultInputs, sendLag: LatencySummary): string[] {
  const reasons: string[] = [];
  if (sendLag.count > 0 && sendLag.p99Ms > x.cfg.maxSendLagMs) {
    reasons.push(`generator saturated: p99 of its own send lag is ${sendLag.p99Ms} ms (limit ${x.cfg.maxSendLagMs} ms); the latencies include the client's delay`);
  }
  if (x.openAtStart < x.cfg.connections) reasons.push(`only ${x.openAtStart} of ${x.cfg.connections} connections were open when the clock started`);
  return reasons;
}

function latencyByName(response: LatencySummary, service: LatencySummary): Record<string, number> {
  const names = (s: LatencySummary, prefix: string): [string, number][] => [
    [`${prefix}p50`, s.p50Ms],
    [`${prefix}p90`, s.p90Ms],
    [`${prefix}p99`, s.p99Ms],
    [`${prefix}p999`, s.p999Ms],
    [`${prefix}max`, s.maxMs],
    [`${prefix}mean`, s.meanMs],
  ];
  return Object.fromEntries([...names(response, ''), ...names(service, 'service.')]);
}

function environment(limits: HostLimits): Record<string, unknown> {
  const cpus = os.cpus();
  return {
    node: process.version,
    platform: `${os.platform()} ${os.release()}`,
    cpus: cpus.length,
    cpuModel: cpus[0]?.model ?? 'unknown',
    memoryBytes: os.totalmem(),
    hostname: os.hostname(),
    limits,
  };
}

function round(n: number): number {
  return Math.round(n * 1000) / 1000;
}
