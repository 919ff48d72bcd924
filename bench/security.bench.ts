/**
 * What security costs (issue 13): the same node, the same load, with
 * bearer-token authentication on (the default) and off (`--auth none`),
 * and with TLS (`--tls auto`), in the same run and alternating order, so
 * the machine's noise falls on every side alike. Durable bulk ingest (NDJSON bodies of 1,000 records) and
 * single-record requests (wrk). Every figure is the median of `runs`.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import path from 'node:path';
import { Agent, request } from 'undici';
import { NodeProcess, TEST_TOKEN, authHeaders, http } from '../test/process/harness.ts';
import { waitUntil } from '../test/process/cluster.ts';
import { startCluster } from './lib/bench-cluster.ts';
import { cpuSeconds } from './lib/node-metrics.ts';
import { BENCH_TABLE, ndjsonBodies } from './lib/records.ts';
import { bulkLoad } from './lib/load.ts';
import { ensureWrk, wrkPost } from './lib/wrk.ts';
import { startReport } from './lib/report.ts';
import { fmt, median } from './lib/stats.ts';

/** Options of the security benchmark. */
export interface SecurityBenchOptions {
  readonly records: number;
  /** Records of the cluster part (3 nodes, RF=3: mutual TLS between nodes, and --insecure-cluster); 0 skips it. */
  readonly clusterRecords: number;
  readonly connections: number;
  readonly singleSeconds: number;
  readonly runs: number;
}

/** One way of running the node, and the flags that make it so. */
interface Variant {
  readonly name: string;
  readonly args: readonly string[];
  /** Clients trust the node's `--tls auto` certificate. */
  readonly tls?: boolean;
}

/** The baseline (ratios are to it) comes second. */
const VARIANTS: readonly Variant[] = [
  { name: 'tokens (default)', args: [] },
  { name: '--auth none', args: ['--auth', 'none'] },
  { name: 'tokens + TLS (--tls auto)', args: ['--tls', 'auto'], tls: true },
];

interface Figures {
  bulkRecordsPerSec: number[];
  bulkCpuPerMillion: number[];
  singleRequestsPerSec: number[];
  singleP99Ms: number[];
}

/** Runs the benchmark and returns the report as Markdown. */
export async function runSecurityBench(o: SecurityBenchOptions): Promise<string> {
  const report = startReport('sluice-security-bench-');
  const { root, lines, log } = report;
  try {
    const perBody = 1000;
    const bodies = ndjsonBodies(0, Math.ceil(o.records / perBody), perBody);
    const wrk = ensureWrk();
    const figures = new Map<string, Figures>(VARIANTS.map((v) => [v.name, { bulkRecordsPerSec: [], bulkCpuPerMillion: [], singleRequestsPerSec: [], singleP99Ms: [] }]));
    for (let run = 0; run < o.runs; run++) {
      // Alternate which variant goes first: a machine that slows down during a run penalises both.
      const order = run % 2 === 0 ? VARIANTS : [...VARIANTS].reverse();
      for (const v of order) {
        const f = figures.get(v.name) as Figures;
        await withNode(root, v, async (node, ca) => {
          const cpu0 = cpuSeconds(node.pid);
          const res = await bulkLoad(node.url, `/v1/tables/${BENCH_TABLE.name}/records`, bodies, perBody, o.connections, ca);
          f.bulkRecordsPerSec.push(res.records / res.seconds);
          f.bulkCpuPerMillion.push(((cpuSeconds(node.pid) - cpu0) / res.records) * 1e6);
        });
        if (!wrk) continue;
        await withNode(root, v, async (node) => {
          const r = wrkPost(root, `${node.url}/v1/tables/${BENCH_TABLE.name}/records`, o.connections, o.singleSeconds, TEST_TOKEN);
          if (r.non2xx > 0) throw new Error(`${v.name}: ${r.non2xx} non-2xx answers`);
          f.singleRequestsPerSec.push(r.requestsPerSec);
          f.singleP99Ms.push(r.p99Ms);
        });
      }
    }
    const base = figures.get(VARIANTS[1]?.name ?? '') as Figures;
    log(`## Authentication on and off, TLS on and off (median of ${o.runs}, alternating order)`);
    log('');
    log(`Bulk: ${fmt(bodies.length * perBody)} records as NDJSON bodies of ${perBody}, ${o.connections} keep-alive connections (undici). Single: one record per POST from wrk, ${o.connections} keep-alive connections, ${o.singleSeconds} s. TLS: ECDSA P-256, TLS 1.3, handshakes once per connection.`);
    log('');
    log('| node | bulk records/s | vs --auth none | node CPU s / 1M records | single requests/s | vs --auth none | single p99 ms |');
    log('|---|---|---|---|---|---|---|');
    for (const v of VARIANTS) {
      const f = figures.get(v.name) as Figures;
      const bulk = median(f.bulkRecordsPerSec);
      const single = wrk ? median(f.singleRequestsPerSec) : NaN;
      log(`| ${v.name} | ${fmt(bulk)} | ${fmt(bulk / median(base.bulkRecordsPerSec), 3)}× | ${fmt(median(f.bulkCpuPerMillion), 2)} | ${fmt(single)} | ${fmt(single / median(base.singleRequestsPerSec), 3)}× | ${fmt(median(f.singleP99Ms), 2)} |`);
    }
    log('');
    log(`Runs (bulk records/s): ${VARIANTS.map((v) => `${v.name}: ${figures.get(v.name)?.bulkRecordsPerSec.map((x) => fmt(x)).join(', ')}`).join('; ')}`);
    if (wrk) log(`Runs (single requests/s): ${VARIANTS.map((v) => `${v.name}: ${figures.get(v.name)?.singleRequestsPerSec.map((x) => fmt(x)).join(', ')}`).join('; ')}`);
    log('');
    if (o.clusterRecords > 0) await clusterPart(root, o, log);
  } finally {
    report.close();
  }
  return lines.join('\n');
}

/** A 3-node cluster (RF=3, W=2) replicating over mutual TLS, and the same with --insecure-cluster, alternating. */
async function clusterPart(root: string, o: SecurityBenchOptions, log: (line: string) => void): Promise<void> {
  const perBody = 1000;
  const bodies = ndjsonBodies(0, Math.ceil(o.clusterRecords / perBody), perBody);
  const figures = { mtls: { rate: [] as number[], cpu: [] as number[] }, insecure: { rate: [] as number[], cpu: [] as number[] } };
  for (let run = 0; run < o.runs; run++) {
    const order: ('mtls' | 'insecure')[] = run % 2 === 0 ? ['mtls', 'insecure'] : ['insecure', 'mtls'];
    for (const peer of order) {
      const dir = mkdtempSync(path.join(root, `cluster-${peer}-`));
      const cluster = await startCluster(dir, undefined, ['--audit-log', 'off'], peer);
      try {
        const created = await http(`${cluster.urls[0]}/v1/tables`, { method: 'POST', body: JSON.stringify(BENCH_TABLE) });
        if (created.status !== 201) throw new Error(`create table: ${created.text}`);
        await waitUntil(async () => (await Promise.all(cluster.urls.map((u) => http(`${u}/v1/tables/${BENCH_TABLE.name}`)))).every((r) => r.status === 200), 10_000, 'the table on every node');
        const cpu0 = cluster.nodes.reduce((n, p) => n + cpuSeconds(p.pid), 0);
        const res = await bulkLoad(cluster.urls, `/v1/tables/${BENCH_TABLE.name}/records`, bodies, perBody, o.connections);
        figures[peer].rate.push(res.records / res.seconds);
        figures[peer].cpu.push(((cluster.nodes.reduce((n, p) => n + cpuSeconds(p.pid), 0) - cpu0) / res.records) * 1e6);
      } finally {
        await cluster.stop();
        rmSync(dir, { recursive: true, force: true });
      }
    }
  }
  log(`## Replication between nodes: mutual TLS and --insecure-cluster (3 nodes, RF=3, W=2, median of ${o.runs}, alternating order)`);
  log('');
  log(`${fmt(bodies.length * perBody)} records as NDJSON bodies of ${perBody}, ${o.connections} connections spread over the 3 nodes, with tokens.`);
  log('');
  log('| peers | records/s | ÷ --insecure-cluster | node CPU s / 1M records (3 nodes) |');
  log('|---|---|---|---|');
  for (const peer of ['mtls', 'insecure'] as const) {
    log(`| ${peer === 'mtls' ? 'mutual TLS (default)' : '--insecure-cluster'} | ${fmt(median(figures[peer].rate))} | ${fmt(median(figures[peer].rate) / median(figures.insecure.rate), 3)}× | ${fmt(median(figures[peer].cpu), 2)} |`);
  }
  log('');
  log(`Runs (records/s): mutual TLS ${figures.mtls.rate.map((x) => fmt(x)).join(', ')}; --insecure-cluster ${figures.insecure.rate.map((x) => fmt(x)).join(', ')}`);
  log('');
}

async function withNode(root: string, v: Variant, fn: (node: NodeProcess, ca: string | undefined) => Promise<void>): Promise<void> {
  const dataDir = mkdtempSync(path.join(root, 'node-'));
  const cleanups: (() => Promise<unknown> | unknown)[] = [];
  const t = { after: (f: () => Promise<unknown> | unknown) => cleanups.push(f) };
  try {
    const node = await NodeProcess.start(t as never, { dataDir, args: ['--disk-free-bytes-min', '0', '--audit-log', 'off', ...v.args] });
    const ca = v.tls === true ? readFileSync(path.join(dataDir, 'tls', 'server.crt'), 'utf8') : undefined;
    const dispatcher = new Agent(ca === undefined ? {} : { connect: { ca } });
    const res = await request(`${node.url}/v1/tables`, { method: 'POST', body: JSON.stringify(BENCH_TABLE), headers: authHeaders(), dispatcher });
    const text = await res.body.text();
    await dispatcher.close();
    if (res.statusCode !== 201) throw new Error(`create table: ${text}`);
    await fn(node, ca);
  } finally {
    for (const f of cleanups.reverse()) await f();
    rmSync(dataDir, { recursive: true, force: true });
  }
}

