/**
 * Cluster benchmark (issue #3): 3 `sluice serve` nodes on this machine
 * coordinated by a 3-member etcd, a table with RF=3 written at the default
 * consistency (quorum: W=2). Bulk ingest of the single-node bench's records
 * spread over the 3 nodes; a timed load during which one node is SIGKILLed
 * halfway, its clients failing over to the survivors; the 3-member etcd
 * put rate for the same records as the replicated-consensus baseline; and
 * the ring placement figures. Beside the bulk ingest, in every run, its two
 * peers for issue 16: one node taking the same bodies, and three unreplicated
 * nodes taking them at once (the same storage work without replication).
 * Every figure is the median of `runs` runs, each on a fresh cluster.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { NodeProcess, http, sleep } from '../test/process/harness.ts';
import { waitUntil } from '../test/process/cluster.ts';
import { measureEtcdBaseline, type EtcdBaselineOptions } from './etcd-baseline.ts';
import { NODES, replicaTransportCosts, startCluster, type BenchCluster } from './lib/bench-cluster.ts';
import { threadCpuDelta, threadTimes, type ThreadTime } from './lib/thread-cpu.ts';
import { cpuSeconds, diffScrapes, labelled, metric, scrape } from './lib/node-metrics.ts';
import { runRingBench } from './ring.ts';
import { BENCH_TABLE, ndjsonBodies, recordLine } from './lib/records.ts';
import { bulkLoad, timedLoad, type LoadFailure, type LoadResult, type TimedLoadResult } from './lib/load.ts';
import { startReport } from './lib/report.ts';
import { fmt, median, quantile, sum } from './lib/stats.ts';

/** Options of the cluster benchmark. */
export interface ClusterBenchOptions {
  /** Records of the bulk ingest. */
  readonly records: number;
  readonly perBody: number;
  /** Keep-alive connections, dealt round-robin over the 3 nodes. */
  readonly connections: number;
  readonly runs: number;
  /** Length of the failover load; the node is killed halfway. */
  readonly failoverSeconds: number;
  /** The etcd baseline run after the cluster figures. */
  readonly etcd: EtcdBaselineOptions;
  /** Index engine of the nodes (their default when unset). */
  readonly engine?: 'lmdb' | 'level';
  /**
   * `--parts`: only these parts. `steady`: the bulk ingest (no failover
   * load, etcd baseline or ring figures); `transport`: the CPU of one replica
   * copy of a batch by transport (replicaTransportCosts). Unset: the bulk
   * ingest, failover, etcd and ring.
   */
  readonly parts?: readonly ('steady' | 'transport')[];
  /**
   * When set, every node's main thread is CPU-profiled for `profileSeconds`
   * in the middle of the bulk ingest (GET /debug/profile), the profiles saved
   * here as nN-runR.cpuprofile. Profiling costs CPU: such a run's figures are not comparable.
   */
  readonly profileDir?: string;
  readonly profileSeconds?: number;
}

/** The table's replication factor: with 3 nodes, every node holds every shard. */
const RF = 3;
/** The node SIGKILLed in the failover run (0-based: n3). */
const VICTIM = 2;
/** The window after the kill whose throughput and latency are "during the failure". */
const WINDOW_MS = 5_000;
/** Throughput/p99 targets of issue #3. */
const TARGET_RECORDS_PER_SEC = 100_000;
const TARGET_ETCD_RATIO = 5;
const TARGET_FAILOVER_P99_MS = 1_000;
/** Issue 16: CPU per record across the RF=3 cluster at most this many times one node's. */
const TARGET_RF3_CPU_RATIO = 2.5;

const TABLE = { ...BENCH_TABLE, replicationFactor: RF };
const RECORDS_PATH = `/v1/tables/${TABLE.name}/records`;

interface SteadyTrial {
  recordsPerSec: number;
  p50: number;
  p99: number;
  overloaded: number;
  nodeCpuSecondsPerMillion: number;
  etcdCpuSecondsPerMillion: number;
  clientCpuSecondsPerMillion: number;
  /** Records each node holds a copy of (sluice_replica_write_records_total), in node order. */
  copies: number[];
  records: number;
  /** Records copied by anti-entropy during the run, all nodes (pulled + pushed). */
  antiEntropyRecords: number;
  bootstrapMs: number;
  /** Records hinted (a replica write skipped or failed) though every node was up. */
  hintedRecords: number;
  /** Peers reported suspect or dead though every node was up. */
  suspicions: string[];
  /** CPU seconds per 1M records of each node (n1, n2, n3). */
  perNode: number[];
  /** CPU seconds per 1M records by thread name, the 3 nodes summed. */
  threads: Map<string, number>;
  /** WAL fsyncs (group commits) and the frames they carried, the 3 nodes summed. */
  fsyncs: number;
  walFrames: number;
  /** Main-thread GC pauses of the 3 nodes during the load by kind (major, minor, incremental): count and seconds. */
  gc: Map<string, { count: number; seconds: number }>;
}

interface FailoverTrial {
  killAtMs: number;
  beforeRate: number;
  duringRate: number;
  afterRate: number;
  p99Before: number;
  p99During: number;
  maxDuring: number;
  /** Requests answered 200 after at least one failed attempt. */
  retried: number;
  /** Longest latency of those, first attempt to the 200 (NaN: none). */
  retriedMaxMs: number;
  /** Failed attempts on the killed node from the kill on: requests in flight to it (sent again to a survivor). */
  expectedFailures: number;
  /** Every other failed attempt: non-2xx answers (other than 429) and connection failures on survivors. */
  unexpected: LoadFailure[];
  overloaded: number;
  /** How long after the kill each survivor first reported the victim not `alive` in GET /v1/cluster (NaN: never). */
  detectedMs: number[];
  /** Peers reported suspect or dead before the kill. */
  suspicionsBeforeKill: string[];
  /** Records each survivor stored as hints for the victim. */
  hintedRecords: number[];
  /** Records acknowledged from the kill on. */
  ackedAfterKill: number;
  /** Records answered per second of the load. */
  timeline: number[];
  recordsPerBody: number;
  /** Warnings and errors the nodes logged during the trial. */
  nodeLogIssues: string[];
}

/** Runs the cluster benchmark (then the etcd baseline and the ring figures) and returns the report as Markdown. */
export async function runClusterBench(o: ClusterBenchOptions): Promise<string> {
  const report = startReport('sluice-bench-cluster-');
  const { root, lines, log } = report;
  try {
    if (o.parts?.includes('transport') === true) await logTransportCosts(root, log);
    if (o.parts !== undefined && !o.parts.includes('steady')) return lines.join('\n');
    const sample = Array.from({ length: 10_000 }, (_, i) => recordLine(i));
    const avgBytes = sample.reduce((n, l) => n + l.length + 1, 0) / sample.length;
    const bodies = ndjsonBodies(0, Math.ceil(o.records / o.perBody), o.perBody);
    const records = bodies.length * o.perBody;

    const steady: SteadyTrial[] = [];
    const failover: FailoverTrial[] = [];
    const oneNode: number[] = [];
    const unreplicated: number[] = [];
    for (let run = 0; run < o.runs; run++) {
      const trial = await clusterTrial(root, run, bodies, o);
      steady.push(trial.steady);
      if (trial.failover !== undefined) failover.push(trial.failover);
      // The peer of issue 16's RF=3 target, in the same run: one node taking the same bodies.
      oneNode.push(await unreplicatedCpuPerMillion(root, run, bodies, o, 1));
      progress(`run ${run + 1}: one node ${fmt(oneNode.at(-1) as number, 2)} CPU-s per 1M records`);
      // What the cluster's storage work costs on these cores without replication: RF single nodes at once.
      unreplicated.push(await unreplicatedCpuPerMillion(root, run, bodies, o, RF));
      progress(`run ${run + 1}: ${RF} unreplicated nodes at once ${fmt(unreplicated.at(-1) as number, 2)} CPU-s per 1M records`);
    }

    const s = (f: (t: SteadyTrial) => number): number => median(steady.map(f));
    const clusterRate = s((t) => t.recordsPerSec);
    log(`## ${NODES}-node cluster, RF=${RF}, W=2 (consistency=quorum): durable bulk ingest (median of ${o.runs})`);
    log('');
    log(`${fmt(records)} records of ~${fmt(avgBytes)} B (the single-node bench's) as NDJSON bodies of ${o.perBody}, ${o.connections} keep-alive connections dealt round-robin over the ${NODES} nodes. Each body is answered once 2 of its 3 replicas have fsync'd it; every node holds every record. The ${NODES} nodes, their 3-member etcd and the load client share this machine's ${os.cpus().length} cores and one disk; a fresh cluster per run; index engine: ${o.engine ?? 'the nodes\' default'}.`);
    log('');
    log(`| figure | value | target |`);
    log(`|---|---|---|`);
    log(`| records/s | ${fmt(clusterRate)} | ≥ ${fmt(TARGET_RECORDS_PER_SEC)} (${fmt(clusterRate / TARGET_RECORDS_PER_SEC, 2)}× of it) |`);
    log(`| replicated records/s (records/s × RF) | ${fmt(clusterRate * RF)} | |`);
    log(`| request latency p50 / p99 | ${fmt(s((t) => t.p50), 1)} / ${fmt(s((t) => t.p99), 1)} ms | |`);
    log(`| node CPU per 1M records (${NODES} nodes) | ${fmt(s((t) => t.nodeCpuSecondsPerMillion), 2)} s | |`);
    log(`| one node, the same bodies over the same connections (same run, median) | ${fmt(median(oneNode), 2)} s per 1M records | |`);
    log(`| RF=${RF} ÷ one node, CPU per 1M records | ${fmt(s((t) => t.nodeCpuSecondsPerMillion) / median(oneNode), 2)}× | ≤ ${TARGET_RF3_CPU_RATIO}× (issue 16) |`);
    log(`| ${RF} unreplicated single nodes at once, each taking every body (same run, median; the cluster's storage work without replication, each record decoded ${RF} times) | ${fmt(median(unreplicated), 2)} s per 1M records (${fmt(median(unreplicated) / median(oneNode), 2)}× one node) | |`);
    log(`| RF=${RF} ÷ ${RF} unreplicated nodes at once, CPU per 1M records | ${fmt(s((t) => t.nodeCpuSecondsPerMillion) / median(unreplicated), 2)}× | |`);
    log(`| etcd CPU per 1M records (coordination, 3 members) | ${fmt(s((t) => t.etcdCpuSecondsPerMillion), 2)} s | |`);
    log(`| load client CPU per 1M records (this process) | ${fmt(s((t) => t.clientCpuSecondsPerMillion), 2)} s | |`);
    log(`| 429 answers (retried) | ${fmt(s((t) => t.overloaded))} | |`);
    log(`| records hinted though every node was up (all nodes) | ${steady.map((t) => fmt(t.hintedRecords)).join(' / ')} | 0 |`);
    log(`| records copied by anti-entropy during the run (all nodes) | ${steady.map((t) => fmt(t.antiEntropyRecords)).join(' / ')} | 0 |`);
    log(`| bootstrap repair of the fresh nodes, after they converged (waited for before the load) | ${steady.map((t) => `${fmt(t.bootstrapMs / 1000, 1)} s`).join(' / ')} | |`);
    log(`| copies held after the run, per node (n1 / n2 / n3) | ${steady.map((t) => t.copies.map((c) => fmt(c)).join(' / ')).join('; ')} | ${fmt(records)} each |`);
    log(`| WAL fsyncs during the load, 3 nodes; frames per fsync | ${steady.map((t) => `${fmt(t.fsyncs)}; ${fmt(t.walFrames / t.fsyncs, 1)}`).join(' / ')} | |`);
    log(`| main-thread GC pauses during the load, 3 nodes: major / minor / incremental (count, s) | ${steady.map((t) => ['major', 'minor', 'incremental'].map((k) => `${fmt(t.gc.get(k)?.count ?? 0)}, ${fmt(t.gc.get(k)?.seconds ?? 0, 2)} s`).join(' / ')).join('; ')} | |`);
    log(`| node CPU per 1M records, each run (n1 + n2 + n3) | ${steady.map((t) => `${fmt(t.nodeCpuSecondsPerMillion, 2)} (${t.perNode.map((c) => fmt(c, 2)).join(' + ')})`).join('; ')} | |`);
    log('');
    logThreads(steady, log);
    if (o.parts !== undefined) return lines.join('\n');

    const f = (g: (t: FailoverTrial) => number): number => median(failover.map(g));
    const before = f((t) => t.beforeRate);
    const during = f((t) => t.duringRate);
    const unexpected = failover.reduce((n, t) => n + t.unexpected.length, 0);
    const p99During = f((t) => t.p99During);
    log(`## Failover: n${VICTIM + 1} SIGKILLed halfway through a ${o.failoverSeconds} s load (median of ${o.runs})`);
    log('');
    log(`The same bodies for ${o.failoverSeconds} s over ${o.connections} connections dealt over the ${NODES} nodes, on the cluster of the bulk ingest; n${VICTIM + 1} is SIGKILLed at ${fmt(o.failoverSeconds / 2, 1)} s. A request that gets no HTTP answer marks its node down for the client, which sends it again (and every later request of that connection) to the next node up, as a client of a real cluster would. "During" is the ${WINDOW_MS / 1000} s after the kill (or up to the end of the load if sooner), "before" the ${WINDOW_MS / 1000} s before it (after a 1 s warm-up), "after" the rest of the load; latency is from the first attempt to the 200, retries included, counted in the window the answer came in. ${fmt(o.connections * o.perBody)} records are always in flight, so by Little's law the mean latency is at least ${fmt(o.connections * o.perBody)} ÷ the rate.`);
    log('');
    log(`| figure | value | target |`);
    log(`|---|---|---|`);
    log(`| records/s before / during / after | ${num(before)} / ${num(during)} / ${num(f((t) => t.afterRate))} | |`);
    log(`| throughput during the failure, of before | ${fmt((100 * during) / before, 0)} % | |`);
    log(`| request latency p99 before | ${fmt(f((t) => t.p99Before), 1)} ms | |`);
    log(`| request latency p99 / max during | ${fmt(p99During, 1)} / ${fmt(f((t) => t.maxDuring), 1)} ms | ≤ ${fmt(TARGET_FAILOVER_P99_MS)} ms p99 (${p99During <= TARGET_FAILOVER_P99_MS ? 'met' : 'missed'}) |`);
    log(`| requests in flight to n${VICTIM + 1} at the kill (failed, sent again to a survivor) | ${failover.map((t) => fmt(t.expectedFailures)).join(' / ')} | |`);
    log(`| requests answered after a retry; the longest, first attempt to the 200 | ${failover.map((t) => `${fmt(t.retried)}; ${num(t.retriedMaxMs)} ms`).join(' / ')} | |`);
    log(`| other failed requests (non-2xx but 429, or no answer from a survivor), all runs | ${fmt(unexpected)} | 0 (${unexpected === 0 ? 'met' : 'missed'}) |`);
    log(`| 429 answers (retried) | ${failover.map((t) => fmt(t.overloaded)).join(' / ')} | |`);
    log(`| n${VICTIM + 1} reported not alive in GET /v1/cluster, after the kill (${survivors().map((i) => `n${i + 1}`).join(' / ')}) | ${failover.map((t) => t.detectedMs.map((ms) => (Number.isNaN(ms) ? 'never' : `${fmt(ms / 1000, 1)} s`)).join(' / ')).join('; ')} | |`);
    log(`| records hinted for n${VICTIM + 1} on the survivors (${survivors().map((i) => `n${i + 1}`).join(' + ')}) / acknowledged from the kill on | ${failover.map((t) => `${t.hintedRecords.map((h) => fmt(h)).join(' + ')} / ${fmt(t.ackedAfterKill)}`).join('; ')} | hinted ≥ acknowledged |`);
    log('');
    for (const [run, t] of failover.entries()) {
      const killSecond = Math.floor(t.killAtMs / 1000);
      const cells = t.timeline.map((n, sec) => `${sec === killSecond ? '✝ ' : ''}${fmt((n * t.recordsPerBody) / 1000)}k`);
      log(`Run ${run + 1}, records/s second by second (✝: the second of the SIGKILL, at ${fmt(t.killAtMs / 1000, 2)} s): ${cells.join(' ')}`);
      log('');
    }
    if (unexpected > 0) {
      log(`Failed requests other than those in flight to n${VICTIM + 1} (first 20; times from the start of the load, the kill at ${failover.map((t) => `${fmt(t.killAtMs / 1000, 2)} s`).join(' / ')}):`);
      log('');
      log(`| run | at | node | in flight | failure |`);
      log(`|---|---|---|---|---|`);
      const all = failover.flatMap((t, run) => t.unexpected.map((u) => ({ run, u })));
      for (const { run, u } of all.slice(0, 20)) {
        log(`| ${run + 1} | ${fmt(u.atMs / 1000, 3)} s | n${u.url + 1} | ${fmt(u.inFlightMs, 0)} ms | ${u.kind === 'status' ? `HTTP ${u.status} ` : ''}${u.detail.replaceAll('|', '\\|').replaceAll('\n', ' ')} |`);
      }
      log('');
    }
    const falseAlarms = [
      ...steady.flatMap((t, run) => t.suspicions.map((l) => `run ${run + 1}, bulk ingest: ${l}`)),
      ...failover.flatMap((t, run) => t.suspicionsBeforeKill.map((l) => `run ${run + 1}, failover load before the kill: ${l}`)),
    ];
    if (falseAlarms.length > 0) {
      log(`Peers reported suspect while every node was up (GET /v1/cluster and the nodes' \`peer_state\` log; times from the start of that load):`);
      log('');
      for (const l of falseAlarms) log(`- ${l}`);
      log('');
    }
    const issues = failover.flatMap((t, run) => t.nodeLogIssues.map((l) => `run ${run + 1}: ${l}`));
    if (issues.length > 0) {
      log(`Warnings and errors logged by the nodes (first 20 of ${issues.length}):`);
      log('');
      for (const l of issues.slice(0, 20)) log(`- ${l.replaceAll('\n', ' ')}`);
      log('');
    }

    const etcd = await measureEtcdBaseline(o.etcd);
    const ratio = clusterRate / etcd.recordsPerSec;
    log(`## sluice cluster vs the 3-member etcd baseline`);
    log('');
    log(`| figure | sluice, ${NODES} nodes, RF=${RF}, W=2 | etcd, 3 members, batched txns | ratio | target |`);
    log(`|---|---|---|---|---|`);
    log(`| records/s | ${fmt(clusterRate)} | ${fmt(etcd.recordsPerSec)} | ${fmt(ratio, 2)}× | ≥ ${TARGET_ETCD_RATIO}× (${ratio >= TARGET_ETCD_RATIO ? 'met' : 'missed'}) |`);
    log(`| latency p50 / p99 (one request of ${o.perBody} / one txn of ${o.etcd.perTxn}) | ${fmt(s((t) => t.p50), 1)} / ${fmt(s((t) => t.p99), 1)} ms | ${fmt(etcd.p50, 1)} / ${fmt(etcd.p99, 1)} ms | | |`);
    log('');
    lines.push(runRingBench());
  } finally {
    report.close();
  }
  return lines.join('\n');
}

/** The nodes left running in the failover run. */
function survivors(): number[] {
  return Array.from({ length: NODES }, (_, i) => i).filter((i) => i !== VICTIM);
}

/** One fresh cluster: the bulk ingest, then the failover load. */
async function clusterTrial(root: string, run: number, bodies: readonly Buffer[], o: ClusterBenchOptions): Promise<{ steady: SteadyTrial; failover?: FailoverTrial }> {
  const dir = mkdtempSync(path.join(root, `run${run + 1}-`));
  let cluster: BenchCluster | undefined;
  try {
    progress(`run ${run + 1}: starting etcd and ${NODES} nodes`);
    cluster = await startCluster(dir, o.engine, o.profileDir === undefined ? [] : ['--debug-endpoints']);
    const created = await http(`${cluster.urls[0]}/v1/tables`, { method: 'POST', body: JSON.stringify(TABLE) });
    if (created.status !== 201) throw new Error(`create table: HTTP ${created.status} ${created.text}`);
    await waitUntil(async () => (await Promise.all(cluster!.urls.map((u) => http(`${u}/v1/tables/${TABLE.name}`)))).every((r) => r.status === 200), 15_000, 'the table on every node');
    progress(`run ${run + 1}: bulk ingest of ${fmt(bodies.length * o.perBody)} records`);
    const steady = await steadyTrial(cluster, bodies, o, run);
    progress(`run ${run + 1}: node CPU ${fmt(steady.nodeCpuSecondsPerMillion, 2)} s per 1M records (${steady.perNode.map((c) => fmt(c, 2)).join(' + ')})`);
    if (o.parts !== undefined) return { steady };
    progress(`run ${run + 1}: ${fmt(steady.recordsPerSec)} records/s; failover load for ${o.failoverSeconds} s`);
    const failover = await failoverTrial(cluster, bodies, o);
    progress(`run ${run + 1}: ${failover.unexpected.length} unexpected failures`);
    return { steady, failover };
  } finally {
    const keep = process.env['SLUICE_BENCH_LOG_DIR'];
    if (keep !== undefined && cluster !== undefined) {
      for (const [i, n] of cluster.nodes.entries()) {
        writeFileSync(path.join(keep, `run${run + 1}-n${i + 1}.log`), n.logs.map((l) => JSON.stringify(l)).join('\n') + '\n');
        writeFileSync(path.join(keep, `run${run + 1}-n${i + 1}.stderr`), n.stderr);
      }
    }
    await cluster?.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * `count` single nodes (same engine, no cluster), each taking every body at
 * once, the connections split between them: their CPU summed, per 1M
 * records each node stored. With one node it is the RF=3 target's peer;
 * with three it is the same storage work as the cluster's without any
 * replication (every record decoded three times), on the same cores.
 */
async function unreplicatedCpuPerMillion(root: string, run: number, bodies: readonly Buffer[], o: ClusterBenchOptions, count: number): Promise<number> {
  const cleanups: (() => Promise<unknown> | unknown)[] = [];
  const t = { after: (fn: () => Promise<unknown> | unknown) => cleanups.push(fn) };
  const dataDirs = Array.from({ length: count }, (_, i) => mkdtempSync(path.join(root, `unreplicated-${run + 1}-${i + 1}-`)));
  try {
    const nodes = await Promise.all(dataDirs.map((dataDir) => NodeProcess.start(t, { dataDir, args: o.engine === undefined ? [] : ['--engine', o.engine] })));
    for (const node of nodes) {
      const created = await http(`${node.url}/v1/tables`, { method: 'POST', body: JSON.stringify(BENCH_TABLE) });
      if (created.status !== 201) throw new Error(`create table: HTTP ${created.status} ${created.text}`);
    }
    const cpu0 = nodes.map((node) => cpuSeconds(node.pid));
    const loads = await Promise.all(nodes.map((node) => bulkLoad(node.url, `/v1/tables/${BENCH_TABLE.name}/records`, bodies, o.perBody, Math.ceil(o.connections / count))));
    return nodes.reduce((sum, node, i) => sum + ((cpuSeconds(node.pid) - (cpu0[i] as number)) / (loads[i] as LoadResult).records) * 1e6, 0);
  } finally {
    for (const fn of cleanups.reverse()) await fn();
    for (const dataDir of dataDirs) rmSync(dataDir, { recursive: true, force: true });
  }
}

async function steadyTrial(cluster: BenchCluster, bodies: readonly Buffer[], o: ClusterBenchOptions, run: number): Promise<SteadyTrial> {
  const nodeCpu0 = cluster.nodes.map((n) => cpuSeconds(n.pid));
  const threads0 = cluster.nodes.map((n) => threadTimes(n.pid));
  const scrapes0 = await Promise.all(cluster.urls.map(scrape));
  const etcdCpu0 = cluster.etcd.pids.map(cpuSeconds);
  const clientCpu0 = process.cpuUsage();
  const antiEntropy0 = await antiEntropyRecords(cluster.urls);
  const hinted0 = await hintedRecords(cluster.urls);
  const wall0 = Date.now();
  const profiles = o.profileDir === undefined ? undefined : profileNodes(cluster, o.profileDir, o.profileSeconds ?? 10, run);
  const res = await bulkLoad(cluster.urls, RECORDS_PATH, bodies, o.perBody, o.connections);
  const perNodeCpu = cluster.nodes.map((n, i) => cpuSeconds(n.pid) - (nodeCpu0[i] as number));
  const nodeCpu = sum(perNodeCpu);
  const threads = new Map<string, number>();
  for (const [i, n] of cluster.nodes.entries()) {
    for (const [name, s] of threadCpuDelta(threads0[i] as Map<number, ThreadTime>, threadTimes(n.pid))) threads.set(name, (threads.get(name) ?? 0) + (s / res.records) * 1e6);
  }
  await profiles;
  const wal = diffScrapes(scrapes0, await Promise.all(cluster.urls.map(scrape)));
  const etcdCpu = sum(cluster.etcd.pids.map((pid, i) => cpuSeconds(pid) - (etcdCpu0[i] as number)));
  const clientCpu = process.cpuUsage(clientCpu0);
  // The third replica of each body may still be writing when the client has its answer: give it a few seconds.
  let copies: number[] = [];
  await waitUntil(
    async () => {
      copies = await Promise.all(cluster.urls.map((u) => metric(u, 'sluice_replica_write_records_total')));
      return copies.every((c) => c >= res.records);
    },
    10_000,
    'every replica',
  ).catch(() => undefined);
  const perMillion = (cpu: number): number => (cpu / res.records) * 1e6;
  const antiEntropy = (await antiEntropyRecords(cluster.urls)) - antiEntropy0;
  const hinted = (await hintedRecords(cluster.urls)) - hinted0;
  return {
    recordsPerSec: res.records / res.seconds,
    p50: quantile(res.latenciesMs, 0.5),
    p99: quantile(res.latenciesMs, 0.99),
    overloaded: res.overloaded,
    nodeCpuSecondsPerMillion: perMillion(nodeCpu),
    etcdCpuSecondsPerMillion: perMillion(etcdCpu),
    clientCpuSecondsPerMillion: perMillion((clientCpu.user + clientCpu.system) / 1e6),
    copies,
    records: res.records,
    antiEntropyRecords: antiEntropy,
    bootstrapMs: cluster.bootstrapMs,
    hintedRecords: hinted,
    suspicions: suspicions(cluster.nodes, wall0, Date.now()),
    perNode: perNodeCpu.map(perMillion),
    threads,
    fsyncs: wal.get('sluice_wal_flush_bytes_count') ?? 0,
    walFrames: wal.get('sluice_wal_flush_frames_sum') ?? 0,
    gc: gcByKind(wal),
  };
}

/** GC pauses by kind from a scrape difference (prom-client's nodejs_gc_duration_seconds histogram). */
function gcByKind(diff: Map<string, number>): Map<string, { count: number; seconds: number }> {
  const out = new Map<string, { count: number; seconds: number }>();
  for (const [series, value] of diff) {
    const m = /^sluice_nodejs_gc_duration_seconds_(count|sum)\{kind="(\w+)"\}$/.exec(series);
    if (m === null) continue;
    const e = out.get(m[2] as string) ?? { count: 0, seconds: 0 };
    if (m[1] === 'count') e.count += value;
    else e.seconds += value;
    out.set(m[2] as string, e);
  }
  return out;
}

/** CPU profiles of every node's main thread, started 3 s into the load, saved as nN-runR.cpuprofile in `dir`. */
async function profileNodes(cluster: BenchCluster, dir: string, seconds: number, run: number): Promise<void> {
  mkdirSync(dir, { recursive: true });
  await sleep(3_000);
  await Promise.all(
    cluster.urls.map(async (u, i) => {
      const answer = await http(`${u}/debug/profile?seconds=${seconds}`);
      if (answer.status !== 200) throw new Error(`GET /debug/profile on n${i + 1}: HTTP ${answer.status} ${answer.text.slice(0, 300)}`);
      writeFileSync(path.join(dir, `n${i + 1}-run${run + 1}.cpuprofile`), answer.text);
    }),
  );
}

/** Transport batch: 1,000 of the bench's records are about 150 KB as a stamped record batch (149 B each in the WAL). */
const TRANSPORT_BATCH_BYTES = 150_000;
const TRANSPORT_BATCHES = 4_000;

/** The table of what one replica copy of a 1,000-record batch costs by transport (both ends, one process). */
async function logTransportCosts(root: string, log: (s: string) => void): Promise<void> {
  progress(`transport: ${fmt(TRANSPORT_BATCHES)} batches of ${fmt(TRANSPORT_BATCH_BYTES)} B per transport`);
  const costs = await replicaTransportCosts(root, TRANSPORT_BATCH_BYTES, TRANSPORT_BATCHES);
  log(`## One replica copy of a ${fmt(TRANSPORT_BATCH_BYTES / 1000)} KB batch (1,000 records), by transport`);
  log('');
  log(`Sender and receiver in this process over loopback, 8 batches in flight, ${fmt(TRANSPORT_BATCHES)} batches after 200 of warm-up; the receiver answers without storing. RF=3 sends two copies of every batch: CPU per 1M records = 2,000 × the figure.`);
  log('');
  log(`| transport | CPU µs per batch (both ends) | CPU s per 1M records at RF=3 | batches/s |`);
  log(`|---|---|---|---|`);
  for (const c of costs) log(`| ${c.transport} | ${fmt(c.usPerBatch)} | ${fmt((c.usPerBatch * 2_000) / 1e6, 2)} | ${fmt(c.batchesPerSec)} |`);
  log('');
}

/** The per-thread CPU table: median over the runs of each thread name's CPU per 1M records, the 3 nodes summed. */
function logThreads(steady: readonly SteadyTrial[], log: (s: string) => void): void {
  const names = [...new Set(steady.flatMap((t) => [...t.threads.keys()]))];
  const rows = names.map((name) => ({ name, s: median(steady.map((t) => t.threads.get(name) ?? 0)) })).filter((r) => r.s >= 0.05).sort((a, b) => b.s - a.s);
  log(`Node CPU per 1M records by thread (the ${NODES} nodes summed, /proc/PID/task/*/stat, median of ${steady.length}):`);
  log('');
  log(`| thread | CPU s per 1M records |`);
  log(`|---|---|`);
  for (const r of rows) log(`| ${r.name} | ${fmt(r.s, 2)} |`);
  log('');
}

async function failoverTrial(cluster: BenchCluster, bodies: readonly Buffer[], o: ClusterBenchOptions): Promise<FailoverTrial> {
  const killAt = (o.failoverSeconds * 1000) / 2;
  const logsBefore = cluster.nodes.map((n) => n.logs.length);
  let detection: Promise<number[]> = Promise.resolve(survivors().map(() => Number.NaN));
  const wall0 = Date.now();
  let killWall = Number.NaN;
  const res: TimedLoadResult = await timedLoad({
    urls: cluster.urls,
    path: RECORDS_PATH,
    bodies,
    connections: o.connections,
    seconds: o.failoverSeconds,
    events: [
      {
        atMs: killAt,
        run: () => {
          const killed = performance.now();
          killWall = Date.now();
          void (cluster.nodes[VICTIM] as NodeProcess).kill('SIGKILL');
          detection = Promise.all(survivors().map((i) => detectDown(cluster.urls[i] as string, `n${VICTIM + 1}`, killed, o.failoverSeconds * 1000)));
        },
      },
    ],
  });
  const killAtMs = res.eventsAtMs[0] ?? Number.NaN;
  if (Number.isNaN(killAtMs)) throw new Error('the kill did not happen during the load');
  const detectedMs = await detection;
  const hintedRecords = await Promise.all(survivors().map(async (i) => (await labelled(cluster.urls[i] as string, 'sluice_hinted_records_total')).get(`peer="n${VICTIM + 1}"`) ?? 0));

  const end = o.failoverSeconds * 1000;
  const inWindow = (from: number, to: number) => res.completions.filter((c) => c.endMs >= from && c.endMs < to);
  const rate = (from: number, to: number): number => (to > from ? (inWindow(from, to).length * o.perBody) / ((to - from) / 1000) : Number.NaN);
  const latencies = (from: number, to: number): number[] => inWindow(from, to).map((c) => c.endMs - c.startMs);
  const beforeFrom = Math.max(1_000, killAtMs - WINDOW_MS);
  const duringTo = Math.min(end, killAtMs + WINDOW_MS);
  const timeline = Array.from({ length: Math.ceil(end / 1000) }, () => 0);
  for (const c of res.completions) {
    const sec = Math.floor(c.endMs / 1000);
    if (sec < timeline.length) timeline[sec] = (timeline[sec] as number) + 1;
  }
  const expected = (u: LoadFailure): boolean => u.kind === 'connection' && u.url === VICTIM && u.atMs >= killAtMs;
  const during = latencies(killAtMs, duringTo);
  const retried = res.completions.filter((c) => c.attempts > 1);
  const nodeLogIssues = cluster.nodes.flatMap((n, i) =>
    n.logs
      .slice(logsBefore[i])
      .filter((l) => Number(l['level']) >= 40)
      .map((l) => `n${i + 1} ${levelName(Number(l['level']))} ${String(l['event'] ?? '')} ${String(l['msg'] ?? '')} ${l['err'] === undefined ? '' : JSON.stringify(l['err']).slice(0, 300)}`),
  );
  return {
    killAtMs,
    beforeRate: rate(beforeFrom, killAtMs),
    duringRate: rate(killAtMs, duringTo),
    afterRate: rate(duringTo, end),
    p99Before: quantile(latencies(beforeFrom, killAtMs), 0.99),
    p99During: quantile(during, 0.99),
    maxDuring: during.length === 0 ? Number.NaN : Math.max(...during),
    retried: retried.length,
    retriedMaxMs: retried.length === 0 ? Number.NaN : Math.max(...retried.map((c) => c.endMs - c.startMs)),
    expectedFailures: res.failures.filter(expected).length,
    unexpected: res.failures.filter((u) => !expected(u)),
    overloaded: res.overloaded,
    detectedMs,
    suspicionsBeforeKill: suspicions(cluster.nodes, wall0, killWall),
    hintedRecords,
    ackedAfterKill: res.completions.filter((c) => c.endMs >= killAtMs).length * o.perBody,
    timeline,
    recordsPerBody: o.perBody,
    nodeLogIssues,
  };
}

/** Polls GET /v1/cluster on `url` until it reports `peer` not alive; ms since `since` (NaN: not within `timeoutMs`). */
async function detectDown(url: string, peer: string, since: number, timeoutMs: number): Promise<number> {
  while (performance.now() - since < timeoutMs) {
    try {
      const view = (await http(`${url}/v1/cluster`)).body as { nodes?: { id: string; state: string }[] } | undefined;
      const state = view?.nodes?.find((n) => n.id === peer)?.state;
      if (state !== undefined && state !== 'alive') return performance.now() - since;
    } catch {
      // the survivor is busy or restarting: try again
    }
    await sleep(100);
  }
  return Number.NaN;
}

/** Records hinted so far for any peer, summed over the nodes. */
async function hintedRecords(urls: readonly string[]): Promise<number> {
  return sum((await Promise.all(urls.map((u) => labelled(u, 'sluice_hinted_records_total')))).flatMap((m) => [...m.values()]));
}

/** `peer_state` changes to suspect or dead the nodes logged between two wall-clock times, as text (times from `fromMs`). */
function suspicions(nodes: readonly NodeProcess[], fromMs: number, toMs: number): string[] {
  return nodes.flatMap((n, i) =>
    n.logs
      .filter((l) => l['event'] === 'peer_state' && l['state'] !== 'alive' && Number(l['time']) >= fromMs && Number(l['time']) < toMs)
      .map((l) => {
        const back = n.logs.find((a) => a['event'] === 'peer_state' && a['peer'] === l['peer'] && a['state'] === 'alive' && Number(a['time']) > Number(l['time']));
        const again = back === undefined ? '' : `, alive again ${fmt((Number(back['time']) - Number(l['time'])) / 1000, 1)} s later`;
        return `n${i + 1} saw ${String(l['peer'])} ${String(l['state'])} at ${fmt((Number(l['time']) - fromMs) / 1000, 1)} s${again}`;
      }),
  );
}

/** Records copied by anti-entropy so far, pulled and pushed, summed over the nodes. */
async function antiEntropyRecords(urls: readonly string[]): Promise<number> {
  return sum((await Promise.all(urls.map((u) => labelled(u, 'sluice_anti_entropy_records_total')))).flatMap((m) => [...m.values()]));
}

/** `fmt`, or n/a for a figure that has no value (an empty window). */
function num(n: number, digits = 0): string {
  return Number.isNaN(n) ? 'n/a' : fmt(n, digits);
}

function levelName(level: number): string {
  return level >= 60 ? 'fatal' : level >= 50 ? 'error' : level >= 40 ? 'warn' : String(level);
}

/** A progress line on stderr (stdout carries only the report). */
function progress(s: string): void {
  console.error(`[cluster bench] ${s}`);
}
