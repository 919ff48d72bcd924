/**
 * One `sluice bench` run, start to end: preflight, tables, connections
 * (opened before the clock starts), the open-model load or, at rate 0, a
 * hold of idle connections, then the read-back and the result. The CLI
 * prints and exits; tests call this directly.
 */
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { ConnectionPool } from './connection-pool.ts';
import type { Target } from './http-connection.ts';
import { Dispatcher, type BuiltRequest, type DispatchPolicy } from './dispatcher.ts';
import { Schedule, type ScheduledRequest } from './schedule.ts';
import { Sampler, progressLine } from './sampler.ts';
import { hold, touchAll } from './hold.ts';
import { FD_RESERVE, preflightProblems, preflightWarnings, raiseNofile, readHostLimits, type HostLimits } from './preflight.ts';
import { procCpuSeconds, procRssBytes, scrapeMetrics, serverSample, waitForApplied, type ServerSample } from './server-stats.ts';
import { verifyRun, type VerifyResult } from './verify.ts';
import { BenchRefused, type BenchConfig } from './bench-config.ts';
import { batchBody, type WorkloadParams } from './workload/generate.ts';
import { formatMix, parseMix, tableOfRequest, type Mix } from './workload/mix.ts';
import { compareRecord } from './workload/compare.ts';
import { RUN_FIELD } from './workload/bench-table.ts';
import type { BenchTable } from './workload/tables.ts';
import { createTables } from './create-tables.ts';
import { buildResult, type BenchResult } from './bench-result.ts';

/** Pause after the connections opened for refusals sent on accept to arrive, ms. */
const REFUSALS_SETTLE_MS = 100;

/** Longest wait for the nodes' index to catch up before the read-back, ms. */
const APPLY_WAIT_MS_MAX = 120_000;

/** Runs the benchmark `cfg` describes; `log` gets progress and notices (stderr in the CLI). */
export async function runBench(cfg: BenchConfig, log: (line: string) => void): Promise<BenchResult> {
  const limits = checkLimits(cfg, log);
  const clientRssBytesBefore = process.memoryUsage().rss;
  const mix = parseMix(cfg.mix);
  const runId = cfg.runId ?? `r${Date.now().toString(36)}${Math.floor(Math.random() * 36 ** 3).toString(36)}`;
  if (cfg.rate > 0 && cfg.createTables) await createTables(cfg.urls[0] as string, cfg.token, mix.tables);
  const pool = new ConnectionPool({ targets: cfg.urls.map((u) => targetOf(u, cfg.caPem)), sourceIps: cfg.sourceIps, connectPerSecond: cfg.connectPerSecond, requestTimeoutMs: cfg.requestTimeoutMs });
  const server = new ServerWatch(cfg);
  // The nodes' memory before the connections open: what each one costs is measured from here.
  await server.baseline();
  const connectStarted = performance.now();
  await pool.fill(cfg.connections);
  const connectSeconds = (performance.now() - connectStarted) / 1000;
  log(`opened ${pool.open.toLocaleString('en-US')} of ${cfg.connections.toLocaleString('en-US')} connections in ${connectSeconds.toFixed(1)} s${errorsText(pool.connectErrors)}`);
  if (pool.open === 0) {
    pool.close();
    throw new BenchRefused(`no connection to ${cfg.urls.join(', ')} opened${errorsText(pool.connectErrors)}`);
  }
  // At rate 0 every connection serves one request first: an idle keep-alive connection, as a client leaves it.
  if (cfg.rate === 0) await touchAll(pool, cfg.connectPerSecond, cfg.requestTimeoutMs);
  // A node refusing connections (past --connections-max) answers on accept: let those answers land before counting.
  await new Promise((r) => setTimeout(r, REFUSALS_SETTLE_MS));
  const openAtStart = pool.open;
  const loop = monitorEventLoopDelay({ resolution: 10 });
  loop.enable();
  await server.begin();
  const cpuBefore = process.cpuUsage();
  const t0Ms = Date.now();
  const params: WorkloadParams = { seed: cfg.seed, runId, t0Ms, recordsPerSecond: Math.max(cfg.rate, 1), outOfOrder: cfg.outOfOrder, skewMinMs: cfg.skewMinMs, skewMaxMs: cfg.skewMaxMs, keysPerTable: cfg.keysPerTable };
  const load = cfg.rate > 0 ? await runLoad(cfg, pool, mix, params, server, log) : await hold(cfg, pool, server, log);
  loop.disable();
  const cpu = process.cpuUsage(cpuBefore);
  const clientRssBytes = process.memoryUsage().rss;
  pool.close();
  let verify: VerifyResult | undefined;
  if (cfg.verify && cfg.rate > 0) verify = await readBack(cfg, mix, params, load.dispatcher, log);
  return buildResult({ cfg, runId, mix: formatMix(mix), t0Ms, limits, pool, connectSeconds, load, loop, server: server.summary(), verify, openAtStart, clientCpuSeconds: (cpu.user + cpu.system) / 1e6, clientRssBytes, clientRssBytesBefore });
}

function checkLimits(cfg: BenchConfig, log: (line: string) => void): HostLimits {
  const limits = raiseNofile(cfg.connections + FD_RESERVE, readHostLimits());
  const plan = { connections: cfg.connections, sourceIps: cfg.sourceIps, targets: cfg.urls.length, connectPerSecond: cfg.connectPerSecond };
  const problems = preflightProblems(plan, limits);
  if (problems.length > 0) throw new BenchRefused(`this machine cannot hold the run:\n  ${problems.join('\n  ')}`);
  for (const w of preflightWarnings(plan, limits)) log(`warning: ${w}`);
  return limits;
}

/** The connection target of a node URL. */
export function targetOf(url: string, caPem: string | undefined): Target {
  const u = new URL(url);
  if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new BenchRefused(`--url ${url}: only http:// and https:// are served`);
  const https = u.protocol === 'https:';
  const host = u.hostname.replace(/^\[|\]$/g, '');
  const port = Number(u.port || (https ? 443 : 80));
  const tls = https ? { servername: /^[0-9.:]+$/.test(host) ? undefined : host, ...(caPem === undefined ? {} : { ca: caPem }) } : undefined;
  return { host, port, hostHeader: u.host, ...(tls === undefined ? {} : { tls }) };
}

function errorsText(errors: ReadonlyMap<string, number>): string {
  return errors.size === 0 ? '' : ` (connect errors: ${[...errors].map(([k, n]) => `${k} ${n}`).join(', ')})`;
}

/** What the load phase leaves for the result. */
export interface LoadOutcome {
  readonly dispatcher: Dispatcher | undefined;
  readonly sampler: Sampler;
  readonly seconds: number;
}

/** Drives the schedule until it is over and every request has ended. */
async function runLoad(cfg: BenchConfig, pool: ConnectionPool, mix: Mix, params: WorkloadParams, server: ServerWatch, log: (line: string) => void): Promise<LoadOutcome> {
  const schedule = new Schedule({ recordsPerSecond: cfg.rate, batchMin: cfg.batchMin, batchMax: cfg.batchMax, arrival: cfg.arrival, seed: cfg.seed, durationUs: cfg.durationMs * 1000 });
  const policy: DispatchPolicy = { maxQueueDelayUs: cfg.maxQueueDelayMs * 1000, maxRetries: cfg.maxRetries, retryPauseUsMax: cfg.retryPauseMaxMs * 1000 };
  const clock = { nowUs: () => performance.now() * 1000 };
  const startUs = clock.nowUs();
  const dispatcher = new Dispatcher(schedule, pool, requestBuilder(cfg, mix, params), clock, startUs, policy);
  const sampler = new Sampler(
    { counters: () => dispatcher.counters.snapshot(), interval: dispatcher.latency.interval, connections: () => pool.open, inFlight: () => dispatcher.inFlight, queued: () => dispatcher.queued, serverCpuCores: () => server.cpuCores() },
    startUs / 1000,
  );
  await new Promise<void>((resolve) => {
    const perSecond = setInterval(() => {
      server.poll();
      const point = sampler.sample();
      if (cfg.progress) log(progressLine(point, Math.round(cfg.durationMs / 1000), cfg.connections, cfg.rate));
    }, 1000);
    const tick = (): void => {
      dispatcher.tick();
      if (!dispatcher.finished) {
        setTimeout(tick, 1);
        return;
      }
      clearInterval(perSecond);
      resolve();
    };
    tick();
  });
  sampler.sample();
  return { dispatcher, sampler, seconds: (clock.nowUs() - startUs) / 1e6 };
}

/** Digits of the record number in a dedupe key: 10^12 records, 3 years at 10,000 records/s. */
const DEDUPE_DIGITS = 12;

/** Builds request r: its table, dedupe keys and NDJSON body. */
function requestBuilder(cfg: BenchConfig, mix: Mix, params: WorkloadParams): (req: ScheduledRequest) => BuiltRequest {
  const headers = `${cfg.token === undefined ? '' : `Authorization: Bearer ${cfg.token}\r\n`}Content-Type: application/x-ndjson\r\n`;
  const paths = new Map<BenchTable, string>();
  // Zero-padded numbers (dedupe_digits) let the node fence them: keys above everything stored are written without a lookup (decision 13).
  const dedupe = (t: BenchTable): string => `?dedupe_prefix=${params.runId}-${t.name}&dedupe_digits=${DEDUPE_DIGITS}&dedupe_first=`;
  for (const t of mix.tables) paths.set(t, `/v1/tables/${t.name}/records${cfg.dedupe ? dedupe(t) : ''}`);
  return (req) => {
    const table = tableOfRequest(mix, cfg.seed, req.r);
    const path = (paths.get(table) as string) + (cfg.dedupe ? String(req.firstJ) : '');
    return { table: table.name, path, headers, body: batchBody(params, table, req.firstJ, req.count) };
  };
}

/** Waits for the nodes to apply what they acknowledged, then reads every table back. */
async function readBack(cfg: BenchConfig, mix: Mix, params: WorkloadParams, dispatcher: Dispatcher | undefined, log: (line: string) => void): Promise<VerifyResult | undefined> {
  if (dispatcher === undefined) return undefined;
  if (!(await waitForApplied(cfg.urls, cfg.token, APPLY_WAIT_MS_MAX))) log('warning: the nodes still report WAL frames to apply; reading back anyway');
  log(`verifying ${dispatcher.acked.count.toLocaleString('en-US')} acknowledged records…`);
  return verifyRun({
    baseUrl: cfg.urls[0] as string,
    token: cfg.token,
    runId: params.runId,
    runField: RUN_FIELD,
    tables: mix.tables.map((t) => ({ name: t.name, shardKey: t.shardKey, timeField: t.timeField, check: (rec: Record<string, unknown>) => compareRecord(params, t, rec) })),
    acked: dispatcher.acked,
    attempted: dispatcher.attempted,
    keysPerTable: cfg.verifyKeysPerTable,
  });
}

/** Seconds between scrapes of the nodes' /metrics during a run without --server-pid. */
const SCRAPE_EVERY_S = 5;

/** What the result shows of the nodes. */
export interface ServerSummary {
  readonly first: readonly ServerSample[];
  readonly last: readonly ServerSample[];
  /** RSS before the connections opened, summed over nodes. */
  readonly baselineRssBytes: number;
  readonly peakRssBytes: number;
  /** Node CPU seconds over the run (summed over nodes), when known. */
  readonly cpuSeconds: number | undefined;
}

/** The nodes' figures: CPU each second (from /proc with --server-pid, else /metrics), and a scrape's samples. */
export class ServerWatch {
  readonly first: ServerSample[] = [];
  last: ServerSample[] = [];
  peakRssBytes = 0;
  baselineRssBytes = 0;
  private polling = false;
  private polls = 0;
  private startCpu: number | undefined;
  private cpuMark: { seconds: number; at: number } | undefined;
  private rateCores: number | undefined;

  private readonly cfg: BenchConfig;

  constructor(cfg: BenchConfig) {
    this.cfg = cfg;
  }

  /** The nodes' RSS before the connections open. */
  async baseline(): Promise<void> {
    await this.pollNow();
    this.baselineRssBytes = this.rssNow();
    this.peakRssBytes = this.baselineRssBytes;
  }

  /** Takes the CPU figure the run is measured from. */
  async begin(): Promise<void> {
    if (this.cfg.serverPid === undefined) await this.pollNow();
    this.startCpu = this.cpuSeconds();
  }

  private rssNow(): number {
    if (this.cfg.serverPid !== undefined) return procRssBytes(this.cfg.serverPid) ?? 0;
    return this.last.reduce((s, x) => s + (x.rssBytes ?? 0), 0);
  }

  /**
   * Node CPU in cores: over the last second with --server-pid (read at each
   * call, once a second), else between the last two scrapes.
   */
  cpuCores(): number | undefined {
    const now = this.cpuSeconds();
    const at = performance.now();
    if (now === undefined) return undefined;
    if (this.cfg.serverPid !== undefined || this.cpuMark === undefined || this.cpuMark.seconds !== now) {
      const before = this.cpuMark;
      this.cpuMark = { seconds: now, at };
      this.rateCores = before === undefined || at === before.at ? this.rateCores : (now - before.seconds) / ((at - before.at) / 1000);
    }
    return this.rateCores;
  }

  /** Node CPU seconds since begin(), when known. */
  cpuSecondsUsed(): number | undefined {
    const now = this.cpuSeconds();
    return now === undefined || this.startCpu === undefined ? undefined : now - this.startCpu;
  }

  /** Node CPU seconds so far (summed over nodes), when known. */
  cpuSeconds(): number | undefined {
    if (this.cfg.serverPid !== undefined) return procCpuSeconds(this.cfg.serverPid);
    if (this.last.length === 0 || this.last.some((s) => s.cpuSeconds === undefined)) return undefined;
    return this.last.reduce((sum, s) => sum + (s.cpuSeconds ?? 0), 0);
  }

  /**
   * Called every second: reads the node's RSS from /proc with --server-pid, and
   * scrapes /metrics every SCRAPE_EVERY_S seconds (a scrape walks every open
   * handle of the node for its default metrics: at 100,000 connections that
   * costs the node CPU of its own, which would be counted as the load's).
   */
  poll(): void {
    this.polls++;
    if (this.cfg.serverPid !== undefined) {
      this.peakRssBytes = Math.max(this.peakRssBytes, this.rssNow());
      return;
    }
    if (this.polling || this.polls % SCRAPE_EVERY_S !== 0) return;
    this.polling = true;
    void this.pollNow().finally(() => (this.polling = false));
  }

  /** Scrapes every node now. */
  async pollNow(): Promise<void> {
    const scrapes = await Promise.all(this.cfg.urls.map((u) => scrapeMetrics(u, this.cfg.token)));
    if (scrapes.some((m) => m === undefined)) return;
    this.last = scrapes.map((m) => serverSample(m as NonNullable<typeof m>));
    if (this.first.length === 0) this.first.push(...this.last);
    this.peakRssBytes = Math.max(this.peakRssBytes, this.rssNow());
  }

  /** Figures for the result. */
  summary(): ServerSummary {
    return { first: this.first, last: this.last, baselineRssBytes: this.baselineRssBytes, peakRssBytes: this.peakRssBytes, cpuSeconds: this.cpuSecondsUsed() };
  }
}
