/**
 * Atomic batches on the cluster bench's load (issue #12,
 * `npm run bench -- cluster --atomic`): 3 `sluice serve` nodes and a
 * 3-member etcd, a table with RF=3 written at W=2, the bench's records over
 * 32 connections, each load with and without `atomic=true` on the same
 * fresh cluster:
 *
 * - bodies of 1,000 records spanning every shard (two-phase commit, one
 *   decision in etcd per body);
 * - bodies of 1,000 records inside one shard (a plain write with one
 *   version: no two-phase commit);
 * - bodies of 100 records spanning every shard (ten times the decisions
 *   per record);
 * - range reads of keys of their own, without `as_of` and with
 *   `as_of=now`, before and after those loads.
 *
 * The plain and atomic loads alternate as plain, atomic, atomic, plain,
 * or the other way round in every other round and run, so neither gets
 * the emptier index, the colder process or more of LevelDB's periodic
 * compactions. Each load is followed by a settle (the third replica,
 * conclusions) whose CPU is counted with it. Failed requests are counted by
 * status and error code, never retried nor hidden. Every figure is the
 * median of `runs` runs, each on a fresh cluster with fresh data dirs.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { http, sleep } from '../test/process/harness.ts';
import { waitUntil } from '../test/process/cluster.ts';
import { shardOf } from '../src/core/murmur3.ts';
import { startCluster, type BenchCluster } from './lib/bench-cluster.ts';
import { summarizeProfile, type CpuProfile, type ProfileSummary } from './lib/cpu-profile.ts';
import { countedLoad, readLoad, timedLoad, type CountedLoadResult, type ReadLoadResult } from './lib/load.ts';
import { cpuSeconds, diffScrapes, machineBusySeconds, scrape, scrapeEtcd, type Scrape } from './lib/node-metrics.ts';
import { BENCH_TABLE, accountsByShard, ndjsonBodies, readKey, readSetBodies, singleShardBodies } from './lib/records.ts';
import { printAtomicReport, type AtomicTrial, type Comparison, type ReadCheck, type Segment } from './lib/atomic-report.ts';
import { startReport } from './lib/report.ts';
import { fmt, sum } from './lib/stats.ts';

/** Options of the atomic-batch cluster benchmark. */
export interface ClusterAtomicOptions {
  /** Records of the 1,000-record-body loads across shards, per mode. */
  readonly records: number;
  /** Records of the single-shard loads, per mode. */
  readonly singleShardRecords: number;
  /** Records of the 100-record-body loads, per mode. */
  readonly smallBodyRecords: number;
  /** Plain, atomic, atomic, plain this many times per comparison, the records split evenly. @default 1 */
  readonly rounds?: number;
  /** The comparisons to run, in this order. @default all three */
  readonly loads?: readonly Comparison['name'][];
  /** Keep-alive connections, dealt round-robin over the 3 nodes. */
  readonly connections: number;
  readonly runs: number;
  /** Range reads per mode (without and with as_of), before and after the loads. */
  readonly readRequests: number;
  /** Seconds of CPU profile of n1 during an atomic and a plain load, last run only (0: none). */
  readonly profileSeconds: number;
  /** Index engine of the nodes (their default when unset). */
  readonly engine?: 'lmdb' | 'level';
}

const RF = 3;
const TABLE = { ...BENCH_TABLE, replicationFactor: RF };
const RECORDS_PATH = `/v1/tables/${TABLE.name}/records`;
/** The comparisons, in the order they run by default. */
export const LOADS: readonly Comparison['name'][] = ['spanning', 'single-shard', 'small'];
/** Records per body of the main load and of the small-body load. */
const BODY = 1000;
const SMALL_BODY = 100;
/** Records of each kind the unmeasured warm-up writes (JIT, connections, etcd's first decisions). */
const WARMUP_RECORDS = 50_000;
/** The read set: keys of their own, written before everything, so reads before and after see the same records. */
const READ_KEYS = 200;
const READ_PER_KEY = 50;
/** Short requests: 16 in flight keep the 3 nodes busy without queueing most of the latency. */
const READ_CONNECTIONS = 16;
/** A settle ends when the nodes together use less CPU than this (cores), or after SETTLE_MS_MAX. */
const SETTLE_CORES = 0.3;
const SETTLE_MS_MAX = 15_000;
/**
 * The machine is shared: a measured load starts once other processes used
 * fewer cores than this over 2 s, or after QUIET_WAIT_MS_MAX anyway (what
 * they used during each load is reported).
 */
const QUIET_CORES = 0.3;
const QUIET_WAIT_MS_MAX = 180_000;
/** Record numbers of run r start at r × this, so no two runs (or loads) store the same record. */
const RUN_RECORD_SPAN = 100_000_000;

/** Runs the benchmark and returns the report as Markdown. */
export async function runClusterAtomicBench(o: ClusterAtomicOptions): Promise<string> {
  const report = startReport('sluice-bench-cluster-atomic-');
  try {
    const trials: AtomicTrial[] = [];
    for (let run = 0; run < o.runs; run++) trials.push(await trial(report.root, run, o));
    printAtomicReport(report.log, trials, { ...o, rf: RF, body: BODY, smallBody: SMALL_BODY, readKeys: READ_KEYS, readPerKey: READ_PER_KEY, readConnections: READ_CONNECTIONS, cores: os.cpus().length, quietCores: QUIET_CORES, quietWaitSecondsMax: QUIET_WAIT_MS_MAX / 1000 });
  } finally {
    report.close();
  }
  return report.lines.join('\n');
}

/** One fresh cluster: read set, warm-up, reads before, the three comparisons, reads after, and (last run) the profiles. */
async function trial(root: string, run: number, o: ClusterAtomicOptions): Promise<AtomicTrial> {
  const dir = mkdtempSync(path.join(root, `run${run + 1}-`));
  let cluster: BenchCluster | undefined;
  let next = run * RUN_RECORD_SPAN;
  /** Record numbers for `n` records, never used before. */
  const take = (n: number): number => {
    const first = next;
    next += n;
    return first;
  };
  try {
    progress(`run ${run + 1}: starting etcd and 3 nodes`);
    // The profile of the last run is read from /debug/profile, served only with --debug-endpoints (to admin tokens).
    cluster = await startCluster(dir, o.engine, o.profileSeconds > 0 ? ['--debug-endpoints'] : []);
    const c = cluster;
    const created = await http(`${c.urls[0]}/v1/tables`, { method: 'POST', body: JSON.stringify(TABLE) });
    if (created.status !== 201) throw new Error(`create table: HTTP ${created.status} ${created.text}`);
    await waitUntil(async () => (await Promise.all(c.urls.map((u) => http(`${u}/v1/tables/${TABLE.name}`)))).every((r) => r.status === 200), 15_000, 'the table on every node');
    const shards = Number(((await http(`${c.urls[0]}/v1/cluster`)).body as { shardCount?: number } | undefined)?.shardCount ?? 16);
    const byShard = accountsByShard((k) => shardOf(k, shards), shards);

    progress(`run ${run + 1}: read set and warm-up`);
    await mustLoad(c, RECORDS_PATH, readSetBodies(take(READ_KEYS * READ_PER_KEY), READ_KEYS, READ_PER_KEY, BODY), BODY, o.connections);
    await mustLoad(c, RECORDS_PATH, ndjsonBodies(take(WARMUP_RECORDS), WARMUP_RECORDS / BODY, BODY), BODY, o.connections);
    await mustLoad(c, `${RECORDS_PATH}?atomic=true`, ndjsonBodies(take(WARMUP_RECORDS), WARMUP_RECORDS / BODY, BODY), BODY, o.connections);
    await mustLoad(c, `${RECORDS_PATH}?atomic=true`, ndjsonBodies(take(WARMUP_RECORDS / 5), WARMUP_RECORDS / 5 / SMALL_BODY, SMALL_BODY), SMALL_BODY, o.connections);
    await settle(c);

    progress(`run ${run + 1}: reads before`);
    const readsBefore = await readCheck(c, o.readRequests);

    const comparisons: Comparison[] = [];
    const compare = async (name: Comparison['name'], perBody: number, records: number, bodies: (first: number, count: number) => Buffer[]): Promise<void> => {
      const rounds = o.rounds ?? 1;
      const half = Math.max(1, Math.round(records / perBody / 2 / rounds));
      const plainPath = RECORDS_PATH;
      const atomicPath = `${RECORDS_PATH}?atomic=true`;
      progress(`run ${run + 1}: ${name}: ${fmt(2 * rounds * half * perBody)} records per mode, ${rounds} round(s) of plain/atomic/atomic/plain or atomic/plain/plain/atomic`);
      const half1 = async (route: string, label: string): Promise<Segment> => {
        const s = await segment(c, route, bodies(take(half * perBody), half), perBody, o.connections);
        progress(`run ${run + 1}: ${name} ${label}: ${fmt(s.load.records / s.load.seconds)} records/s, nodes ${fmt((s.nodeCpu / s.load.records) * 1e6, 1)} CPU-s per 1M, others ${fmt(s.otherCpu / (s.load.seconds + s.settleSeconds), 2)} cores, settle ${fmt(s.settleSeconds, 1)} s`);
        return s;
      };
      const cmp: Comparison = { name, perBody, plainFirst: run % 2 === 0, plain: [], atomic: [] };
      const plainHalf = async (k: number): Promise<void> => void cmp.plain.push(await half1(plainPath, `plain ${k}`));
      const atomicHalf = async (k: number): Promise<void> => void cmp.atomic.push(await half1(atomicPath, `atomic ${k}`));
      for (let r = 0; r < rounds; r++) {
        // LevelDB compacts about every million records: a fixed order would let that period favour
        // one mode's positions. Counterbalanced: plain-atomic-atomic-plain, then atomic-plain-plain-atomic.
        const [first, second] = (r + run) % 2 === 0 ? [plainHalf, atomicHalf] : [atomicHalf, plainHalf];
        await first(2 * r + 1);
        await second(2 * r + 1);
        await second(2 * r + 2);
        await first(2 * r + 2);
      }
      progress(`run ${run + 1}: ${name}: plain ${fmt(rate(cmp.plain))} records/s, atomic ${fmt(rate(cmp.atomic))} records/s, failures ${failureText(cmp)}`);
      comparisons.push(cmp);
    };
    // Each run starts the rotation one later, so no load is always the one after the same other (compactions they leave behind).
    const loads = o.loads ?? LOADS;
    for (const name of loads.map((_, i) => loads[(i + run) % loads.length] as Comparison['name'])) {
      if (name === 'spanning') await compare(name, BODY, o.records, (first, count) => ndjsonBodies(first, count, BODY));
      else if (name === 'single-shard') await compare(name, BODY, o.singleShardRecords, (first, count) => singleShardBodies(first, count, BODY, byShard));
      else await compare(name, SMALL_BODY, o.smallBodyRecords, (first, count) => ndjsonBodies(first, count, SMALL_BODY));
    }

    progress(`run ${run + 1}: reads after`);
    const readsAfter = await readCheck(c, o.readRequests);
    const profiles = run === o.runs - 1 && o.profileSeconds > 0 ? await profilePair(c, o, take) : undefined;
    return { comparisons, readsBefore, readsAfter, ...(profiles === undefined ? {} : { profiles }), recordsStored: next - run * RUN_RECORD_SPAN };
  } finally {
    const keep = process.env['SLUICE_BENCH_LOG_DIR'];
    if (keep !== undefined && cluster !== undefined) {
      for (const [i, n] of cluster.nodes.entries()) {
        writeFileSync(path.join(keep, `atomic-run${run + 1}-n${i + 1}.log`), n.logs.map((l) => JSON.stringify(l)).join('\n') + '\n');
        writeFileSync(path.join(keep, `atomic-run${run + 1}-n${i + 1}.stderr`), n.stderr);
      }
    }
    await cluster?.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

/** An unmeasured load that must succeed (read set, warm-up). */
async function mustLoad(c: BenchCluster, route: string, bodies: readonly Buffer[], perBody: number, connections: number): Promise<void> {
  const res = await countedLoad(c.urls, route, bodies, perBody, connections);
  if (res.failures.size > 0) throw new Error(`load before the measurements failed: ${JSON.stringify([...res.failureSamples])}`);
}

/** One measured load of `bodies` to `route`, then its settle; CPU and metrics from the start to the end of the settle. */
async function segment(c: BenchCluster, route: string, bodies: readonly Buffer[], perBody: number, connections: number): Promise<Segment> {
  const quietWaitMs = await quiet(c);
  const logsAt = c.nodes.map((n) => n.logs.length);
  const [nodes0, etcd0] = await Promise.all([Promise.all(c.urls.map(scrape)), Promise.all(c.etcd.endpoints.map(scrapeEtcd))]);
  const cpu0 = cpuNow(c);
  const load: CountedLoadResult = await countedLoad(c.urls, route, bodies, perBody, connections);
  const settleMs = await settle(c);
  const cpu = cpuSince(c, cpu0);
  const [nodes1, etcd1] = await Promise.all([Promise.all(c.urls.map(scrape)), Promise.all(c.etcd.endpoints.map(scrapeEtcd))]);
  return {
    load,
    perBody,
    settleSeconds: settleMs / 1000,
    quietWaitSeconds: quietWaitMs / 1000,
    ...cpu,
    nodeMetrics: diffScrapes(nodes0, nodes1),
    etcdMetrics: etcd1.map((s, i) => diffScrapes([etcd0[i] as Scrape], [s])),
    logIssues: logIssues(c, logsAt),
    loadAverage: os.loadavg()[0] ?? Number.NaN,
  };
}

interface CpuMark {
  readonly nodes: number[];
  readonly etcd: number[];
  readonly client: NodeJS.CpuUsage;
  readonly machine: number;
}

function cpuNow(c: BenchCluster): CpuMark {
  return { nodes: c.nodes.map((n) => cpuSeconds(n.pid)), etcd: c.etcd.pids.map(cpuSeconds), client: process.cpuUsage(), machine: machineBusySeconds() };
}

/** CPU seconds since `m`: the nodes, etcd, this process, and everything else on the machine. */
function cpuSince(c: BenchCluster, m: CpuMark): { nodeCpu: number; etcdCpu: number; clientCpu: number; otherCpu: number } {
  const nodeCpu = sum(c.nodes.map((n, i) => cpuSeconds(n.pid) - (m.nodes[i] as number)));
  const etcdCpu = sum(c.etcd.pids.map((pid, i) => cpuSeconds(pid) - (m.etcd[i] as number)));
  const client = process.cpuUsage(m.client);
  const clientCpu = (client.user + client.system) / 1e6;
  const otherCpu = Math.max(0, machineBusySeconds() - m.machine - nodeCpu - etcdCpu - clientCpu);
  return { nodeCpu, etcdCpu, clientCpu, otherCpu };
}

/** Waits until the nodes are idle (the third replica has written, conclusions are done); returns how long it took, ms. */
async function settle(c: BenchCluster): Promise<number> {
  const started = performance.now();
  while (performance.now() - started < SETTLE_MS_MAX) {
    const before = sum(c.nodes.map((n) => cpuSeconds(n.pid)));
    await sleep(500);
    if ((sum(c.nodes.map((n) => cpuSeconds(n.pid))) - before) / 0.5 < SETTLE_CORES) break;
  }
  return performance.now() - started;
}

/** Waits until other processes leave the machine alone (QUIET_CORES); returns how long it waited, ms. */
async function quiet(c: BenchCluster): Promise<number> {
  const started = performance.now();
  for (;;) {
    const mark = cpuNow(c);
    await sleep(2_000);
    const otherCores = cpuSince(c, mark).otherCpu / 2;
    const waited = performance.now() - started;
    if (otherCores < QUIET_CORES || waited > QUIET_WAIT_MS_MAX) return waited;
  }
}

/** Warnings and errors the nodes logged since `logsAt`, counted by node, level and event. */
function logIssues(c: BenchCluster, logsAt: readonly number[]): Map<string, { count: number; sample: string }> {
  const out = new Map<string, { count: number; sample: string }>();
  for (const [i, n] of c.nodes.entries()) {
    for (const l of n.logs.slice(logsAt[i])) {
      const level = Number(l['level']);
      if (level < 40) continue;
      const key = `n${i + 1} ${level >= 50 ? 'error' : 'warn'} ${String(l['event'] ?? l['msg'] ?? '?')}`;
      const seen = out.get(key);
      if (seen !== undefined) seen.count++;
      else out.set(key, { count: 1, sample: JSON.stringify(l).slice(0, 400) });
    }
  }
  return out;
}

/** Range reads of the read set without as_of and with as_of=now, after a warm-up of each, as plain, as_of, as_of, plain. */
async function readCheck(c: BenchCluster, requests: number): Promise<ReadCheck> {
  const plain = Array.from({ length: READ_KEYS }, (_, k) => `${RECORDS_PATH}?key=${readKey(k)}&limit=${READ_PER_KEY * 2}`);
  const asOf = plain.map((p) => `${p}&as_of=now`);
  await quiet(c);
  await readLoad(c.urls, plain, Math.min(500, requests), READ_CONNECTIONS);
  await readLoad(c.urls, asOf, Math.min(500, requests), READ_CONNECTIONS);
  const half = Math.max(1, Math.round(requests / 2));
  const p1 = await readLoad(c.urls, plain, half, READ_CONNECTIONS);
  const a1 = await readLoad(c.urls, asOf, half, READ_CONNECTIONS);
  const a2 = await readLoad(c.urls, asOf, half, READ_CONNECTIONS);
  const p2 = await readLoad(c.urls, plain, half, READ_CONNECTIONS);
  return { plain: [p1, p2], asOf: [a1, a2] } satisfies { plain: ReadLoadResult[]; asOf: ReadLoadResult[] };
}

/** CPU profiles of n1's main thread during an atomic and then a plain load of bodies across shards (not measured loads). */
async function profilePair(c: BenchCluster, o: ClusterAtomicOptions, take: (n: number) => number): Promise<{ atomic: ProfileSummary; plain: ProfileSummary }> {
  const profileOf = async (route: string, label: string): Promise<ProfileSummary> => {
    progress(`profiling n1 for ${o.profileSeconds} s during a ${label} load`);
    const seconds = o.profileSeconds + 3;
    // About what the cluster takes in those seconds; timedLoad starts over from the first body if it takes more.
    const bodies = ndjsonBodies(take(seconds * 80 * BODY), seconds * 80, BODY);
    let profile: Promise<{ status: number; body: unknown; text: string }> | undefined;
    const load = await timedLoad({
      urls: c.urls,
      path: route,
      bodies,
      connections: o.connections,
      seconds,
      events: [{ atMs: 1_500, run: () => (profile = http(`${c.urls[0]}/debug/profile?seconds=${o.profileSeconds}`)) }],
    });
    if (profile === undefined) throw new Error('the profile did not start');
    const answer = await profile;
    if (answer.status !== 200) throw new Error(`GET /debug/profile: HTTP ${answer.status} ${answer.text.slice(0, 300)}`);
    const p = answer.body as CpuProfile;
    const keep = process.env['SLUICE_BENCH_LOG_DIR'];
    if (keep !== undefined) writeFileSync(path.join(keep, `atomic-n1-${label}.cpuprofile`), JSON.stringify(p));
    progress(`${label} load: ${fmt((load.completions.length * BODY) / load.seconds)} records/s while profiled, ${load.failures.length} failed attempts`);
    await settle(c);
    return summarizeProfile(p);
  };
  const atomic = await profileOf(`${RECORDS_PATH}?atomic=true`, 'atomic');
  const plain = await profileOf(RECORDS_PATH, 'plain');
  return { atomic, plain };
}

function rate(segments: readonly Segment[]): number {
  return sum(segments.map((s) => s.load.records)) / sum(segments.map((s) => s.load.seconds));
}

function failureText(cmp: Comparison): string {
  const all = new Map<string, number>();
  for (const s of [...cmp.plain, ...cmp.atomic]) for (const [k, v] of s.load.failures) all.set(k, (all.get(k) ?? 0) + v);
  return all.size === 0 ? 'none' : [...all].map(([k, v]) => `${k}: ${v}`).join(', ');
}

/** A progress line on stderr (stdout carries only the report). */
function progress(s: string): void {
  console.error(`[cluster atomic bench] ${new Date().toISOString().slice(11, 19)} ${s}`);
}
