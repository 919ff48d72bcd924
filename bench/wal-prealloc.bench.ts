/**
 * WAL segment preallocation (issue 16), before and after in one run.
 *
 * 1. The WAL alone, in this process: appends of ~160 B payloads, one in
 *    flight (the single-record path) and 32 in flight (group commit), into
 *    segments that grow by appending (preallocSegmentsAhead 0, what main
 *    does) and into zero-filled preallocated ones. Every fdatasync is timed
 *    (onFlush), so the fsync figures are exact, not histogram buckets.
 * 2. Whole nodes: single-record POSTs with wrk at 1 and 32 connections to
 *    `main` (a `git archive` snapshot, `--main DIR`), to this branch with
 *    preallocation off, and to this branch as shipped; the fsync figures
 *    come from each node's sluice_wal_fsync_duration_seconds histogram.
 * Variants alternate within each run, so machine noise hits them alike;
 * every figure is the median over the runs.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import path from 'node:path';
import { Wal } from '../src/storage/wal/wal.ts';
import { nodeProcessEnv, http } from '../test/process/harness.ts';
import { TEST_TOKEN } from '../test/support/auth.ts';
import { BENCH_TABLE, recordLine } from './lib/records.ts';
import { scrape, labelsOf } from './lib/node-metrics.ts';
import { startReport } from './lib/report.ts';
import { fmt, median, quantile } from './lib/stats.ts';
import { ensureWrk, wrkPost } from './lib/wrk.ts';

/** Options of one benchmark run. */
export interface WalPreallocBenchOptions {
  readonly runs: number;
  /** Appends per WAL-alone trial. */
  readonly appends: number;
  readonly wrkSeconds: number;
  /** Root of a `main` snapshot with its own bin/sluice.js; undefined skips it. */
  readonly mainDir: string | undefined;
  /** First port of the range the nodes listen on. */
  readonly portBase: number;
}

interface Figures {
  p50: number;
  p99: number;
  fsyncP50: number;
  fsyncP99: number;
  fsyncMean: number;
  extra: number;
  /** Shares of fsyncs in the histogram's first buckets (nodes only). */
  le100: number;
  le250: number;
}

/** Runs both parts and returns the report as Markdown. */
export async function runWalPreallocBench(o: WalPreallocBenchOptions): Promise<string> {
  const report = startReport('sluice-wal-prealloc-');
  const { root, log } = report;
  try {
    log('## WAL alone: append latency and fdatasync, growing vs preallocated segments (64 MiB)');
    log('');
    log(`${fmt(o.appends)} appends of ~160 B per trial, median of ${o.runs} runs, variants alternating; fsync = one timed fdatasync.`);
    log('');
    log('| load | segments | append p50 | append p99 | fdatasync p50 | fdatasync p99 | fdatasync mean | fsyncs | fsyncs ≤ 100 µs / ≤ 250 µs |');
    log('|---|---|---|---|---|---|---|---|---|');
    for (const inFlight of [1, 32]) {
      // 32 in flight share an fsync: ten times the appends give as many fsyncs to rank.
      const appends = inFlight === 1 ? o.appends : o.appends * 10;
      const trials: Record<string, Figures[]> = { growing: [], preallocated: [] };
      for (let run = 0; run < o.runs; run++) {
        trials['growing']!.push(await walTrial(root, 0, inFlight, appends));
        trials['preallocated']!.push(await walTrial(root, 1, inFlight, appends));
      }
      for (const [name, ts] of Object.entries(trials)) logRow(log, `${inFlight} in flight`, name, ts, 'µs', shares);
    }
    log('');
    await duringFill(root, o, log);
    await bulkSection(root, o, log);
    if (!ensureWrk()) log('## Nodes: skipped (wrk is not installed)');
    else await nodeSection(root, o, log);
  } finally {
    report.close();
  }
  return report.lines.join('\n');
}

/** Median shares of fsyncs at most 100 and 250 µs (the node histogram's first bucket bounds). */
function shares(ts: Figures[]): string {
  return `${fmt(median(ts.map((t) => t.le100)) * 100)} % / ${fmt(median(ts.map((t) => t.le250)) * 100)} %`;
}

function logRow(log: (line: string) => void, load: string, name: string, ts: Figures[], unit: 'µs' | 'ms', more?: (t: Figures[]) => string): void {
  const m = (f: (t: Figures) => number): string => fmt(median(ts.map(f)), unit === 'µs' ? 0 : 2);
  const tail = more === undefined ? '' : ` ${more(ts)} |`;
  log(`| ${load} | ${name} | ${m((t) => t.p50)} ${unit} | ${m((t) => t.p99)} ${unit} | ${m((t) => t.fsyncP50)} µs | ${m((t) => t.fsyncP99)} µs | ${m((t) => t.fsyncMean)} µs | ${fmt(median(ts.map((t) => t.extra)))} |${tail}`);
}

/** One WAL-alone trial: `appends` appends with `inFlight` outstanding, latencies and fsyncs in µs. */
async function walTrial(root: string, ahead: number, inFlight: number, appends: number): Promise<Figures> {
  const dir = mkdtempSync(path.join(root, `wal-${ahead}-`));
  const fsyncs: number[] = [];
  const wal = await Wal.open({ dir, diskFreeBytesMin: 0, preallocSegmentsAhead: ahead, onFlush: (info) => fsyncs.push(info.fsyncMs * 1000) });
  try {
    await wal.preallocationIdle();
    await wal.append(1, Buffer.from(recordLine(0))); // moves into the spare when there is one
    // Steady state: the next spare's fill (started by that move) is done; its cost during a fill is reported apart.
    await wal.preallocationIdle();
    fsyncs.length = 0;
    const latencies: number[] = [];
    let next = 1;
    const worker = async (): Promise<void> => {
      while (next <= appends) {
        const payload = Buffer.from(recordLine(next++));
        const started = performance.now();
        await wal.append(1, payload);
        latencies.push((performance.now() - started) * 1000);
      }
    };
    await Promise.all(Array.from({ length: inFlight }, worker));
    return {
      p50: quantile(latencies, 0.5),
      p99: quantile(latencies, 0.99),
      fsyncP50: quantile(fsyncs, 0.5),
      fsyncP99: quantile(fsyncs, 0.99),
      fsyncMean: fsyncs.reduce((a, b) => a + b, 0) / fsyncs.length,
      extra: fsyncs.length,
      le100: fsyncs.filter((f) => f <= 100).length / fsyncs.length,
      le250: fsyncs.filter((f) => f <= 250).length / fsyncs.length,
    };
  } finally {
    await wal.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * What a rotation costs the appends that follow it: the next spare's 64 MiB
 * zero-fill runs right then. Appends (one in flight) are timed while it runs.
 */
async function duringFill(root: string, o: WalPreallocBenchOptions, log: (line: string) => void): Promise<void> {
  const fsyncs: number[] = [];
  const fills: number[] = [];
  for (let run = 0; run < o.runs; run++) {
    const dir = mkdtempSync(path.join(root, 'fill-'));
    let during = false;
    const wal = await Wal.open({ dir, diskFreeBytesMin: 0, preallocSegmentsAhead: 1, onFlush: (info) => during && fsyncs.push(info.fsyncMs * 1000) });
    try {
      await wal.preallocationIdle();
      await wal.append(1, Buffer.from(recordLine(0))); // takes the spare: the next fill starts now
      during = true;
      const started = performance.now();
      let filling = true;
      const idle = wal.preallocationIdle().then(() => {
        filling = false;
        fills.push(performance.now() - started);
      });
      for (let i = 1; filling; i++) await wal.append(1, Buffer.from(recordLine(i)));
      await idle;
    } finally {
      await wal.close();
      rmSync(dir, { recursive: true, force: true });
    }
  }
  log(`While the next 64 MiB spare is zero-filled (${fmt(median(fills))} ms, median of ${o.runs}), ${fmt(fsyncs.length)} fdatasyncs of single appends: p50 ${fmt(quantile(fsyncs, 0.5))} µs, p99 ${fmt(quantile(fsyncs, 0.99))} µs, max ${fmt(quantile(fsyncs, 1))} µs.`);
  log('');
}

/**
 * Bulk bodies: 200 KiB frames (a 1,000-record body), 32 in flight, so one
 * group commit writes megabytes; in a preallocated segment each fdatasync
 * covers at most TORN_WRITE_BYTES_MAX, so this is where the cap could cost.
 */
async function bulkSection(root: string, o: WalPreallocBenchOptions, log: (line: string) => void): Promise<void> {
  const frames = 1000;
  const payload = Buffer.alloc(200 * 1024, 7);
  const rates: Record<string, number[]> = { growing: [], preallocated: [] };
  const syncs: Record<string, number[]> = { growing: [], preallocated: [] };
  for (let run = 0; run < o.runs; run++) {
    for (const [name, ahead] of [['growing', 0], ['preallocated', 1]] as const) {
      const dir = mkdtempSync(path.join(root, 'bulk-'));
      let flushes = 0;
      const wal = await Wal.open({ dir, diskFreeBytesMin: 0, preallocSegmentsAhead: ahead, onFlush: () => flushes++ });
      try {
        await wal.preallocationIdle();
        await wal.append(1, payload); // into the spare, then wait for the next one
        await wal.preallocationIdle();
        flushes = 0;
        const started = performance.now();
        let next = 0;
        const worker = async (): Promise<void> => {
          while (next++ < frames) await wal.append(1, payload);
        };
        await Promise.all(Array.from({ length: 32 }, worker));
        rates[name]!.push((frames * payload.length) / 1e6 / ((performance.now() - started) / 1000));
        syncs[name]!.push(flushes);
      } finally {
        await wal.close();
        rmSync(dir, { recursive: true, force: true });
      }
    }
  }
  const g = median(rates['growing']!);
  const p = median(rates['preallocated']!);
  log(`Bulk: 1,000 frames of 200 KiB, 32 in flight (205 MB, three rotations), median of ${o.runs}: growing ${fmt(g)} MB/s, preallocated ${fmt(p)} MB/s (${fmt(p / g, 2)}×), group commits ${fmt(median(syncs['growing']!))} / ${fmt(median(syncs['preallocated']!))}. Each preallocated fdatasync covers at most 1 MiB, and each rotation starts a 64 MiB fill.`);
  log('');
}

/** A node variant: which bin/sluice.js, with which extra flags. */
interface Variant {
  readonly name: string;
  readonly bin: string;
  readonly args: readonly string[];
}

async function nodeSection(root: string, o: WalPreallocBenchOptions, log: (line: string) => void): Promise<void> {
  const here = path.resolve(import.meta.dirname, '..', 'bin', 'sluice.js');
  const variants: Variant[] = [
    ...(o.mainDir === undefined ? [] : [{ name: 'main', bin: path.join(o.mainDir, 'bin', 'sluice.js'), args: [] }]),
    { name: 'branch, preallocation off', bin: here, args: ['--wal-prealloc-segments-ahead', '0'] },
    { name: 'branch (preallocated)', bin: here, args: [] },
  ];
  log(`## Nodes: single-record requests (~160 B, one per POST), wrk ${o.wrkSeconds} s per trial, median of ${o.runs} runs`);
  log('');
  log('Request latency from wrk; fdatasync from the node\'s sluice_wal_fsync_duration_seconds histogram (p50/p99 interpolated in its buckets).');
  log('');
  log('| connections | node | request p50 | request p99 | fdatasync p50 | fdatasync p99 | fdatasync mean | requests/s | fsyncs ≤ 100 µs / ≤ 250 µs |');
  log('|---|---|---|---|---|---|---|---|---|');
  for (const connections of [1, 32]) {
    const trials = new Map<string, Figures[]>(variants.map((v) => [v.name, []]));
    for (let run = 0; run < o.runs; run++) {
      for (const [i, v] of variants.entries()) trials.get(v.name)!.push(await nodeTrial(root, v, o.portBase + i, connections, o.wrkSeconds));
    }
    for (const [name, ts] of trials) logRow(log, String(connections), name, ts, 'ms', shares);
  }
  log('');
}

/** One node trial: a fresh data dir, a warm-up, then wrk with the fsync histogram read before and after. */
async function nodeTrial(root: string, v: Variant, port: number, connections: number, seconds: number): Promise<Figures> {
  const dataDir = mkdtempSync(path.join(root, 'node-'));
  const child = spawn(process.execPath, [v.bin, 'serve', '--data-dir', dataDir, '--http', `127.0.0.1:${port}`, ...v.args], {
    env: nodeProcessEnv(),
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  const url = `http://127.0.0.1:${port}`;
  try {
    await untilReady(url, child);
    const created = await http(`${url}/v1/tables`, { method: 'POST', body: JSON.stringify(BENCH_TABLE) });
    if (created.status !== 201) throw new Error(`create table: ${created.text}`);
    const target = `${url}/v1/tables/${BENCH_TABLE.name}/records`;
    wrkPost(root, target, connections, 1, TEST_TOKEN); // warm-up; the first write moves into the spare
    const before = fsyncBuckets(await scrape(url));
    const res = wrkPost(root, target, connections, seconds, TEST_TOKEN);
    const after = fsyncBuckets(await scrape(url));
    const delta = after.map(([le, n], i) => [le, n - before[i]![1]] as const);
    const count = delta.at(-1)![1];
    const sumSeconds = (await scrape(url)).get('sluice_wal_fsync_duration_seconds_sum')! - before.sum;
    return {
      p50: res.p50Ms,
      p99: res.p99Ms,
      fsyncP50: bucketQuantile(delta, 0.5) * 1e6,
      fsyncP99: bucketQuantile(delta, 0.99) * 1e6,
      fsyncMean: (sumSeconds / count) * 1e6,
      extra: res.requestsPerSec,
      le100: (delta.find(([le]) => le === 0.0001)?.[1] ?? 0) / count,
      le250: (delta.find(([le]) => le === 0.00025)?.[1] ?? 0) / count,
    };
  } finally {
    child.kill('SIGKILL');
    await new Promise((resolve) => (child.exitCode === null ? child.once('exit', resolve) : resolve(undefined)));
    rmSync(dataDir, { recursive: true, force: true });
  }
}

async function untilReady(url: string, child: ChildProcess): Promise<void> {
  for (let i = 0; i < 300; i++) {
    if (child.exitCode !== null) throw new Error(`node exited with ${child.exitCode}`);
    const ok = await http(`${url}/readyz`).then((r) => r.status === 200, () => false);
    if (ok) return;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error('node not ready after 30 s');
}

/** Cumulative fsync histogram buckets [le seconds, count], sorted, with the sum beside them. */
function fsyncBuckets(s: Map<string, number>): Array<readonly [number, number]> & { sum: number } {
  const buckets = [...labelsOf(s, 'sluice_wal_fsync_duration_seconds_bucket')]
    .map(([labels, n]) => [parseLe(/le="([^"]+)"/.exec(labels)?.[1]), n] as const)
    .sort((a, b) => a[0] - b[0]);
  return Object.assign(buckets, { sum: s.get('sluice_wal_fsync_duration_seconds_sum') ?? 0 });
}

function parseLe(le: string | undefined): number {
  return le === '+Inf' ? Number.POSITIVE_INFINITY : Number(le);
}

/** The q-quantile of a cumulative histogram, linear within the bucket that holds it (seconds). */
function bucketQuantile(buckets: ReadonlyArray<readonly [number, number]>, q: number): number {
  const total = buckets.at(-1)![1];
  const rank = q * total;
  let lower = 0;
  let below = 0;
  for (const [le, n] of buckets) {
    if (n >= rank) return Number.isFinite(le) ? lower + ((le - lower) * (rank - below)) / Math.max(1, n - below) : lower;
    lower = le;
    below = n;
  }
  return lower;
}
