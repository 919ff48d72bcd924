/**
 * The per-second view of a run: every second the sampler turns the running
 * counters into a timeline point (records/s against the target, requests/s,
 * p50/p99 of the second, in flight, queued, 429s, errors, client and server
 * CPU) and prints the progress line cassandra-stress and wrk2 users expect.
 */
import type { CounterSnapshot } from './run-counters.ts';
import type { RecordableHistogram } from 'node:perf_hooks';

/** One second of a run. */
export interface TimelinePoint {
  readonly t: number;
  readonly connections: number;
  readonly recordsPerSecond: number;
  readonly requestsPerSecond: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly maxMs: number;
  readonly inFlight: number;
  readonly queued: number;
  readonly throttled: number;
  readonly errors: number;
  readonly dropped: number;
  /** CPU of this process over the second, in cores (1.0 = one core busy). */
  readonly clientCpu: number;
  /** CPU of the node, in cores, when known: over the second with --server-pid, else between its last two scrapes. */
  readonly serverCpu: number | undefined;
}

/** What the sampler reads each second. */
export interface SampleSources {
  readonly counters: () => CounterSnapshot;
  readonly interval: RecordableHistogram;
  readonly connections: () => number;
  readonly inFlight: () => number;
  readonly queued: () => number;
  /** Node CPU now, in cores (summed over nodes), when known. */
  readonly serverCpuCores: () => number | undefined;
}

/** Builds timeline points from successive snapshots. */
export class Sampler {
  readonly timeline: TimelinePoint[] = [];
  private last: CounterSnapshot;
  private lastAt = performance.now();
  private lastCpu = process.cpuUsage();

  private readonly src: SampleSources;
  private readonly startedAt: number;

  constructor(src: SampleSources, startedAt: number) {
    this.src = src;
    this.startedAt = startedAt;
    this.last = src.counters();
  }

  /** Closes the current second: appends and returns its point. */
  sample(): TimelinePoint {
    const now = performance.now();
    const dt = Math.max(0.001, (now - this.lastAt) / 1000);
    const c = this.src.counters();
    const cpu = process.cpuUsage();
    const h = this.src.interval;
    const point: TimelinePoint = {
      t: Math.round((now - this.startedAt) / 100) / 10,
      connections: this.src.connections(),
      recordsPerSecond: Math.round((c.ackedRecords - this.last.ackedRecords) / dt),
      requestsPerSecond: Math.round((c.ackedRequests - this.last.ackedRequests) / dt),
      p50Ms: h.count === 0 ? 0 : h.percentile(50) / 1000,
      p99Ms: h.count === 0 ? 0 : h.percentile(99) / 1000,
      maxMs: h.count === 0 ? 0 : h.max / 1000,
      inFlight: this.src.inFlight(),
      queued: this.src.queued(),
      throttled: c.throttled - this.last.throttled,
      errors: c.failedRequests - this.last.failedRequests,
      dropped: c.droppedRequests - this.last.droppedRequests,
      clientCpu: (cpu.user + cpu.system - this.lastCpu.user - this.lastCpu.system) / 1e6 / dt,
      serverCpu: this.src.serverCpuCores(),
    };
    h.reset();
    this.last = c;
    this.lastAt = now;
    this.lastCpu = cpu;
    this.timeline.push(point);
    return point;
  }
}

/** The progress line of one point (`[12s/60s] conn 100000/100000 57,812 rec/s (57,870) …`). */
export function progressLine(p: TimelinePoint, durationS: number, connectionsWanted: number, targetRecordsPerSecond: number): string {
  const n = (x: number): string => Math.round(x).toLocaleString('en-US');
  const ms = (x: number): string => (x < 10 ? x.toFixed(1) : n(x)) + 'ms';
  const pct = (x: number | undefined): string => (x === undefined ? '?' : `${Math.round(x * 100)}%`);
  return (
    `[${Math.round(p.t)}s/${durationS}s] conn ${n(p.connections)}/${n(connectionsWanted)} ${n(p.recordsPerSecond)} rec/s (${n(targetRecordsPerSecond)}) ` +
    `${n(p.requestsPerSecond)} req/s p50 ${ms(p.p50Ms)} p99 ${ms(p.p99Ms)} max ${ms(p.maxMs)} inflight ${p.inFlight} queued ${p.queued} ` +
    `dropped ${p.dropped} 429 ${p.throttled} err ${p.errors} cpu c${pct(p.clientCpu)} s${pct(p.serverCpu)}`
  );
}
