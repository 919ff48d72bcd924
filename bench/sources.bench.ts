/**
 * Sources benchmark (issue #4): gRPC `WriteStream` next to HTTP NDJSON on
 * one node, same records, same bodies of 1,000, durable before each answer.
 * Each trial starts a fresh node; the two doors alternate so drift on this
 * shared machine hits both. Then the Kafka source next to its client's
 * own produce and consume rates (bench/kafka-source.ts), and a Parquet
 * import next to the reader's raw decode rate (bench/parquet-import.ts).
 */
import { mkdtempSync } from 'node:fs';
import path from 'node:path';
import { freePort } from '../test/process/etcd.ts';
import { NodeProcess, http } from '../test/process/harness.ts';
import { ingestClient, ingestStream } from '../test/process/ingest-client.ts';
import { bulkLoad } from './lib/load.ts';
import { BENCH_TABLE, ndjsonBodies } from './lib/records.ts';
import { startReport } from './lib/report.ts';
import { runKafkaBench } from './kafka-source.ts';
import { runParquetImportBench } from './parquet-import.ts';
import { fmt, median, quantile } from './lib/stats.ts';

/** Options of the sources benchmark. */
export interface SourcesBenchOptions {
  readonly records: number;
  readonly perBody: number;
  /** HTTP connections, and gRPC streams. */
  readonly connections: number;
  readonly runs: number;
  /** Which parts to run. @default all */
  readonly parts: readonly SourcesPart[];
  /** Rows of the Parquet file the import part writes and imports. */
  readonly parquetRows: number;
}

/** The parts of the sources benchmark. */
export type SourcesPart = 'grpc' | 'kafka' | 'parquet';

interface Trial {
  readonly recordsPerSec: number;
  readonly p50: number;
  readonly p99: number;
}

/** Runs the benchmark and returns the report as Markdown. */
export async function runSourcesBench(o: SourcesBenchOptions): Promise<string> {
  const report = startReport('sluice-bench-sources-');
  const { root, log } = report;
  try {
    if (o.parts.includes('grpc')) await grpcVersusHttp(root, log, o);
    if (o.parts.includes('kafka')) await runKafkaBench({ records: o.records, runs: o.runs, root, log });
    if (o.parts.includes('parquet')) await runParquetImportBench({ rows: o.parquetRows, runs: o.runs, root, log });
  } finally {
    report.close();
  }
  return report.lines.join('\n');
}

async function grpcVersusHttp(root: string, log: (line: string) => void, o: SourcesBenchOptions): Promise<void> {
  const bodies = ndjsonBodies(0, Math.ceil(o.records / o.perBody), o.perBody);
  const grpc: Trial[] = [];
  const httpTrials: Trial[] = [];
  for (let run = 0; run < o.runs; run++) {
    httpTrials.push(await trial(root, 'http', bodies, o));
    grpc.push(await trial(root, 'grpc', bodies, o));
  }
  const m = (ts: Trial[], f: (t: Trial) => number): number => median(ts.map(f));
  log(`## gRPC streaming vs HTTP NDJSON, one node (median of ${o.runs})`);
  log('');
  log(`${fmt(bodies.length * o.perBody)} records as bodies of ${o.perBody}: HTTP over ${o.connections} keep-alive connections; gRPC over ${o.connections} WriteStream streams, ${GRPC_BATCHES_IN_FLIGHT} batch unanswered per stream (the same ${o.connections} batches in flight). Latency is per batch: request sent → durable answer.`);
  log('');
  log(`| figure | gRPC WriteStream | HTTP NDJSON | ratio |`);
  log(`|---|---|---|---|`);
  log(`| records/s | ${fmt(m(grpc, (t) => t.recordsPerSec))} | ${fmt(m(httpTrials, (t) => t.recordsPerSec))} | ${fmt(m(grpc, (t) => t.recordsPerSec) / m(httpTrials, (t) => t.recordsPerSec), 2)}× |`);
  log(`| batch latency p50 | ${fmt(m(grpc, (t) => t.p50), 1)} ms | ${fmt(m(httpTrials, (t) => t.p50), 1)} ms | |`);
  log(`| batch latency p99 | ${fmt(m(grpc, (t) => t.p99), 1)} ms | ${fmt(m(httpTrials, (t) => t.p99), 1)} ms | |`);
  log('');
}

async function trial(root: string, door: 'http' | 'grpc', bodies: readonly Buffer[], o: SourcesBenchOptions): Promise<Trial> {
  const cleanups: (() => Promise<unknown> | unknown)[] = [];
  const t = { after: (fn: () => Promise<unknown> | unknown) => cleanups.push(fn) };
  try {
    const port = await freePort();
    const node = await NodeProcess.start(t, { dataDir: mkdtempSync(path.join(root, `${door}-`)), args: ['--grpc', `127.0.0.1:${port}`] });
    const created = await http(`${node.url}/v1/tables`, { method: 'POST', body: JSON.stringify(BENCH_TABLE) });
    if (created.status !== 201) throw new Error(`create table: ${created.text}`);
    if (door === 'http') {
      const res = await bulkLoad(node.url, `/v1/tables/${BENCH_TABLE.name}/records`, bodies, o.perBody, o.connections);
      return { recordsPerSec: res.records / res.seconds, p50: quantile(res.latenciesMs, 0.5), p99: quantile(res.latenciesMs, 0.99) };
    }
    return await grpcLoad(port, bodies, o);
  } finally {
    for (const fn of cleanups.reverse()) await fn();
  }
}

/**
 * Batches a gRPC stream of the bench keeps unanswered: one, as each HTTP
 * connection has one request in flight. Without a bound the client queues
 * the whole data set at once (p50 latency ≈ 2 s) for the same throughput.
 */
const GRPC_BATCHES_IN_FLIGHT = 1;

/** Deals the bodies over `connections` streams and waits for every durable reply. */
async function grpcLoad(port: number, bodies: readonly Buffer[], o: SourcesBenchOptions): Promise<Trial> {
  const client = ingestClient(port);
  const latenciesMs: number[] = [];
  const sentAt = new Map<string, number>();
  const started = performance.now();
  try {
    await Promise.all(
      Array.from({ length: o.connections }, async (_, s) => {
        function* requests(): Generator<object> {
          for (let i = s; i < bodies.length; i += o.connections) {
            sentAt.set(String(i), performance.now());
            yield { table: BENCH_TABLE.name, records: bodies[i], sequence: String(i) };
          }
        }
        const replies = await ingestStream(client, requests(), (r) => latenciesMs.push(performance.now() - (sentAt.get(r.sequence) ?? started)), GRPC_BATCHES_IN_FLIGHT);
        const bad = replies.find((r) => r.error !== null || r.written !== o.perBody);
        if (bad !== undefined) throw new Error(`batch ${bad.sequence}: ${bad.error?.message ?? bad.written}`);
      }),
    );
  } finally {
    client.close();
  }
  const seconds = (performance.now() - started) / 1000;
  return { recordsPerSec: (bodies.length * o.perBody) / seconds, p50: quantile(latenciesMs, 0.5), p99: quantile(latenciesMs, 0.99) };
}
