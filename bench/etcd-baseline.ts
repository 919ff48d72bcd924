/**
 * etcd baseline (groundwork for #3): the put rate of a real 3-member etcd
 * cluster on this machine for the single-node benchmark's payment records,
 * written as batched transactions from several concurrent clients. It is
 * the figure to beat for "why not keep the records in etcd": same records,
 * same durability (etcd fsyncs its raft log before answering), same disk.
 * Every figure is the median of `runs` runs, each on a fresh cluster.
 */
import { spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Etcd3, type IRequestOp } from 'etcd3';
import { ETCD_BIN, freePort } from '../test/process/etcd.ts';
import { spawnOwned } from '../test/process/owned-spawn.ts';
import { BENCH_TABLE, recordLine } from './lib/records.ts';
import { startReport } from './lib/report.ts';
import { fmt, median, quantile } from './lib/stats.ts';

/** A running local etcd cluster. */
export interface EtcdCluster {
  /** Client URLs, one per member. */
  readonly endpoints: string[];
  /** Member PIDs, in member order. */
  readonly pids: number[];
  /** SIGKILLs every member by PID and waits for the exits; safe to call twice. */
  stop(): Promise<void>;
}

/**
 * Starts an etcd cluster of `members` members on free loopback ports, each
 * with its own data dir under `dir`, and resolves once every member reports
 * healthy. On failure the members already started are killed before the
 * error is thrown; if this process exits first they are SIGKILLed too.
 */
export async function startEtcdCluster(dir: string, members = 3, timeoutMs = 30_000): Promise<EtcdCluster> {
  const ports = new Set<number>();
  // Ports are released before etcd binds them; at least make sure two members never get the same one.
  while (ports.size < 2 * members) ports.add(await freePort());
  const [clientPorts, peerPorts] = [[...ports].slice(0, members), [...ports].slice(members)];
  const names = Array.from({ length: members }, (_, i) => `m${i + 1}`);
  const peerUrl = (i: number): string => `http://127.0.0.1:${peerPorts[i]}`;
  const endpoints = names.map((_, i) => `http://127.0.0.1:${clientPorts[i]}`);
  const initialCluster = names.map((name, i) => `${name}=${peerUrl(i)}`).join(',');
  // A unique token keeps members of an earlier cluster that reuse a port from joining this one.
  const token = `sluice-bench-${process.pid}-${Date.now()}`;
  const stderr = names.map(() => '');
  const children: ChildProcess[] = names.map((name, i) => {
    const child = spawnOwned(
      ETCD_BIN,
      [
        '--name', name,
        '--data-dir', path.join(dir, name),
        '--listen-client-urls', endpoints[i] as string,
        '--advertise-client-urls', endpoints[i] as string,
        '--listen-peer-urls', peerUrl(i),
        '--initial-advertise-peer-urls', peerUrl(i),
        '--initial-cluster', initialCluster,
        '--initial-cluster-token', token,
        '--initial-cluster-state', 'new',
        '--log-level', 'error',
      ],
      { stdio: ['ignore', 'ignore', 'pipe'] },
    );
    // etcd logs to stderr; keep the tail for failure messages.
    child.stderr?.setEncoding('utf8').on('data', (chunk: string) => (stderr[i] = ((stderr[i] ?? '') + chunk).slice(-10_000)));
    return child;
  });
  const alive = (c: ChildProcess): boolean => c.exitCode === null && c.signalCode === null;
  // Synchronous, so it also runs on process.exit() and uncaught errors: no member outlives the bench.
  const killAll = (): void => {
    for (const c of children) if (alive(c)) c.kill('SIGKILL');
  };
  // A signal skips 'exit' handlers: kill the members, then let the signal end this process as usual.
  const onSignal = (signal: NodeJS.Signals): void => {
    killAll();
    process.kill(process.pid, signal);
  };
  const signals = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;
  process.on('exit', killAll);
  for (const s of signals) process.once(s, onSignal);
  const stop = async (): Promise<void> => {
    process.off('exit', killAll);
    for (const s of signals) process.off(s, onSignal);
    await Promise.all(
      children.map((c) => {
        if (!alive(c)) return undefined;
        const exited = new Promise((resolve) => c.once('exit', resolve));
        c.kill('SIGKILL');
        return exited;
      }),
    );
  };

  try {
    const deadline = Date.now() + timeoutMs;
    for (const [i, endpoint] of endpoints.entries()) {
      for (;;) {
        const child = children[i] as ChildProcess;
        if (!alive(child)) throw new Error(`etcd member ${names[i]} exited ${child.exitCode ?? child.signalCode}: ${stderr[i]}`);
        if (Date.now() > deadline) throw new Error(`etcd member ${names[i]} not healthy within ${timeoutMs} ms: ${stderr[i]}`);
        try {
          // /health is true once the member sees a leader and can commit: the cluster has quorum.
          const res = await fetch(`${endpoint}/health`);
          if (res.ok && ((await res.json()) as { health?: string }).health === 'true') break;
        } catch {
          // not listening yet
        }
        await new Promise((r) => setTimeout(r, 50));
      }
    }
  } catch (err) {
    await stop();
    throw err;
  }
  return { endpoints, pids: children.map((c) => c.pid as number), stop };
}

/** Options of the etcd baseline. */
export interface EtcdBaselineOptions {
  /** Seconds of load per run. */
  readonly seconds: number;
  readonly runs: number;
  /** Concurrent clients, each its own connection with one transaction in flight (32 is where this machine's rate levels off). */
  readonly clients: number;
  /** Puts per transaction (etcd refuses more than 128 by default, --max-txn-ops). */
  readonly perTxn: number;
}

interface Trial {
  recordsPerSec: number;
  txnPerSec: number;
  p50: number;
  p99: number;
  etcdCpuSecondsPerMillion: number;
  clientCpuSecondsPerMillion: number;
}

/** Never written, so comparing its create revision to 0 is always true (the client's transactions need a comparison). */
const ALWAYS_TRUE_KEY = 'bench/never-written';

/** Runs the etcd baseline and returns the report as Markdown. */
export async function runEtcdBaseline(o: EtcdBaselineOptions): Promise<string> {
  return (await measureEtcdBaseline(o)).markdown;
}

/** The etcd baseline's report and its medians, for suites that print ratios to it. */
export interface EtcdBaselineResult {
  readonly markdown: string;
  readonly recordsPerSec: number;
  readonly p50: number;
  readonly p99: number;
}

/** Runs the etcd baseline (printing its report) and returns the report with its median figures. */
export async function measureEtcdBaseline(o: EtcdBaselineOptions): Promise<EtcdBaselineResult> {
  const report = startReport('sluice-bench-etcd-');
  const { root, lines, log } = report;
  try {
    const sample = Array.from({ length: 10_000 }, (_, i) => recordLine(i));
    const avgBytes = sample.reduce((n, l) => n + l.length, 0) / sample.length;
    const trials: Trial[] = [];
    for (let run = 0; run < o.runs; run++) trials.push(await trial(root, o));
    const m = (f: (t: Trial) => number): number => median(trials.map(f));
    log(`## etcd baseline: 3-member cluster, batched puts (median of ${o.runs})`);
    log('');
    log(`etcd ${etcdVersion()} (${ETCD_BIN}), 3 members and the load client on this machine's ${os.cpus().length} cores, one data dir per member on the same disk. The bench's ~${fmt(avgBytes)} B payment records as values under \`${BENCH_TABLE.name}/<txn_id>\`, ${o.perTxn} puts per transaction, ${o.clients} concurrent clients (one transaction in flight each, connected to every member), ${o.seconds} s per run.`);
    log('');
    // CPU is what limits etcd here, not fsync: the cores busy show how close the run came to the machine.
    const cores = (cpuPerMillion: number): number => (cpuPerMillion * m((t) => t.recordsPerSec)) / 1e6;
    log(`| figure | value | cores busy (of ${os.cpus().length}) |`);
    log(`|---|---|---|`);
    log(`| records/s | ${fmt(m((t) => t.recordsPerSec))} | ${fmt(cores(m((t) => t.etcdCpuSecondsPerMillion + t.clientCpuSecondsPerMillion)), 2)} (etcd + client) |`);
    log(`| transactions/s | ${fmt(m((t) => t.txnPerSec))} | |`);
    log(`| transaction latency p50 / p99 | ${fmt(m((t) => t.p50), 1)} / ${fmt(m((t) => t.p99), 1)} ms | |`);
    log(`| etcd CPU per 1M records (3 members) | ${fmt(m((t) => t.etcdCpuSecondsPerMillion), 2)} s | ${fmt(cores(m((t) => t.etcdCpuSecondsPerMillion)), 2)} |`);
    log(`| client CPU per 1M records (this process) | ${fmt(m((t) => t.clientCpuSecondsPerMillion), 2)} s | ${fmt(cores(m((t) => t.clientCpuSecondsPerMillion)), 2)} |`);
    log('');
    return { markdown: lines.join('\n'), recordsPerSec: m((t) => t.recordsPerSec), p50: m((t) => t.p50), p99: m((t) => t.p99) };
  } finally {
    report.close();
  }
}

async function trial(root: string, o: EtcdBaselineOptions): Promise<Trial> {
  const dir = mkdtempSync(path.join(root, 'cluster-'));
  const cluster = await startEtcdCluster(dir);
  const clients: Etcd3[] = [];
  try {
    for (let c = 0; c < o.clients; c++) clients.push(new Etcd3({ hosts: cluster.endpoints }));
    // Open every connection before the clock starts.
    await Promise.all(clients.map((client, c) => client.put(`bench/warmup-${c}`).value('x').exec()));
    const latenciesMs: number[] = [];
    let next = 0;
    let records = 0;
    const etcdCpu0 = cluster.pids.reduce((s, pid) => s + cpuSeconds(pid), 0);
    const clientCpu0 = process.cpuUsage();
    const started = performance.now();
    const deadline = started + o.seconds * 1000;
    const worker = async (client: Etcd3): Promise<void> => {
      while (performance.now() < deadline) {
        const first = next;
        next += o.perTxn;
        // Raw request ops: the builder's per-put promises would cost client CPU this machine's etcd needs.
        const ops: IRequestOp[] = [];
        for (let i = first; i < first + o.perTxn; i++) {
          const line = recordLine(i);
          ops.push({ request_put: { key: Buffer.from(`${BENCH_TABLE.name}/tx-${String(i).padStart(10, '0')}`), value: Buffer.from(line) } });
        }
        const t0 = performance.now();
        const res = await client.if(ALWAYS_TRUE_KEY, 'Create', '==', 0).then(...ops).commit();
        if (!res.succeeded) throw new Error('etcd transaction took the failure branch');
        latenciesMs.push(performance.now() - t0);
        records += o.perTxn;
      }
    };
    await Promise.all(clients.map((client) => worker(client)));
    const seconds = (performance.now() - started) / 1000;
    const etcdCpu = cluster.pids.reduce((s, pid) => s + cpuSeconds(pid), 0) - etcdCpu0;
    const clientCpu = process.cpuUsage(clientCpu0);
    return {
      recordsPerSec: records / seconds,
      txnPerSec: latenciesMs.length / seconds,
      p50: quantile(latenciesMs, 0.5),
      p99: quantile(latenciesMs, 0.99),
      etcdCpuSecondsPerMillion: (etcdCpu / records) * 1e6,
      clientCpuSecondsPerMillion: ((clientCpu.user + clientCpu.system) / 1e6 / records) * 1e6,
    };
  } finally {
    for (const client of clients) client.close();
    await cluster.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

/** `3.4.23` from `etcd --version`. */
function etcdVersion(): string {
  const out = spawnSync(ETCD_BIN, ['--version'], { encoding: 'utf8' }).stdout ?? '';
  return /etcd Version: (\S+)/.exec(out)?.[1] ?? 'unknown version';
}

/** User + system CPU seconds of a process so far (/proc/PID/stat, clock ticks of 100 Hz). */
function cpuSeconds(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.split(' ') ?? [];
  return (Number(fields[11]) + Number(fields[12])) / 100;
}
