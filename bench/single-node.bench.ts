/**
 * Single-node benchmark (issue #2): durable bulk ingest for each engine,
 * single-record requests, and WAL replay, each printed next to the machine's
 * own limits measured in the same run (fdatasync'd sequential writes,
 * JSON.parse on one core); bulk ingest, reads by shard key and by id and
 * the NDJSON export next to PostgreSQL on the same records (issue 16).
 * Every figure is the median of `runs` runs.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import path from 'node:path';
import { NodeProcess, TEST_TOKEN, http } from '../test/process/harness.ts';
import { fsyncWriteMBps, fsyncsPerSecond, jsonParseRecordsPerSecond } from './lib/machine-limits.ts';
import { BENCH_ACCOUNTS, BENCH_TABLE, accountId, benchRecords, ndjsonBodies, recordLine } from './lib/records.ts';
import { ensurePostgres, PostgresPeer, type PeerLoad, type PeerTable, type PgbenchResult } from './lib/postgres-peer.ts';
import { freePort } from '../test/process/etcd.ts';
import { bulkLoad } from './lib/load.ts';
import { ensureWrk, wrkGet, wrkPost, type WrkResult } from './lib/wrk.ts';
import { countOutputLines } from './lib/line-count.ts';
import { THREAD_KINDS, threadCpu, threadCpuSince, type ThreadCpu } from './lib/thread-cpu.ts';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { startReport } from './lib/report.ts';
import { fmt, median, quantile } from './lib/stats.ts';

/** Options of one benchmark run. */
export interface SingleNodeBenchOptions {
  readonly records: number;
  readonly perBody: number;
  readonly connections: number;
  readonly singleSeconds: number;
  /** Seconds of the same single-record load before the measured ones, not counted (JIT warm-up, first segments). */
  readonly singleWarmupSeconds: number;
  readonly runs: number;
  readonly engines: readonly ('lmdb' | 'level')[];
  /** Seconds of each read load (by shard key, by id) after the bulk load, after as many not counted; 0 leaves reads and export out. */
  readonly readSeconds: number;
}

interface Trial {
  recordsPerSec: number;
  p50: number;
  p99: number;
  overloaded: number;
  cpuSecondsPerMillion: number;
  /** The same CPU by thread kind, per 1M records. */
  threads: ThreadCpu;
  walMBps: number;
  replayRecordsPerSec: number;
  replayRecords: number;
  reads: ReadFigures | undefined;
}

/** Reads of the loaded table, and its export (issue 16: nothing measured may get slower). */
interface ReadFigures {
  /** `GET …/records?key=` of one account (its ~10 records), accounts in turn. */
  byKey: WrkResult;
  /** `GET …/records/{id}`, ids in turn. */
  byId: WrkResult;
  exportRowsPerSec: number;
  /** Server CPU per 1M exported rows. */
  exportCpuPerMillion: number;
}

/** Runs the benchmark and returns the report as Markdown. */
export async function runSingleNodeBench(o: SingleNodeBenchOptions): Promise<string> {
  const report = startReport('sluice-bench-');
  const { root, lines, log } = report;
  try {
    const sample = Array.from({ length: 10_000 }, (_, i) => recordLine(i));
    const avgBytes = sample.reduce((n, l) => n + l.length + 1, 0) / sample.length;
    const parseRate = median(Array.from({ length: 3 }, () => jsonParseRecordsPerSecond(sample, 1)));
    const fsync64k = median(Array.from({ length: 3 }, () => fsyncWriteMBps(root, 64 * 1024, 64 * 1024 * 1024)));
    const fsync1m = median(Array.from({ length: 3 }, () => fsyncWriteMBps(root, 1024 * 1024, 256 * 1024 * 1024)));
    const fsyncRate = median(Array.from({ length: 3 }, () => fsyncsPerSecond(root, 4096, 2000)));
    log(`## Machine limits (same run)`);
    log('');
    log(`| limit | value |`);
    log(`|---|---|`);
    log(`| JSON.parse, one core, these records (${fmt(avgBytes)} B) | ${fmt(parseRate)} records/s |`);
    log(`| write + fdatasync, 64 KiB chunks | ${fmt(fsync64k)} MB/s |`);
    log(`| write + fdatasync, 1 MiB chunks | ${fmt(fsync1m)} MB/s |`);
    log(`| fdatasync'd 4 KiB writes | ${fmt(fsyncRate)} /s |`);
    log('');

    const bodies = ndjsonBodies(0, Math.ceil(o.records / o.perBody), o.perBody);
    const bulk = new Map<string, Trial[]>();
    for (const engine of o.engines) {
      const trials: Trial[] = [];
      for (let run = 0; run < o.runs; run++) trials.push(await bulkTrial(root, engine, bodies, o));
      bulk.set(engine, trials);
      const m = (f: (t: Trial) => number): number => median(trials.map(f));
      log(`## Durable bulk ingest, ${engine} (median of ${o.runs})`);
      log('');
      log(`${fmt(bodies.length * o.perBody)} records of ~${fmt(avgBytes)} B as NDJSON bodies of ${o.perBody}, ${o.connections} keep-alive connections, fsync before every answer.`);
      log('');
      log(`| figure | value | ratio to the machine |`);
      log(`|---|---|---|`);
      log(`| records/s | ${fmt(m((t) => t.recordsPerSec))} | ${fmt(m((t) => t.recordsPerSec) / parseRate, 2)}× one-core JSON.parse |`);
      log(`| request latency p50 / p99 | ${fmt(m((t) => t.p50), 1)} / ${fmt(m((t) => t.p99), 1)} ms | |`);
      log(`| WAL write rate | ${fmt(m((t) => t.walMBps), 1)} MB/s | ${fmt(m((t) => t.walMBps) / fsync1m, 2)}× fdatasync'd 1 MiB writes |`);
      log(`| server CPU per 1M records | ${fmt(m((t) => t.cpuSecondsPerMillion), 2)} s | |`);
      log(`| … of it by thread: main / decode workers / libuv (WAL, index) / V8 helpers (GC) | ${THREAD_KINDS.filter((k) => k !== 'other').map((k) => fmt(m((t) => t.threads[k]), 2)).join(' / ')} s | |`);
      log(`| 429 answers (retried) | ${fmt(m((t) => t.overloaded))} | |`);
      log(`| WAL replay (index rebuilt from ${fmt(m((t) => t.replayRecords))} records) | ${fmt(m((t) => t.replayRecordsPerSec))} records/s | ${fmt(m((t) => t.replayRecordsPerSec) / parseRate, 2)}× one-core JSON.parse |`);
      log('');
    }

    const pgReads = await postgresSection(root, bulk, bodies.length * o.perBody, o, log);
    if (o.readSeconds > 0) readsSection(bulk, pgReads, o, log);

    if (!ensureWrk()) {
      log('## Single-record requests: skipped (wrk is not installed and could not be installed)');
    } else {
      const singles = [];
      const peers = [];
      for (let run = 0; run < o.runs; run++) {
        singles.push(await singleTrial(root, o));
        peers.push(await ceilingTrial(root, o));
      }
      const ms = (f: (r: WrkResult) => number, rs: WrkResult[]): number => median(rs.map(f));
      log(`## Single-record requests, ${o.engines[0]} (median of ${o.runs})`);
      log('');
      log(`One ~160 B record per POST, ${o.connections} keep-alive connections, ${o.singleSeconds} s per run after ${o.singleWarmupSeconds} s of the same load not counted, load from wrk (C) so the client takes little of the 2 cores. Peer: bare fastify parsing the same body and answering, no validation, no disk.`);
      log('');
      log(`| figure | sluice (fsync per group commit) | bare fastify peer | ratio |`);
      log(`|---|---|---|---|`);
      log(`| requests/s | ${fmt(ms((r) => r.requestsPerSec, singles))} | ${fmt(ms((r) => r.requestsPerSec, peers))} | ${fmt(ms((r) => r.requestsPerSec, singles) / ms((r) => r.requestsPerSec, peers), 2)}× |`);
      log(`| latency p50 | ${fmt(ms((r) => r.p50Ms, singles), 2)} ms | ${fmt(ms((r) => r.p50Ms, peers), 2)} ms | |`);
      log(`| latency p99 | ${fmt(ms((r) => r.p99Ms, singles), 2)} ms | ${fmt(ms((r) => r.p99Ms, peers), 2)} ms | |`);
      log(`| non-2xx answers | ${fmt(ms((r) => r.non2xx, singles))} | ${fmt(ms((r) => r.non2xx, peers))} | |`);
      log(`| fdatasync'd 4 KiB writes/s (machine) | ${fmt(fsyncRate)} | | ${fmt(ms((r) => r.requestsPerSec, singles) / fsyncRate, 2)}× (group commit) |`);
      log('');
      const runs = (rs: WrkResult[]): string => rs.map((r) => `${fmt(r.requestsPerSec)}/s p99 ${fmt(r.p99Ms, 1)} ms`).join(', ');
      log(`Runs: sluice ${runs(singles)}; peer ${runs(peers)}.`);
      log('');
    }
  } finally {
    report.close();
  }
  return lines.join('\n');
}

/** PostgreSQL's reads of its indexed table, as ReadFigures are sluice's. */
interface PeerReads {
  byKey: PgbenchResult;
  byId: PgbenchResult;
  exportRowsPerSec: number;
  exportCpuPerMillion: number;
}

/** PostgreSQL's figures for the same records, and sluice's ratios to them (issue 16's targets); its reads when `o.readSeconds` > 0. */
async function postgresSection(root: string, bulk: ReadonlyMap<string, Trial[]>, records: number, o: SingleNodeBenchOptions, log: (line: string) => void): Promise<PeerReads[]> {
  const bin = ensurePostgres();
  if (bin === undefined) {
    log('## PostgreSQL peer: skipped (the postgresql package is not installed and could not be installed)');
    return [];
  }
  const rows = benchRecords(0, records);
  const loads: Record<PeerTable, PeerLoad[]> = { indexed: [], heap: [] };
  const reads: PeerReads[] = [];
  for (let run = 0; run < o.runs; run++) {
    const peer = await PostgresPeer.start(bin, await freePort());
    try {
      for (const table of ['indexed', 'heap'] as const) {
        await peer.createTable(table);
        loads[table].push(await peer.load(table, rows, PG_ROWS_PER_STATEMENT, PG_CONNECTIONS));
      }
      if (o.readSeconds > 0) reads.push(await peerReadTrial(peer, records, o));
    } finally {
      await peer.stop();
    }
  }
  const rate = (ls: PeerLoad[]): number => median(ls.map((l) => l.records / l.seconds));
  const cpu = (ls: PeerLoad[]): number => median(ls.map((l) => (l.serverCpuSeconds / l.records) * 1e6));
  log(`## Bulk ingest against PostgreSQL (median of ${o.runs})`);
  log('');
  log(`The same ${fmt(records)} records into PostgreSQL ${path.basename(path.dirname(bin))} (Debian's package, its own data dir on this disk, fsync on, defaults otherwise): multi-row INSERTs of ${PG_ROWS_PER_STATEMENT} rows, each its own transaction, over ${PG_CONNECTIONS} connections. \`indexed\`: a bigserial primary key and an index on (account_id, ts); \`heap\`: no key, no index.`);
  log('');
  log(`| way | records/s | server CPU per 1M records | sluice ÷ this (${o.engines.join(', ')}) | target |`);
  log(`|---|---|---|---|---|`);
  const sluice = (engine: string): number => median((bulk.get(engine) ?? []).map((t) => t.recordsPerSec));
  for (const engine of o.engines) {
    log(`| sluice, ${engine} | ${fmt(sluice(engine))} | ${fmt(median((bulk.get(engine) ?? []).map((t) => t.cpuSecondsPerMillion)), 2)} s | | ≤ 6.5 s per 1M |`);
  }
  for (const [table, target] of [['indexed', 2], ['heap', 1.2]] as const) {
    const ratios = o.engines.map((e) => `${fmt(sluice(e) / rate(loads[table]), 2)}×`).join(', ');
    log(`| PostgreSQL, ${table} | ${fmt(rate(loads[table]))} | ${fmt(cpu(loads[table]), 2)} s | ${ratios} | sluice ≥ ${target}× |`);
  }
  log('');
  return reads;
}

/** The reads of readTrial on PostgreSQL's indexed table (after VACUUM ANALYZE), by pgbench, and its export through psql. */
async function peerReadTrial(peer: PostgresPeer, records: number, o: SingleNodeBenchOptions): Promise<PeerReads> {
  await peer.vacuum('indexed');
  const byKeyScript = `\\set a random(0, ${BENCH_ACCOUNTS - 1})\nSELECT * FROM indexed WHERE account_id = 'acct-' || lpad(:a::text, 6, '0') ORDER BY ts LIMIT 1000;\n`;
  const byIdScript = `\\set id random(1, ${records})\nSELECT * FROM indexed WHERE id = :id;\n`;
  const load = async (script: string): Promise<PgbenchResult> => {
    await peer.pgbench(script, o.connections, o.readSeconds);
    return peer.pgbench(script, o.connections, o.readSeconds);
  };
  const byKey = await load(byKeyScript);
  const byId = await load(byIdScript);
  const out = await peer.exportJsonLines('indexed');
  if (out.lines !== records) throw new Error(`PostgreSQL export: ${out.lines} rows, ${records} loaded`);
  return { byKey, byId, exportRowsPerSec: out.lines / out.seconds, exportCpuPerMillion: (out.serverCpuSeconds / out.lines) * 1e6 };
}

/** Reads and export of the loaded table: sluice per engine beside PostgreSQL's indexed table (when it ran). */
function readsSection(bulk: ReadonlyMap<string, Trial[]>, peer: readonly PeerReads[], o: SingleNodeBenchOptions, log: (line: string) => void): void {
  const engines = o.engines.filter((e) => (bulk.get(e) ?? []).every((t) => t.reads !== undefined));
  if (engines.length === 0) {
    log('## Reads and export: skipped (wrk is not installed and could not be installed)');
    return;
  }
  const s = (e: string, f: (r: ReadFigures) => number): number => median((bulk.get(e) ?? []).map((t) => f(t.reads as ReadFigures)));
  const p = (f: (r: PeerReads) => number): number | undefined => (peer.length === 0 ? undefined : median(peer.map(f)));
  log(`## Reads and export of the loaded table (median of ${o.runs})`);
  log('');
  log(`After each bulk load, on the same node: ${o.connections} connections from wrk for ${o.readSeconds} s after ${o.readSeconds} s not counted, by shard key (one account's ~10 records, ${fmt(KEY_PATHS)} accounts in turn) and by id (the ids of ${ID_ACCOUNTS} accounts' records in turn); then the whole table as NDJSON through curl. PostgreSQL: its indexed table after \`VACUUM ANALYZE\`, the same reads by pgbench (prepared statements, ${o.connections} connections, one client thread: \`WHERE account_id = … ORDER BY ts\` on the (account_id, ts) index, \`WHERE id = …\` on the primary key), the export as \`COPY (SELECT row_to_json(t) …) TO STDOUT\` through psql.`);
  log('');
  log(`| figure | ${engines.map((e) => `sluice, ${e}`).join(' | ')} | PostgreSQL, indexed | sluice ÷ PostgreSQL (${engines.join(', ')}) |`);
  log(`|---|${engines.map(() => '---|').join('')}---|---|`);
  const row = (name: string, f: (r: ReadFigures) => number, g: (r: PeerReads) => number, digits = 0, compared = true): void => {
    const theirs = p(g);
    const ratios = theirs === undefined || !compared ? '' : engines.map((e) => `${fmt(s(e, f) / theirs, 2)}×`).join(', ');
    log(`| ${name} | ${engines.map((e) => fmt(s(e, f), digits)).join(' | ')} | ${theirs === undefined ? '' : fmt(theirs, digits)} | ${ratios} |`);
  };
  row('by shard key, requests/s', (r) => r.byKey.requestsPerSec, (r) => r.byKey.tps);
  row('by shard key, p99 ms (PostgreSQL: mean)', (r) => r.byKey.p99Ms, (r) => r.byKey.latencyMs, 2, false);
  row('by id, requests/s', (r) => r.byId.requestsPerSec, (r) => r.byId.tps);
  row('by id, p99 ms (PostgreSQL: mean)', (r) => r.byId.p99Ms, (r) => r.byId.latencyMs, 2, false);
  row('NDJSON export, rows/s', (r) => r.exportRowsPerSec, (r) => r.exportRowsPerSec);
  row('export, server CPU-s per 1M rows', (r) => r.exportCpuPerMillion, (r) => r.exportCpuPerMillion, 2);
  log('');
}

/** CPU seconds by thread kind per 1M of `records`. */
function perMillion(cpu: ThreadCpu, records: number): ThreadCpu {
  const out = { ...cpu };
  for (const k of THREAD_KINDS) out[k] = (cpu[k] / records) * 1e6;
  return out;
}

/** PostgreSQL load shape, as issue 16 fixes it. */
const PG_ROWS_PER_STATEMENT = 1_000;
const PG_CONNECTIONS = 4;

async function bulkTrial(root: string, engine: 'lmdb' | 'level', bodies: readonly Buffer[], o: SingleNodeBenchOptions): Promise<Trial> {
  const dataDir = mkdtempSync(path.join(root, `${engine}-`));
  const cleanups: (() => Promise<unknown> | unknown)[] = [];
  const t = { after: (fn: () => Promise<unknown> | unknown) => cleanups.push(fn) };
  // The index is never synced during the run, so the WAL keeps every frame for the replay figure.
  const args = ['--engine', engine, '--index-sync-interval-ms', '3600000'];
  try {
    const node = await startNode(t, dataDir, args);
    await createTable(node.url);
    const cpu0 = cpuSeconds(node.pid);
    const threads0 = threadCpu(node.pid);
    const wal0 = await walBytes(node.url);
    const res = await bulkLoad(node.url, `/v1/tables/${BENCH_TABLE.name}/records`, bodies, o.perBody, o.connections);
    const cpu = cpuSeconds(node.pid) - cpu0;
    const threads = threadCpuSince(threads0, threadCpu(node.pid));
    const walMB = ((await walBytes(node.url)) - wal0) / 1e6;
    const reads = o.readSeconds > 0 && ensureWrk() ? await readTrial(root, node, res.records, o) : undefined;
    await node.kill('SIGKILL');
    // Rebuild the index from the whole WAL: the replay figure.
    rmSync(path.join(dataDir, 'index'), { recursive: true, force: true });
    const again = await startNode(t, dataDir, ['--engine', engine]);
    const replay = again.events('wal_replayed')[0] ?? {};
    const replayRecords = Number(replay['records']);
    const replayMs = Number(replay['ms']);
    await again.kill('SIGTERM');
    return {
      recordsPerSec: res.records / res.seconds,
      p50: quantile(res.latenciesMs, 0.5),
      p99: quantile(res.latenciesMs, 0.99),
      overloaded: res.overloaded,
      cpuSecondsPerMillion: (cpu / res.records) * 1e6,
      threads: perMillion(threads, res.records),
      walMBps: walMB / res.seconds,
      replayRecordsPerSec: replayRecords / (replayMs / 1000),
      replayRecords,
      reads,
    };
  } finally {
    for (const fn of cleanups.reverse()) await fn();
    rmSync(dataDir, { recursive: true, force: true });
  }
}

/** Accounts whose records give the ids read by id. */
const ID_ACCOUNTS = 500;
/** Accounts read by key, in turn (of BENCH_ACCOUNTS). */
const KEY_PATHS = 20_000;

/** Reads by shard key and by id over wrk, then an NDJSON export through curl, on `node` holding the `records` just loaded. */
async function readTrial(root: string, node: NodeProcess, records: number, o: SingleNodeBenchOptions): Promise<ReadFigures> {
  const base = `/v1/tables/${BENCH_TABLE.name}`;
  const ids: string[] = [];
  for (let a = 0; a < ID_ACCOUNTS; a++) {
    const res = await http(`${node.url}${base}/records?key=${accountId(a)}`);
    if (res.status !== 200) throw new Error(`read by key: ${res.text}`);
    for (const r of res.body.records as { _id: string }[]) ids.push(r._id);
  }
  if (ids.length < ID_ACCOUNTS) throw new Error(`only ${ids.length} records in ${ID_ACCOUNTS} accounts`);
  const keyPaths = Array.from({ length: KEY_PATHS }, (_, i) => `${base}/records?key=${accountId((i * 7919) % BENCH_ACCOUNTS)}`);
  const idPaths = ids.map((id) => `${base}/records/${id}`);
  const load = (paths: string[]): WrkResult => {
    wrkGet(root, node.url, paths, o.connections, o.readSeconds, TEST_TOKEN);
    return wrkGet(root, node.url, paths, o.connections, o.readSeconds, TEST_TOKEN);
  };
  const byKey = load(keyPaths);
  const byId = load(idPaths);
  if (byKey.non2xx + byId.non2xx > 0) throw new Error(`reads: ${byKey.non2xx} + ${byId.non2xx} answers not 2xx`);
  const cpu0 = cpuSeconds(node.pid);
  const out = await countOutputLines('curl', ['-sSf', '-H', `Authorization: Bearer ${TEST_TOKEN}`, `${node.url}${base}/export?format=ndjson`]);
  const cpu = cpuSeconds(node.pid) - cpu0;
  if (out.lines !== records) throw new Error(`export: ${out.lines} rows, ${records} loaded`);
  return { byKey, byId, exportRowsPerSec: out.lines / out.seconds, exportCpuPerMillion: (cpu / out.lines) * 1e6 };
}

async function singleTrial(root: string, o: SingleNodeBenchOptions): Promise<WrkResult> {
  const dataDir = mkdtempSync(path.join(root, 'single-'));
  const cleanups: (() => Promise<unknown> | unknown)[] = [];
  const t = { after: (fn: () => Promise<unknown> | unknown) => cleanups.push(fn) };
  try {
    const node = await startNode(t, dataDir, ['--engine', o.engines[0] ?? 'level']);
    await createTable(node.url);
    const url = `${node.url}/v1/tables/${BENCH_TABLE.name}/records`;
    if (o.singleWarmupSeconds > 0) wrkPost(root, url, o.connections, o.singleWarmupSeconds, TEST_TOKEN);
    return wrkPost(root, url, o.connections, o.singleSeconds, TEST_TOKEN);
  } finally {
    for (const fn of cleanups.reverse()) await fn();
    rmSync(dataDir, { recursive: true, force: true });
  }
}

async function ceilingTrial(root: string, o: SingleNodeBenchOptions): Promise<WrkResult> {
  const child = spawn(process.execPath, [fileURLToPath(new URL('./lib/http-ceiling-server.ts', import.meta.url))], { stdio: ['ignore', 'pipe', 'inherit'] });
  try {
    const url = await new Promise<string>((resolve, reject) => {
      child.stdout.setEncoding('utf8').once('data', (line: string) => resolve(line.trim()));
      child.once('exit', (code) => reject(new Error(`ceiling server exited ${code}`)));
    });
    if (o.singleWarmupSeconds > 0) wrkPost(root, `${url}/echo`, o.connections, o.singleWarmupSeconds);
    return wrkPost(root, `${url}/echo`, o.connections, o.singleSeconds);
  } finally {
    child.kill('SIGKILL');
  }
}

async function startNode(t: { after: (fn: () => Promise<unknown> | unknown) => void }, dataDir: string, args: readonly string[]): Promise<NodeProcess> {
  return NodeProcess.start(t as never, { dataDir, args });
}

async function createTable(url: string): Promise<void> {
  const res = await http(`${url}/v1/tables`, { method: 'POST', body: JSON.stringify(BENCH_TABLE) });
  if (res.status !== 201) throw new Error(`create table: ${res.text}`);
}

async function metric(url: string, name: string): Promise<number> {
  const text = (await http(`${url}/metrics`)).text;
  const line = text.split('\n').find((l) => l.startsWith(`${name} `));
  return line === undefined ? 0 : Number(line.split(' ')[1]);
}

function walBytes(url: string): Promise<number> {
  return metric(url, 'sluice_wal_flush_bytes_sum');
}

/** User + system CPU seconds of a process so far (/proc/PID/stat, clock ticks of 100 Hz). */
function cpuSeconds(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.split(' ') ?? [];
  return (Number(fields[11]) + Number(fields[12])) / 100;
}
