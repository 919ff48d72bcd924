/**
 * Engine benchmark (`npm run bench -- engines`): the index engines side by
 * side as the index grows. Record keys of the bulk benchmark's shape (shard,
 * table, one of 100,000 account keys, time, id) go into each engine through
 * the engine interface, in batches of 20,000 with 4 commits in flight (the
 * applier's defaults), on a fresh directory per run. Reported per segment of
 * the load, so a rate that falls as the index grows shows; then point reads
 * of random stored keys.
 */
import os from 'node:os';
import path from 'node:path';
import { mkdtempSync } from 'node:fs';
import { openEngine } from '../src/storage/engine/open-engine.ts';
import type { EngineKind } from '../src/storage/engine/storage-engine.ts';
import { recordKeyPrefix } from '../src/storage/index/key-layout.ts';
import { startReport } from './lib/report.ts';
import { fmt, median } from './lib/stats.ts';

/** Options of the engine benchmark. */
export interface EnginesBenchOptions {
  readonly puts: number;
  readonly segments: number;
  readonly runs: number;
  readonly engines: readonly EngineKind[];
}

const BATCH_PUTS = 20_000;
const COMMITS_IN_FLIGHT = 4;
const ACCOUNTS = 100_000;
const VALUE = Buffer.alloc(110, 7);
const READS = 200_000;

interface Trial {
  /** Puts per second in each segment of the load. */
  readonly segmentRates: number[];
  readonly putsPerSec: number;
  /** Process CPU seconds per million puts (event loop and the engine's threads). */
  readonly cpuPerMillion: number;
  readonly getsPerSec: number;
}

/** The key of put number `n`: 16 shards, 100,000 accounts, then time and id. */
function keyOf(n: number): Buffer {
  const account = (n * 7919) % ACCOUNTS;
  const prefix = recordKeyPrefix(account % 16, 1, Buffer.from(`acct-${String(account).padStart(6, '0')}`));
  const out = Buffer.allocUnsafe(prefix.length + 16);
  prefix.copy(out);
  out.writeBigUInt64BE(BigInt(1_764_000_000_000 + n), prefix.length);
  out.writeBigUInt64BE(BigInt(n), prefix.length + 8);
  return out;
}

async function trial(root: string, kind: EngineKind, o: EnginesBenchOptions): Promise<Trial> {
  const engine = await openEngine(kind, { dir: mkdtempSync(path.join(root, `${kind}-`)) });
  try {
    const perSegment = Math.ceil(o.puts / o.segments);
    const segmentRates: number[] = [];
    const inFlight = new Set<Promise<void>>();
    let lsn = 0n;
    const cpu0 = process.cpuUsage();
    const t0 = performance.now();
    let segmentStart = t0;
    for (let n = 0; n < o.puts; ) {
      const batch = engine.batch();
      const boundary = Math.min(o.puts, (segmentRates.length + 1) * perSegment);
      const end = Math.min(boundary, n + BATCH_PUTS);
      for (; n < end; n++) batch.put(keyOf(n), VALUE);
      const commit: Promise<void> = batch.commit(++lsn).finally(() => inFlight.delete(commit));
      inFlight.add(commit);
      if (inFlight.size >= COMMITS_IN_FLIGHT) await Promise.race(inFlight);
      if (n === boundary) {
        await Promise.all(inFlight);
        const now = performance.now();
        segmentRates.push((n - segmentRates.length * perSegment) / ((now - segmentStart) / 1000));
        segmentStart = now;
      }
    }
    await Promise.all(inFlight);
    const seconds = (performance.now() - t0) / 1000;
    const cpu = process.cpuUsage(cpu0);
    let found = 0;
    const r0 = performance.now();
    for (let i = 0; i < READS; i++) if ((await engine.get(keyOf((i * 104_729) % o.puts))) !== undefined) found++;
    const getsPerSec = READS / ((performance.now() - r0) / 1000);
    if (found !== READS) throw new Error(`${kind}: ${READS - found} of ${READS} stored keys not found`);
    return { segmentRates, putsPerSec: o.puts / seconds, cpuPerMillion: ((cpu.user + cpu.system) / 1e6 / o.puts) * 1e6, getsPerSec };
  } finally {
    await engine.close();
  }
}

/** Runs the engine benchmark; returns the report as Markdown. */
export async function runEnginesBench(o: EnginesBenchOptions): Promise<string> {
  const report = startReport('sluice-bench-engines-');
  const { log } = report;
  try {
    const results = new Map<EngineKind, Trial[]>();
    for (const kind of o.engines) {
      const trials: Trial[] = [];
      for (let run = 0; run < o.runs; run++) trials.push(await trial(report.root, kind, o));
      results.set(kind, trials);
    }
    const perSegment = Math.ceil(o.puts / o.segments);
    log(`## Index engines as the index grows (median of ${o.runs})`);
    log('');
    log(`${fmt(o.puts)} record keys (16 shards, ${fmt(ACCOUNTS)} accounts, ~60 B keys, 110 B values) into an empty index, batches of ${fmt(BATCH_PUTS)}, ${COMMITS_IN_FLIGHT} commits in flight; ${os.cpus().length} cores.`);
    log('');
    const kinds = [...results.keys()];
    log(`| index size | ${kinds.map((k) => `${k} puts/s`).join(' | ')} |`);
    log(`|---|${kinds.map(() => '---').join('|')}|`);
    for (let s = 0; s < o.segments; s++) {
      const row = kinds.map((k) => fmt(median((results.get(k) ?? []).map((t) => t.segmentRates[s] ?? 0))));
      log(`| ${fmt(s * perSegment)} → ${fmt(Math.min(o.puts, (s + 1) * perSegment))} | ${row.join(' | ')} |`);
    }
    log(`| whole load | ${kinds.map((k) => fmt(median((results.get(k) ?? []).map((t) => t.putsPerSec)))).join(' | ')} |`);
    log(`| CPU s per 1M puts | ${kinds.map((k) => fmt(median((results.get(k) ?? []).map((t) => t.cpuPerMillion)), 2)).join(' | ')} |`);
    log(`| point reads/s after the load (${fmt(READS)} random stored keys) | ${kinds.map((k) => fmt(median((results.get(k) ?? []).map((t) => t.getsPerSec)))).join(' | ')} |`);
    log('');
  } finally {
    report.close();
  }
  return report.lines.join('\n');
}
