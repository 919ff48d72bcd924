/**
 * `sluice bench`: the load generator of the white paper's test (see
 * src/loadgen/). Flags become a BenchConfig here; the run, the report and
 * the exit code (0 pass, 1 verification failed, 2 invalid or refused,
 * 99 a threshold failed) come from the loadgen layer.
 */
import { writeFileSync } from 'node:fs';
import { Command, Option } from 'commander';
import { CliError } from './cli-error.ts';
import { clientToken } from './client-auth.ts';
import { DEFAULT_URL } from './http-client.ts';
import { intOption } from './int-option.ts';
import { parseDuration } from '../security/duration.ts';
import { BENCH_DEFAULTS, BenchRefused, type BenchConfig } from '../loadgen/bench-config.ts';
import { runBench } from '../loadgen/run-bench.ts';
import { renderReport } from '../loadgen/report.ts';
import { parseSourceIps } from '../loadgen/preflight.ts';
import { parseThreshold, type Threshold } from '../loadgen/thresholds.ts';
import { parseMix } from '../loadgen/workload/mix.ts';
import { RUN_ID_RE } from '../loadgen/workload/params.ts';

interface BenchFlags {
  url: string;
  connections: string;
  connectRate: string;
  sourceIps: string;
  rate: string;
  batch: string;
  arrival: 'constant' | 'poisson';
  duration: string;
  mix: string;
  outOfOrder: string;
  skew: string;
  keys: string;
  seed: string;
  timeout: string;
  maxQueueDelay: string;
  maxRetries: string;
  retryPauseMax: string;
  dedupe: boolean;
  createTables: boolean;
  verify?: boolean;
  verifyKeys: string;
  json?: string;
  threshold: string[];
  progress: boolean;
  serverPid?: string;
  maxSendLag: string;
  idlePing: string;
  runId?: string;
}

const D = BENCH_DEFAULTS;

/** The `bench` command. */
export function benchCommand(): Command {
  return new Command('bench')
    .description(
      'open-model load test: requests fall due on a fixed schedule whatever the node does; latency counts from the due time ' +
        '(exit 0 pass, 1 verification failed, 2 run invalid or refused, 99 a --threshold failed)',
    )
    .option('--url <urls>', 'node URL(s), comma-separated; connections are dealt round-robin', DEFAULT_URL)
    .option('--connections <n>', 'keep-alive connections, all opened before the clock starts', '100')
    .option('--connect-rate <n>', 'new connections per second while opening', String(D.connectPerSecond))
    .option('--source-ips <ips>', "local addresses to connect from: 'auto' (one per 2,500 connections from 127.0.0.2 when the nodes are on loopback), a list a,b,c, a range 127.0.0.2-127.0.0.9, or 'none'", 'auto')
    .option('--rate <records/s>', 'records per second offered (0: only hold the connections open, to measure memory per connection)', '1000')
    .option('--batch <n|lo..hi>', 'records per request, fixed or uniform in lo..hi (seeded per request)', String(D.batchMin))
    .addOption(new Option('--arrival <kind>', 'request arrivals: a constant rate or Poisson (seeded exponential gaps)').choices(['constant', 'poisson']).default(D.arrival))
    .option('--duration <d>', 'how long requests fall due (e.g. 60s, 5m)', '10s')
    .option('--mix <weights>', 'tables or groups with weights, e.g. iot:0.6,logs:0.4 or iot.reading:1 (groups: iot, logs, metrics, payments; default every table alike)', '')
    .option('--out-of-order <fraction>', 'fraction of records whose event time is shifted', String(D.outOfOrder))
    .option('--skew <min..max>', 'range of that shift, e.g. -30s..+5s', '-30s..+5s')
    .option('--keys <n>', 'shard keys (devices, accounts, services) per table', String(D.keysPerTable))
    .option('--seed <n>', 'seed of the workload and the schedule: a run is regenerable from it', String(D.seed))
    .option('--timeout <d>', 'longest wait for one answer before the attempt counts as failed and is retried', `${D.requestTimeoutMs / 1000}s`)
    .option('--max-queue-delay <d>', 'a request waiting this long for a free connection is dropped (a failure)', `${D.maxQueueDelayMs / 1000}s`)
    .option('--max-retries <n>', 'retries of a request answered 429/503 or cut off, keeping its due time', String(D.maxRetries))
    .option('--retry-pause-max <d>', "longest pause before a retry (doubling from 50 ms; the node's Retry-After is a floor)", `${D.retryPauseMaxMs / 1000}s`)
    .option('--no-dedupe', 'send no dedupe keys (a resend after a reset may then store records twice)')
    .option('--no-create-tables', 'do not create the bench tables (they must exist)')
    .option('--verify', 'after the run, read every table back: acknowledged records lost, duplicated or altered, and event-time order per key')
    .option('--verify-keys <n|all>', 'shard keys per table whose range query --verify reads, checking event-time order and completeness', 'all')
    .option('--json <file>', 'write the result (configuration, environment, per-second timeline, latency percentiles, errors, verification) as JSON')
    .option('--threshold <cond>', "fail the run (exit 99) unless the condition holds: 'p99<50ms', 'max<1s', 'service.p99<20ms', 'errors<0.1%', 'rate>=95%' (repeatable)", (v: string, prev: string[]) => [...prev, v], [] as string[])
    .option('--no-progress', 'no progress line every second')
    .option('--server-pid <pid>', 'PID of the node when it runs on this machine: its CPU and RSS are read from /proc (otherwise from /metrics, which needs the ops scope)')
    .option('--max-send-lag <d>', "the run is invalid when the p99 of the generator's own send lag exceeds this", `${D.maxSendLagMs}ms`)
    .option('--idle-ping <d>', "with --rate 0: a GET /healthz on every connection this often, for holds longer than the node's keep-alive timeout (0: never)", '0')
    .option('--run-id <id>', 'run id written into every record and dedupe key (default: from the clock)')
    .action(async (flags: BenchFlags) => {
      const cfg = benchConfig(flags);
      let result;
      try {
        result = await runBench(cfg, (line) => process.stderr.write(`${line}\n`));
      } catch (err) {
        if (err instanceof BenchRefused) throw new CliError(err.message, 2);
        throw err;
      }
      process.stdout.write(`${renderReport(result)}\n`);
      if (cfg.jsonFile !== undefined) writeFileSync(cfg.jsonFile, `${JSON.stringify(result, null, 2)}\n`);
      process.exitCode = result.exitCode;
    });
}

/** The run's configuration from the flags; a CliError (exit 2) naming a bad one. */
export function benchConfig(f: BenchFlags): BenchConfig {
  const urls = f.url.split(',').map((u) => u.trim()).filter((u) => u.length > 0);
  const connections = intOption(f.connections, '--connections', 1, 10_000_000);
  const onLoopback = urls.every((u) => /^(127\.|localhost$|\[?::1\]?$)/.test(safeHost(u)));
  const [batchMin, batchMax] = parseBatch(f.batch);
  const [skewMinMs, skewMaxMs] = parseSkew(f.skew);
  const outOfOrder = Number(f.outOfOrder);
  if (!(outOfOrder >= 0 && outOfOrder <= 1)) throw new CliError(`--out-of-order must be a fraction from 0 to 1, got ${f.outOfOrder}`, 2);
  const rate = Number(f.rate);
  if (!(rate >= 0 && Number.isFinite(rate))) throw new CliError(`--rate must be a number of records per second ≥ 0, got ${f.rate}`, 2);
  return {
    urls,
    token: clientToken(),
    caPem: undefined,
    connections,
    connectPerSecond: intOption(f.connectRate, '--connect-rate', 1, 1_000_000),
    sourceIps: usage(() => parseSourceIps(f.sourceIps, connections, onLoopback)),
    rate,
    batchMin,
    batchMax,
    arrival: f.arrival,
    durationMs: duration(f.duration, '--duration'),
    seed: intOption(f.seed, '--seed', 0, Number.MAX_SAFE_INTEGER),
    mix: f.mix === '' ? undefined : usage(() => (parseMix(f.mix), f.mix)),
    outOfOrder,
    skewMinMs,
    skewMaxMs,
    keysPerTable: intOption(f.keys, '--keys', 1, 100_000_000),
    requestTimeoutMs: duration(f.timeout, '--timeout'),
    maxQueueDelayMs: duration(f.maxQueueDelay, '--max-queue-delay'),
    maxRetries: intOption(f.maxRetries, '--max-retries', 0, 1000),
    retryPauseMaxMs: duration(f.retryPauseMax, '--retry-pause-max'),
    dedupe: f.dedupe,
    createTables: f.createTables,
    verify: f.verify === true,
    verifyKeysPerTable: f.verifyKeys === 'all' ? Number.POSITIVE_INFINITY : intOption(f.verifyKeys, '--verify-keys', 0, 100_000_000),
    jsonFile: f.json,
    thresholds: f.threshold.map((t) => usage<Threshold>(() => parseThreshold(t))),
    progress: f.progress,
    serverPid: f.serverPid === undefined ? undefined : intOption(f.serverPid, '--server-pid', 1, 2 ** 22),
    maxSendLagMs: duration(f.maxSendLag, '--max-send-lag'),
    idlePingMs: duration(f.idlePing, '--idle-ping'),
    runId: f.runId === undefined || RUN_ID_RE.test(f.runId) ? f.runId : usage(() => {
      throw new Error(`--run-id must match ${RUN_ID_RE.source} (it goes into every record and dedupe key), got ${JSON.stringify(f.runId)}`);
    }),
  };
}

function safeHost(url: string): string {
  try {
    return new URL(url).hostname;
  } catch {
    throw new CliError(`--url ${url} is not a URL`, 2);
  }
}

/** Runs a parser whose Error is a usage error. */
function usage<T>(parse: () => T): T {
  try {
    return parse();
  } catch (err) {
    throw new CliError((err as Error).message, 2);
  }
}

function duration(text: string, flag: string): number {
  return usage(() => parseDuration(text, flag));
}

function parseBatch(text: string): [number, number] {
  const m = /^(\d+)(?:\.\.(\d+))?$/.exec(text);
  const lo = Number(m?.[1]);
  const hi = m?.[2] === undefined ? lo : Number(m[2]);
  if (m === null || lo < 1 || hi < lo || hi > 100_000) throw new CliError(`--batch must be a count like 20 or a range like 1..40, got ${text}`, 2);
  return [lo, hi];
}

function parseSkew(text: string): [number, number] {
  const m = /^([+-]?)(\w+)\.\.([+-]?)(\w+)$/.exec(text);
  if (m === null) throw new CliError(`--skew must be a range like -30s..+5s, got ${text}`, 2);
  const lo = duration(m[2] as string, '--skew') * (m[1] === '-' ? -1 : 1);
  const hi = duration(m[4] as string, '--skew') * (m[3] === '-' ? -1 : 1);
  if (hi < lo) throw new CliError(`--skew ${text}: the low end is above the high end`, 2);
  return [lo, hi];
}
