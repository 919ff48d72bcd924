/**
 * What the benches read from the processes they start: Prometheus text from
 * a node's or an etcd member's `/metrics`, CPU seconds of a process and of
 * the whole machine from /proc (so CPU used by anything else during a run
 * can be reported next to the figures it disturbs).
 */
import { readFileSync } from 'node:fs';
import { http } from '../../test/process/harness.ts';
import { procCpuSeconds } from '../../src/loadgen/server-stats.ts';

/** One scrape: every sample by its full series text (`name{labels}` or `name`). */
export type Scrape = Map<string, number>;

/** Scrapes `/metrics` of a node (with the test token). */
export async function scrape(url: string): Promise<Scrape> {
  return parseScrape((await http(`${url}/metrics`)).text);
}

/** Scrapes `/metrics` of an etcd member (no sluice token). */
export async function scrapeEtcd(url: string): Promise<Scrape> {
  return parseScrape((await http(`${url}/metrics`, { token: null })).text);
}

/** Prometheus text as a scrape. */
function parseScrape(text: string): Scrape {
  const out: Scrape = new Map();
  for (const line of text.split('\n')) {
    if (line.length === 0 || line.startsWith('#')) continue;
    const space = line.lastIndexOf(' ');
    out.set(line.slice(0, space), Number(line.slice(space + 1)));
  }
  return out;
}

/** The value of an unlabelled metric of a node (0 when absent). */
export async function metric(url: string, name: string): Promise<number> {
  return (await scrape(url)).get(name) ?? 0;
}

/** The series of a labelled metric of a node, by their label text (`direction="pulled"`). */
export async function labelled(url: string, name: string): Promise<Map<string, number>> {
  return labelsOf(await scrape(url), name);
}

/** The series of `name` in a scrape, by their label text. */
export function labelsOf(s: Scrape, name: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const [series, value] of s) {
    if (series.startsWith(`${name}{`) && series.endsWith('}')) out.set(series.slice(name.length + 1, -1), value);
  }
  return out;
}

/** `after - before` for every series of `after` (counters and histogram buckets), summed over processes. */
export function diffScrapes(before: readonly Scrape[], after: readonly Scrape[]): Scrape {
  const out: Scrape = new Map();
  for (const [i, a] of after.entries()) {
    const b = before[i] ?? new Map<string, number>();
    for (const [series, value] of a) out.set(series, (out.get(series) ?? 0) + value - (b.get(series) ?? 0));
  }
  return out;
}

/** A histogram's increments in a diffed scrape, for the series whose labels contain `label` (`phase="commit"`). */
export interface HistogramDiff {
  readonly count: number;
  readonly sumSeconds: number;
  /** Cumulative counts by upper bound, seconds, ascending (the last is +Inf). */
  readonly buckets: readonly { readonly le: number; readonly count: number }[];
}

export function histogramOf(d: Scrape, name: string, label: string): HistogramDiff {
  const buckets: { le: number; count: number }[] = [];
  for (const [series, value] of d) {
    if (!series.startsWith(`${name}_bucket{`) || !series.includes(label)) continue;
    const le = /le="([^"]+)"/.exec(series)?.[1];
    if (le !== undefined) buckets.push({ le: le === '+Inf' ? Number.POSITIVE_INFINITY : Number(le), count: value });
  }
  buckets.sort((a, b) => a.le - b.le);
  const one = (suffix: string): number => {
    for (const [series, value] of d) if (series.startsWith(`${name}_${suffix}{`) && series.includes(label)) return value;
    return 0;
  };
  return { count: one('count'), sumSeconds: one('sum'), buckets };
}

/** The q-quantile of a histogram in seconds, interpolated linearly inside its bucket (as Prometheus' histogram_quantile). */
export function histogramQuantile(h: HistogramDiff, q: number): number {
  if (h.count === 0) return Number.NaN;
  const rank = q * h.count;
  let lowerLe = 0;
  let lowerCount = 0;
  for (const b of h.buckets) {
    if (b.count >= rank) {
      if (!Number.isFinite(b.le)) return lowerLe;
      return lowerLe + ((b.le - lowerLe) * (rank - lowerCount)) / Math.max(1, b.count - lowerCount);
    }
    lowerLe = b.le;
    lowerCount = b.count;
  }
  return lowerLe;
}

/** User + system CPU seconds of a process so far (/proc/PID/stat, read by `sluice bench`'s own reader). */
export function cpuSeconds(pid: number): number {
  const seconds = procCpuSeconds(pid);
  if (seconds === undefined) throw new Error(`cannot read /proc/${pid}/stat`);
  return seconds;
}

/** CPU seconds every process of the machine has used so far, all cores (/proc/stat: user, nice, system, irq, softirq, steal). */
export function machineBusySeconds(): number {
  const fields = (readFileSync('/proc/stat', 'utf8').split('\n')[0] ?? '').trim().split(/\s+/).slice(1).map(Number);
  const [user = 0, nice = 0, system = 0, , , irq = 0, softirq = 0, steal = 0] = fields;
  return (user + nice + system + irq + softirq + steal) / 100;
}
