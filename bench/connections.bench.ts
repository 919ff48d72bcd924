/**
 * `npm run bench -- connections`: the white paper's load test with
 * `sluice bench` (issue 14), against a fresh node on this machine:
 *
 * 1. Hold: N idle keep-alive connections (`--rate 0`) for `holdSeconds`:
 *    the node's and the client's RSS per connection and the node's CPU while
 *    idle, beside a bare fastify server holding the same N (the peer).
 * 2. The white paper's workload at its rate (57,870 records/s, eight tables,
 *    5% out of order, 20 records per request) over the same N connections,
 *    read back with --verify: what the machine achieves.
 * 3. The same workload at a rate this machine sustains (`sustainRate`), with
 *    a CPU profile of the node: latencies when it keeps up, and where the
 *    CPU goes.
 * 4. Once: the node's CPU per million records by table and by request size.
 *
 * N is 100,000 where the process may raise its open-file limit that far;
 * elsewhere what the hard limit leaves (one process holds one end of each
 * connection). Every figure is the median of `runs`.
 */
import { spawn } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { NodeProcess, ROOT, TEST_TOKEN, http } from '../test/process/harness.ts';
import { hasSysResource, parseOpenFileLimits } from '../src/core/open-file-limits.ts';
import { summarizeProfile, type CpuProfile, type ProfileSummary } from './lib/cpu-profile.ts';
import { startReport, type Report } from './lib/report.ts';
import { fmt, median } from './lib/stats.ts';
import type { BenchResult } from '../src/loadgen/bench-result.ts';

/** Options of the connections benchmark. */
export interface ConnectionsBenchOptions {
  readonly runs: number;
  /** Connections; undefined: 100,000, or what this machine's open-file limit allows. */
  readonly connections: number | undefined;
  readonly holdSeconds: number;
  readonly loadSeconds: number;
  /** Records/s of part 3, a rate this machine sustains beside the client. */
  readonly sustainRate: number;
  readonly profileSeconds: number;
  /** Seconds of each part-4 measurement (0 skips part 4). */
  readonly costSeconds: number;
}

/** The white paper's rate: 5 billion records a day. */
const WHITE_PAPER_RATE = 57_870;
const WHITE_PAPER_BATCH = 20;
const BIN = path.join(ROOT, 'bin', 'sluice.js');
/**
 * The generator's own send lag (p99) past which a run is invalid, here: the
 * node and the generator share 2 cores, and at these rates the node takes
 * most of them, so the generator's timer ticks late by more than the 5 ms
 * default; its lag is printed beside the figures.
 */
const SEND_LAG_MS_MAX = 25;
/** Open files either process keeps besides its connections (the node's reserve, FDS_RESERVED, and some). */
const FD_MARGIN = 1_500;

interface RunFigures {
  readonly hold: BenchResult;
  readonly peerHold: BenchResult;
  readonly whitePaper: BenchResult;
  readonly sustained: BenchResult;
}

/** Runs the benchmark and returns its Markdown report. */
export async function runConnectionsBench(o: ConnectionsBenchOptions): Promise<string> {
  const report = startReport('sluice-connections-');
  const n = o.connections ?? connectionsThisMachineHolds(report);
  report.log(`## Load test: sluice bench (${fmt(n)} connections)`);
  report.log('');
  const runs: RunFigures[] = [];
  let profile: ProfileSummary | undefined;
  for (let run = 0; run < o.runs; run++) {
    const last = run === o.runs - 1;
    const { figures, profiled } = await oneRun(report, o, n, run, last ? o.profileSeconds : 0);
    runs.push(figures);
    profile = profiled ?? profile;
  }
  printHold(report, runs, n);
  printLoad(report, runs, o);
  if (profile !== undefined) printProfile(report, profile, o.profileSeconds);
  if (o.costSeconds > 0) await costByTable(report, o.costSeconds);
  return report.close();
}

/** 100,000, or what the hard open-file limit lets one process hold (said in the report). */
function connectionsThisMachineHolds(report: Report): number {
  const limits = parseOpenFileLimits(readFileSync('/proc/self/limits', 'utf8'));
  const privileged = hasSysResource(readFileSync('/proc/self/status', 'utf8'));
  if (privileged || limits === undefined || limits.hard >= 100_000 + FD_MARGIN) return 100_000;
  const n = Math.floor((limits.hard - FD_MARGIN) / 1000) * 1000;
  report.log(`This machine cannot hold 100,000 connections in one process: the hard open-file limit is ${fmt(limits.hard)} and this process may not raise it (no CAP_SYS_RESOURCE). Measured at ${fmt(n)}.`);
  report.log('');
  return n;
}

async function oneRun(report: Report, o: ConnectionsBenchOptions, n: number, run: number, profileSeconds: number): Promise<{ figures: RunFigures; profiled: ProfileSummary | undefined }> {
  const t = { after: (_fn: () => unknown) => undefined };
  const dir = path.join(report.root, `run${run}`);
  // LMDB keeps no table files open, so the node's whole open-file limit is for connections.
  const node = await NodeProcess.start(t, { dataDir: path.join(dir, 'node'), args: ['--engine', 'lmdb', '--connections-max', String(n + 100), '--debug-endpoints'] });
  try {
    const common = ['--url', node.url, '--connections', String(n), '--server-pid', String(node.pid), '--no-progress', '--max-send-lag', `${SEND_LAG_MS_MAX}ms`];
    progress(`run ${run + 1}/${o.runs}: holding ${fmt(n)} idle connections for ${o.holdSeconds} s`);
    const hold = await sluiceBench([...common, '--rate', '0', '--duration', `${o.holdSeconds}s`], dir, 'hold');
    progress(`run ${run + 1}/${o.runs}: the white paper's workload at ${fmt(WHITE_PAPER_RATE)} records/s for ${o.loadSeconds} s`);
    const workload = ['--batch', String(WHITE_PAPER_BATCH), '--out-of-order', '0.05', '--duration', `${o.loadSeconds}s`, '--verify'];
    const whitePaper = await sluiceBench([...common, ...workload, '--rate', String(WHITE_PAPER_RATE)], dir, 'white-paper');
    progress(`run ${run + 1}/${o.runs}: the same at ${fmt(o.sustainRate)} records/s`);
    let profile: Promise<{ status: number; body: unknown; text: string }> | undefined;
    const sustainedRun = sluiceBench([...common, ...workload, '--rate', String(o.sustainRate)], dir, 'sustained');
    if (profileSeconds > 0) {
      // Into the load: past the connects (a few thousand a second) and a quarter of the run.
      await sleep((n / 2_000 + o.loadSeconds / 4) * 1000);
      profile = http(`${node.url}/debug/profile?seconds=${profileSeconds}`);
    }
    const sustained = await sustainedRun;
    const answer = await profile;
    const profiled = answer !== undefined && answer.status === 200 ? summarizeProfile(answer.body as CpuProfile) : undefined;
    await node.kill('SIGKILL');
    progress(`run ${run + 1}/${o.runs}: a bare fastify server holding ${fmt(n)} connections`);
    const peerHold = await peerHolds(n, o.holdSeconds, dir);
    return { figures: { hold, peerHold, whitePaper, sustained }, profiled };
  } finally {
    await node.kill('SIGKILL');
  }
}

/** Runs `sluice bench` with `args` and returns its JSON result. */
async function sluiceBench(args: readonly string[], dir: string, name: string): Promise<BenchResult> {
  const json = path.join(dir, `${name}.json`);
  const child = spawn(process.execPath, [BIN, 'bench', ...args, '--json', json], { cwd: ROOT, env: { ...process.env, SLUICE_TOKEN: TEST_TOKEN }, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout.setEncoding('utf8').on('data', (c: string) => (out += c));
  child.stderr.setEncoding('utf8').on('data', (c: string) => (out += c));
  const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
  writeFileSync(path.join(dir, `${name}.out`), out);
  const keep = process.env['SLUICE_BENCH_LOG_DIR'];
  if (keep !== undefined) writeFileSync(path.join(keep, `connections-${name}-${Date.now()}.out`), out);
  try {
    return JSON.parse(readFileSync(json, 'utf8')) as BenchResult;
  } catch {
    throw new Error(`sluice bench ${name} exited ${code} without a result:\n${out.slice(-2000)}`);
  }
}

/** A bare fastify server holding `n` connections for `seconds`: its RSS per connection, the peer of part 1. */
async function peerHolds(n: number, seconds: number, dir: string): Promise<BenchResult> {
  const peer = spawn(process.execPath, [path.join(ROOT, 'bench', 'lib', 'http-ceiling-server.ts')], { cwd: ROOT, stdio: ['ignore', 'pipe', 'inherit'] });
  try {
    const url = await new Promise<string>((resolve, reject) => {
      peer.stdout.setEncoding('utf8').once('data', (line: string) => resolve(line.trim()));
      peer.once('exit', (code) => reject(new Error(`the peer exited ${code}`)));
    });
    return await sluiceBench(['--url', url, '--connections', String(n), '--server-pid', String(peer.pid), '--no-progress', '--rate', '0', '--duration', `${seconds}s`], dir, 'peer-hold');
  } finally {
    peer.kill('SIGKILL');
  }
}

function printHold(report: Report, runs: readonly RunFigures[], n: number): void {
  const m = (f: (r: RunFigures) => number): number => median(runs.map(f));
  const kib = (b: number): string => fmt(b / 1024, 1);
  report.log(`### Holding ${fmt(n)} idle keep-alive connections (median of ${runs.length})`);
  report.log('');
  report.log('| | sluice node | bare fastify (peer) |');
  report.log('|---|---|---|');
  report.log(`| RSS per connection, KiB | ${kib(m((r) => r.hold.server.rssBytesPerConnection ?? NaN))} | ${kib(m((r) => r.peerHold.server.rssBytesPerConnection ?? NaN))} |`);
  report.log(`| RSS at ${fmt(n)} connections, MiB | ${fmt(m((r) => r.hold.server.peakRssBytes) / 2 ** 20)} (from ${fmt(m((r) => r.hold.server.baselineRssBytes) / 2 ** 20)}) | ${fmt(m((r) => r.peerHold.server.peakRssBytes) / 2 ** 20)} (from ${fmt(m((r) => r.peerHold.server.baselineRssBytes) / 2 ** 20)}) |`);
  report.log(`| *est.* RSS at 100,000, GiB | ${fmt((m((r) => r.hold.server.baselineRssBytes) + 100_000 * m((r) => r.hold.server.rssBytesPerConnection ?? NaN)) / 2 ** 30, 2)} | ${fmt((m((r) => r.peerHold.server.baselineRssBytes) + 100_000 * m((r) => r.peerHold.server.rssBytesPerConnection ?? NaN)) / 2 ** 30, 2)} |`);
  report.log(`| CPU while idle, % of a core | ${fmt((m((r) => r.hold.server.cpuSeconds ?? NaN) / m((r) => r.hold.durationSeconds)) * 100, 1)} | ${fmt((m((r) => r.peerHold.server.cpuSeconds ?? NaN) / m((r) => r.peerHold.durationSeconds)) * 100, 1)} |`);
  report.log(`| connections opened (s to open them) | ${fmt(m((r) => r.hold.connections.opened))} (${fmt(m((r) => r.hold.connections.connectSeconds), 1)}) | ${fmt(m((r) => r.peerHold.connections.opened))} (${fmt(m((r) => r.peerHold.connections.connectSeconds), 1)}) |`);
  report.log(`| client (sluice bench) RSS per connection, KiB | ${kib(m((r) => r.hold.client.rssBytesPerConnection ?? NaN))} | ${kib(m((r) => r.peerHold.client.rssBytesPerConnection ?? NaN))} |`);
  report.log('');
}

function printLoad(report: Report, runs: readonly RunFigures[], o: ConnectionsBenchOptions): void {
  report.log(`### The white paper's workload (8 tables, 5% out of order, ${WHITE_PAPER_BATCH} records per request; median of ${runs.length})`);
  report.log('');
  report.log('| offered records/s | achieved records/s | response p50 / p99 / max, ms | service p99, ms | generator send lag p99, ms | 429 answers | failed requests | node CPU-s per 1M | client CPU-s per 1M | node peak RSS, MiB | verify (lost / duplicated / mismatched) | valid |');
  report.log('|---|---|---|---|---|---|---|---|---|---|---|---|');
  for (const pick of [(r: RunFigures) => r.whitePaper, (r: RunFigures) => r.sustained]) {
    const rs = runs.map(pick);
    const m = (f: (r: BenchResult) => number): number => median(rs.map(f));
    const v = rs.map((r) => `${r.verify?.lost ?? '?'}/${r.verify?.duplicated ?? '?'}/${r.verify?.mismatched ?? '?'}`).join(', ');
    report.log(
      `| ${fmt(rs[0]?.target.recordsPerSecond ?? 0)} | ${fmt(m((r) => r.records.perSecond))} | ${fmt(m((r) => r.latency.response.p50Ms), 1)} / ${fmt(m((r) => r.latency.response.p99Ms), 1)} / ${fmt(m((r) => r.latency.response.maxMs), 1)} | ` +
        `${fmt(m((r) => r.latency.service.p99Ms), 1)} | ${fmt(m((r) => r.latency.sendLag.p99Ms), 1)} | ${fmt(m((r) => r.requests.throttled))} | ${fmt(m((r) => r.requests.failed))} | ${fmt(m((r) => r.server.cpuSecondsPerMillionRecords ?? NaN), 1)} | ` +
        `${fmt(m((r) => r.client.cpuSecondsPerMillionRecords ?? NaN), 1)} | ${fmt(m((r) => r.server.peakRssBytes) / 2 ** 20)} | ${v} | ${rs.map((r) => (r.valid ? 'yes' : 'no')).join(', ')} |`,
    );
  }
  report.log('');
  const invalid = new Set(runs.flatMap((r) => [...r.whitePaper.invalidReasons, ...r.sustained.invalidReasons]));
  for (const why of invalid) report.log(`- invalid: ${why}`);
  report.log(`- ${o.loadSeconds} s each; the white-paper run's retries: ${runs.map((r) => fmt(r.whitePaper.requests.retries)).join(', ')}.`);
  report.log('');
}

function printProfile(report: Report, p: ProfileSummary, seconds: number): void {
  report.log(`### Where the node's main thread goes at the sustained rate (${seconds} s profile, ${fmt(p.idle * 100)}% idle)`);
  report.log('');
  report.log('| function | share of samples |');
  report.log('|---|---|');
  for (const f of p.functions.filter((x) => x.name !== '(idle)').slice(0, 15)) report.log(`| \`${f.name}\` | ${fmt(f.share * 100, 1)}% |`);
  report.log('');
}

/** The node's CPU per million records of each table alone, and of the mix at two request sizes. */
async function costByTable(report: Report, seconds: number): Promise<void> {
  const t = { after: (_fn: () => unknown) => undefined };
  const dir = path.join(report.root, 'cost');
  const node = await NodeProcess.start(t, { dataDir: path.join(dir, 'node'), args: ['--engine', 'lmdb'] });
  try {
    report.log(`### The node's CPU per million records by table and request size (${seconds} s at 20,000 records/s each, 32 connections)`);
    report.log('');
    report.log('| load | node CPU-s per 1M records |');
    report.log('|---|---|');
    const common = ['--url', node.url, '--connections', '32', '--server-pid', String(node.pid), '--no-progress', '--rate', '20000', '--duration', `${seconds}s`];
    const loads: [string, string[]][] = [
      ...['iot.reading', 'iot.event', 'iot.status', 'logs.app', 'logs.access', 'logs.audit', 'metrics.sample', 'payments'].map((table): [string, string[]] => [`${table}, 1,000 per request`, ['--mix', table, '--batch', '1000']]),
      ['all eight, 1,000 per request', ['--batch', '1000']],
      ['all eight, 20 per request', ['--batch', '20']],
      ['all eight, 20 per request, no dedupe keys', ['--batch', '20', '--no-dedupe']],
    ];
    for (const [label, args] of loads) {
      progress(`cost: ${label}`);
      const r = await sluiceBench([...common, ...args], dir, 'cost');
      report.log(`| ${label} | ${fmt(r.server.cpuSecondsPerMillionRecords ?? NaN, 1)} |`);
    }
    report.log('');
  } finally {
    await node.kill('SIGKILL');
  }
}

function progress(line: string): void {
  process.stderr.write(`[connections] ${line}\n`);
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
