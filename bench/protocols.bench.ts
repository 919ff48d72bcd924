/**
 * Protocols benchmark (issue 15): the same log records through each way
 * into one node, at the same batch size over the same keep-alive
 * connections: the native `POST /v1/tables/{t}/records` NDJSON (the peer,
 * same run), OTLP/HTTP protobuf and JSON, Elasticsearch `_bulk`, Loki push
 * protobuf+snappy and JSON. Durable before every answer, with auth on.
 *
 * Each run starts a fresh node and creates every table first (so no load
 * pays for a table creation), then loads the ways in an order rotated by
 * one per run, so none always meets the emptiest indexes. A way's bodies
 * are built just before its load (outside the clock; one way's bodies in
 * memory at a time), and each load waits for the machine to be quiet.
 * After each load the table is counted through the export: the records
 * must have landed, so a fast refusal cannot pass as throughput.
 *
 * Targets from the issue: OTLP protobuf and `_bulk` at ≥ 0.8× the native
 * NDJSON's records/s at the same batch size.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import path from 'node:path';
import { NodeProcess, http } from '../test/process/harness.ts';
import { benchLog, type BenchLog } from './lib/log-records.ts';
import { protocolLoad } from './lib/protocol-load.ts';
import { PROTOCOLS, WAYS, rotation, type Protocol } from './lib/protocol-ways.ts';
import { cpuMark, cpuSince, waitQuiet } from './lib/quiet.ts';
import { startReport } from './lib/report.ts';
import { fmt, median, quantile } from './lib/stats.ts';
import { exportCount } from './lib/table-count.ts';

/** Options of the protocols benchmark. */
export interface ProtocolsBenchOptions {
  /** Records per way in, per run. */
  readonly records: number;
  /** Records per request. */
  readonly perBody: number;
  readonly connections: number;
  readonly runs: number;
  /** How long a load may wait for the machine to quieten, ms (0: measure one window and go). @default QUIET_WAIT_MS_MAX */
  readonly quietWaitMsMax?: number;
  /** The ways loaded (the native peer always). @default PROTOCOLS */
  readonly ways?: readonly Protocol[];
}

/** A load starts once the node and other processes each used fewer cores than this over 2 s (or after quietWaitMsMax). */
const QUIET_CORES = 0.3;
/** The longest a load waits for that, as the cluster benches. */
export const QUIET_WAIT_MS_MAX = 180_000;
/** The target: these ways at least this share of the native NDJSON's records/s. */
const TARGET_RATIO = 0.8;
const TARGETS: readonly Protocol[] = ['otlp-protobuf', 'es-bulk'];
/** Event times start this long before the run: the records are recent, never in the future. */
const EVENT_TIME_LEAD_MS = 3_600_000;

/** What one load of one way measured. */
interface Trial {
  readonly protocol: Protocol;
  readonly recordsPerSec: number;
  readonly p50: number;
  readonly p99: number;
  readonly cpuSecondsPerMillion: number;
  readonly otherCores: number;
  readonly retried: number;
  readonly bodyBytesPerRecord: number;
  readonly quietWaitSeconds: number;
}

/** Runs the benchmark and returns the report as Markdown. */
export async function runProtocolsBench(options: ProtocolsBenchOptions): Promise<string> {
  const o = { ...options, quietWaitMsMax: options.quietWaitMsMax ?? QUIET_WAIT_MS_MAX, ways: options.ways ?? PROTOCOLS };
  for (const [name, v] of [['records', o.records], ['batch', o.perBody], ['connections', o.connections], ['runs', o.runs]] as const) {
    if (!Number.isSafeInteger(v) || v < 1) throw new Error(`protocols bench: --${name} must be a positive integer, got ${v}`);
  }
  const report = startReport('sluice-bench-protocols-');
  try {
    const trials: Trial[] = [];
    for (let run = 0; run < o.runs; run++) trials.push(...(await runOnce(report.root, run, o)));
    printReport(report.log, trials, o);
  } finally {
    report.close();
  }
  return report.lines.join('\n');
}

/** One run: a fresh node, every way loaded once in this run's order. */
async function runOnce(root: string, run: number, o: Required<ProtocolsBenchOptions>): Promise<Trial[]> {
  const dataDir = mkdtempSync(path.join(root, `run${run}-`));
  const cleanups: (() => Promise<unknown> | unknown)[] = [];
  const t = { after: (fn: () => Promise<unknown> | unknown) => cleanups.push(fn) };
  try {
    const node = await NodeProcess.start(t, { dataDir });
    for (const table of new Set(o.ways.map((p) => WAYS[p].table))) {
      const def = o.ways.map((p) => WAYS[p]).find((w) => w.table === table)?.definition;
      const res = await http(`${node.url}/v1/tables`, { method: 'POST', body: JSON.stringify(def) });
      if (res.status !== 201) throw new Error(`create table ${table}: HTTP ${res.status} ${res.text}`);
    }
    const baseMs = Date.now() - EVENT_TIME_LEAD_MS;
    const trials: Trial[] = [];
    for (const protocol of rotation(run, o.ways)) {
      progress(`run ${run + 1}/${o.runs}: ${protocol}`);
      trials.push(await loadOne(node, protocol, baseMs, o));
    }
    return trials;
  } finally {
    for (const fn of cleanups.reverse()) await fn();
    rmSync(dataDir, { recursive: true, force: true });
  }
}

/** Builds one way's bodies, waits for quiet, loads them, and checks every record landed. */
async function loadOne(node: NodeProcess, protocol: Protocol, baseMs: number, o: Required<ProtocolsBenchOptions>): Promise<Trial> {
  const way = WAYS[protocol];
  const bodies = buildBodies(protocol, baseMs, o);
  const bytes = bodies.reduce((n, b) => n + b.length, 0);
  const before = await exportCount(node.url, way.table);
  const quietMs = await waitQuiet(node.pid, QUIET_CORES, o.quietWaitMsMax);
  const mark = cpuMark(node.pid);
  const res = await protocolLoad(node.url, way, bodies, o.perBody, o.connections);
  const cpu = cpuSince(node.pid, mark);
  const landed = (await exportCount(node.url, way.table)) - before;
  if (landed !== res.records) throw new Error(`${protocol}: ${fmt(res.records)} records answered as written, but ${fmt(landed)} landed in ${way.table}`);
  return {
    protocol,
    recordsPerSec: res.records / res.seconds,
    p50: quantile(res.latenciesMs, 0.5),
    p99: quantile(res.latenciesMs, 0.99),
    cpuSecondsPerMillion: (cpu.node / res.records) * 1e6,
    otherCores: cpu.other / res.seconds,
    retried: res.retried,
    bodyBytesPerRecord: bytes / res.records,
    quietWaitSeconds: quietMs / 1000,
  };
}

/** Every body of one way: record numbers 0..records-1, the same records for every way. */
function buildBodies(protocol: Protocol, baseMs: number, o: ProtocolsBenchOptions): Buffer[] {
  const encode = WAYS[protocol].encode;
  const count = Math.ceil(o.records / o.perBody);
  const bodies: Buffer[] = [];
  for (let b = 0; b < count; b++) {
    const logs: BenchLog[] = [];
    for (let k = 0; k < o.perBody; k++) logs.push(benchLog(b * o.perBody + k, baseMs));
    bodies.push(encode(logs));
  }
  return bodies;
}

function progress(line: string): void {
  process.stderr.write(`[protocols] ${line}\n`);
}

/** The report: one row per way, medians over runs, ratios to the native NDJSON, the targets. */
function printReport(log: (line: string) => void, trials: readonly Trial[], o: Required<ProtocolsBenchOptions>): void {
  const of = (p: Protocol): Trial[] => trials.filter((t) => t.protocol === p);
  const m = (p: Protocol, f: (t: Trial) => number): number => median(of(p).map(f));
  const native = m('native', (t) => t.recordsPerSec);
  const records = Math.ceil(o.records / o.perBody) * o.perBody;
  log(`## Shipper protocols vs native NDJSON, one node (median of ${o.runs})`);
  log('');
  log(`${fmt(records)} log records per way in and run, ${fmt(o.perBody)} per request, ${o.connections} keep-alive connections, fsync before every answer, auth on (bearer token). A fresh node per run with every table created first; the ways run in an order rotated per run (${rotation(0, o.ways).join(' → ')} in run 1). Each load waits until the node and other processes each use < ${QUIET_CORES} cores (at most ${fmt(o.quietWaitMsMax / 1000)} s), and is checked through the export: every record answered as written has landed.`);
  log('');
  log(`| way in | records/s | × native | p50 / p99 ms | node CPU-s per 1M | body B/record | 429/503 retried | other processes, cores | waited for quiet, s |`);
  log(`|---|---|---|---|---|---|---|---|---|`);
  for (const p of o.ways) {
    const rate = m(p, (t) => t.recordsPerSec);
    log(`| ${WAYS[p].label} | ${fmt(rate)} | ${fmt(rate / native, 2)}× | ${fmt(m(p, (t) => t.p50), 1)} / ${fmt(m(p, (t) => t.p99), 1)} | ${fmt(m(p, (t) => t.cpuSecondsPerMillion), 1)} | ${fmt(m(p, (t) => t.bodyBytesPerRecord))} | ${fmt(m(p, (t) => t.retried))} | ${fmt(m(p, (t) => t.otherCores), 2)} | ${fmt(m(p, (t) => t.quietWaitSeconds))} |`);
  }
  log('');
  log(`Targets (issue 15): ≥ ${TARGET_RATIO}× the native NDJSON's records/s at the same batch size.`);
  log('');
  for (const p of TARGETS.filter((t) => o.ways.includes(t))) {
    const ratio = m(p, (t) => t.recordsPerSec) / native;
    log(`- ${WAYS[p].label}: ${fmt(ratio, 2)}× — ${ratio >= TARGET_RATIO ? 'met' : 'missed'}`);
  }
  log('');
}
