/**
 * `--rate 0`: holding connections open, to measure what an idle keep-alive
 * connection costs each side. Every connection first serves one request
 * (`GET /healthz`, no token needed), as a client leaves it between writes;
 * then the run samples memory and CPU each second and sends nothing, unless
 * `--idle-ping` asks for a request per connection that often (a hold longer
 * than the node's keep-alive timeout needs it).
 */
import type { ConnectionPool } from './connection-pool.ts';
import type { HttpConnection } from './http-connection.ts';
import { latencyHistogram } from './latency.ts';
import { RunCounters } from './run-counters.ts';
import { Sampler, progressLine } from './sampler.ts';
import type { BenchConfig } from './bench-config.ts';
import type { LoadOutcome, ServerWatch } from './run-bench.ts';

/** Sends `GET /healthz` once on every idle connection, at most `perSecond` a second; resolves when all answered. */
export async function touchAll(pool: ConnectionPool, perSecond: number, timeoutMs: number): Promise<{ ok: number; failed: number }> {
  const conns: HttpConnection[] = [];
  for (let c = pool.take(); c !== undefined; c = pool.take()) conns.push(c);
  let ok = 0;
  let failed = 0;
  const perTick = Math.max(1, Math.round(perSecond / 100));
  const answers: Promise<void>[] = [];
  for (let i = 0; i < conns.length; i += perTick) {
    for (const conn of conns.slice(i, i + perTick)) {
      answers.push(
        new Promise<void>((resolve) => {
          conn.send('/healthz', '', '', (err, reply) => {
            if (err === undefined && reply !== undefined && reply.status === 200) ok++;
            else failed++;
            pool.give(conn);
            resolve();
          }, 'GET');
        }),
      );
    }
    await new Promise((r) => setTimeout(r, 10));
  }
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([Promise.all(answers), new Promise((r) => (timer = setTimeout(r, timeoutMs)))]);
  // A pending timer would keep the process alive for the whole timeout after the run.
  clearTimeout(timer);
  return { ok, failed };
}

const EMPTY_COUNTERS = new RunCounters().snapshot();
const IDLE_HISTOGRAM = latencyHistogram();

/** Holds the connections open for the duration, sampling memory and CPU each second. */
export async function hold(cfg: BenchConfig, pool: ConnectionPool, server: ServerWatch, log: (line: string) => void): Promise<LoadOutcome> {
  const started = performance.now();
  const sampler = new Sampler({ counters: () => EMPTY_COUNTERS, interval: IDLE_HISTOGRAM, connections: () => pool.open, inFlight: () => 0, queued: () => 0, serverCpuCores: () => server.cpuCores() }, started);
  let lastPing = started;
  for (let second = 1; second * 1000 <= cfg.durationMs; second++) {
    await new Promise((r) => setTimeout(r, Math.max(0, started + second * 1000 - performance.now())));
    server.poll();
    const point = sampler.sample();
    if (cfg.progress) log(progressLine(point, Math.round(cfg.durationMs / 1000), cfg.connections, 0));
    if (cfg.idlePingMs > 0 && performance.now() - lastPing >= cfg.idlePingMs) {
      lastPing = performance.now();
      void touchAll(pool, cfg.connectPerSecond, cfg.requestTimeoutMs);
    }
  }
  await server.pollNow();
  return { dispatcher: undefined, sampler, seconds: (performance.now() - started) / 1000 };
}
