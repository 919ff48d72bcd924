/**
 * What the generator reads from the nodes it loads: their `/metrics`
 * (Prometheus text; the token needs the `ops` scope, an admin token has it)
 * and, when the node runs on this machine and its PID is given, its CPU from
 * `/proc/<pid>/stat`, cheap enough to read every second.
 */
import { readFileSync } from 'node:fs';

/** Metric name → value summed over its label sets. */
export type MetricTotals = ReadonlyMap<string, number>;

/** Sums of every sample in Prometheus text, by metric name (labels dropped). */
export function sumMetrics(text: string): Map<string, number> {
  const totals = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (line.length === 0 || line.startsWith('#')) continue;
    const space = line.lastIndexOf(' ');
    const brace = line.indexOf('{');
    const name = line.slice(0, brace >= 0 && brace < space ? brace : space);
    const value = Number(line.slice(space + 1));
    if (Number.isFinite(value)) totals.set(name, (totals.get(name) ?? 0) + value);
  }
  return totals;
}

/** Fetches and sums a node's metrics; undefined when it does not answer (a node restarting). */
export async function scrapeMetrics(baseUrl: string, token: string | undefined): Promise<MetricTotals | undefined> {
  try {
    const res = await fetch(new URL('/metrics', baseUrl), {
      headers: token === undefined ? {} : { authorization: `Bearer ${token}` },
      signal: AbortSignal.timeout(5_000),
    });
    if (!res.ok) return undefined;
    return sumMetrics(await res.text());
  } catch {
    return undefined;
  }
}

/** The node figures a report shows, from one scrape. */
export interface ServerSample {
  readonly cpuSeconds: number | undefined;
  readonly rssBytes: number | undefined;
  readonly heapUsedBytes: number | undefined;
  readonly openConnections: number | undefined;
  readonly openFds: number | undefined;
  readonly eventLoopLagP99Ms: number | undefined;
  readonly recordsWritten: number | undefined;
  readonly overloaded: number | undefined;
  readonly applyLagFrames: number | undefined;
}

/** Picks the report's figures out of a scrape. */
export function serverSample(m: MetricTotals): ServerSample {
  const lag = m.get('sluice_nodejs_eventloop_lag_p99_seconds');
  return {
    cpuSeconds: m.get('sluice_process_cpu_seconds_total'),
    rssBytes: m.get('sluice_process_resident_memory_bytes'),
    heapUsedBytes: m.get('sluice_nodejs_heap_size_used_bytes'),
    openConnections: m.get('sluice_http_connections_open'),
    openFds: m.get('sluice_process_open_fds'),
    eventLoopLagP99Ms: lag === undefined ? undefined : lag * 1000,
    recordsWritten: m.get('sluice_records_written_total'),
    overloaded: m.get('sluice_overloaded_total'),
    applyLagFrames: m.get('sluice_apply_lag_frames'),
  };
}

/** CPU seconds (user + system) of process `pid` from /proc, or undefined when it cannot be read. */
export function procCpuSeconds(pid: number): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name may hold spaces: fields are counted after its closing parenthesis.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const ticks = Number(fields[11]) + Number(fields[12]);
    return ticks / CLOCK_TICKS_PER_SECOND;
  } catch {
    return undefined;
  }
}

/** Resident bytes of process `pid` from /proc, or undefined. */
export function procRssBytes(pid: number): number | undefined {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m === null ? undefined : Number(m[1]) * 1024;
  } catch {
    return undefined;
  }
}

/** USER_HZ: 100 on every Linux this runs on (sysconf(_SC_CLK_TCK)). */
const CLOCK_TICKS_PER_SECOND = 100;

/** Polls the nodes until none has WAL frames waiting for the index (what a read-back needs), or `timeoutMs`. */
export async function waitForApplied(baseUrls: readonly string[], token: string | undefined, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const samples = await Promise.all(baseUrls.map((u) => scrapeMetrics(u, token)));
    if (samples.every((m) => m !== undefined && (m.get('sluice_apply_lag_frames') ?? 0) === 0)) return true;
    if (Date.now() > deadline) return false;
    await new Promise((r) => setTimeout(r, 200));
  }
}
