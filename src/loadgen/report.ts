/**
 * The text a person reads at the end of a run (cassandra-stress style): a
 * row per table and a total, the latency spectra, connections, CPU and
 * memory of both sides, the verification and the verdict.
 */
import type { BenchResult } from './bench-result.ts';
import type { LatencySummary } from './latency.ts';

const n = (x: number): string => Math.round(x).toLocaleString('en-US');

function latencyRow(name: string, s: LatencySummary): string {
  return `  ${name.padEnd(9)} p50 ${s.p50Ms} ms  p90 ${s.p90Ms} ms  p99 ${s.p99Ms} ms  p99.9 ${s.p999Ms} ms  max ${s.maxMs} ms  (${n(s.count)})`;
}

/** The final report of `r`. */
export function renderReport(r: BenchResult): string {
  const lines: string[] = [];
  const seconds = Math.max(r.durationSeconds, 0.001);
  lines.push(`sluice bench ${r.runId}: ${n(r.connections.opened)} connections, target ${n(r.target.recordsPerSecond)} rec/s (${n(r.target.requestsPerSecond)} req/s × ${r.target.meanBatch} records), ${r.durationSeconds} s`);
  if (r.target.recordsPerSecond > 0) lines.push(`mix ${r.target.mix}`);
  if (r.target.recordsPerSecond > 0) {
    const ms = (x: number): string => (x < 100 ? x.toFixed(1) : n(x));
    const row = (name: string, records: number, perS: number, requests: number, failed: number, s: LatencySummary): string =>
      `  ${name.padEnd(24)} ${n(records).padStart(12)} ${n(perS).padStart(9)} ${n(requests).padStart(10)} ${n(failed).padStart(8)} ${ms(s.p50Ms).padStart(9)} ${ms(s.p99Ms).padStart(9)} ${ms(s.maxMs).padStart(9)}`;
    lines.push('', `  ${'table'.padEnd(24)} ${'records'.padStart(12)} ${'rec/s'.padStart(9)} ${'requests'.padStart(10)} ${'failed'.padStart(8)} ${'p50 ms'.padStart(9)} ${'p99 ms'.padStart(9)} ${'max ms'.padStart(9)}`);
    for (const [name, t] of Object.entries(r.tables).sort(([a], [b]) => a.localeCompare(b))) {
      lines.push(row(name, t.ackedRecords, t.ackedRecords / seconds, t.ackedRequests, t.failedRequests, t.response));
    }
    lines.push(row('total', r.records.acked, r.records.perSecond, r.requests.acked, r.requests.failed, r.latency.response));
    lines.push('', 'latency (response: from the due time; service: from the write; queue: due → written)');
    lines.push(latencyRow('response', r.latency.response), latencyRow('service', r.latency.service), latencyRow('queue', r.latency.queue));
    lines.push(latencyRow('send lag', r.latency.sendLag) + ' ← the generator\'s own delay when a connection was free');
    lines.push(`  requests: ${n(r.requests.attempts)} attempts, ${n(r.requests.retries)} retries, ${n(r.requests.throttled)} answered 429, ${n(r.requests.dropped)} dropped (waited past --max-queue-delay), ${n(r.requests.failed)} failed`);
    const errors = Object.entries(r.errors.failed);
    if (errors.length > 0) lines.push(`  errors: ${errors.map(([k, v]) => `${k} ×${v}`).join(', ')}`);
  }
  const ce = Object.entries(r.connections.connectErrors);
  lines.push('', `connections: ${n(r.connections.opened)} open when the clock started (${n(r.connections.openedTotal)} connects in all; the first ${n(r.connections.wanted)} took ${r.connections.connectSeconds} s, connect p99 ${r.connections.connectMs.p99Ms} ms), ${n(r.connections.openAtEnd)} open at the end, ${n(r.connections.closed)} closed by the other side${ce.length === 0 ? '' : `; connect errors: ${ce.map(([k, v]) => `${k} ×${v}`).join(', ')}`}`);
  if (r.connections.sourceAddresses.length > 0) lines.push(`  from ${r.connections.sourceAddresses.join(', ')}`);
  const mb = (b: number | null): string => (b === null ? '?' : `${(b / 2 ** 20).toFixed(0)} MiB`);
  const perConn = (b: number | null): string => (b === null ? '' : `, ${(b / 1024).toFixed(1)} KiB per connection`);
  lines.push(`client: ${r.client.cpuSeconds} CPU-s${r.client.cpuSecondsPerMillionRecords === null ? '' : ` (${r.client.cpuSecondsPerMillionRecords} per 1M records)`}, RSS ${mb(r.client.rssBytes)}${perConn(r.client.rssBytesPerConnection)}, event-loop delay p99 ${r.client.eventLoopDelayP99Ms} ms`);
  lines.push(`server: ${r.server.cpuSeconds ?? '?'} CPU-s${r.server.cpuSecondsPerMillionRecords === null ? '' : ` (${r.server.cpuSecondsPerMillionRecords} per 1M records)`}, peak RSS ${mb(r.server.peakRssBytes)}${perConn(r.server.rssBytesPerConnection)}`);
  if (r.verify !== null) {
    const v = r.verify;
    lines.push('', `verify: ${v.ok ? 'clean' : 'FAILED'}: ${n(v.readBack)} read back of ${n(v.acked)} acknowledged; lost ${v.lost}, duplicated ${v.duplicated}, mismatched ${v.mismatched}, unexpected ${v.unexpected}, stored without an answer ${v.maybe}; ${v.keysChecked} keys read by range, ${v.outOfOrderKeys} out of order (${v.seconds} s)`);
    for (const p of v.problems) lines.push(`  ${p}`);
  }
  for (const t of r.thresholds) lines.push(`threshold ${t.threshold}: ${t.ok ? 'pass' : 'FAIL'} (${Math.round(t.actual * 1000) / 1000})`);
  if (!r.valid) for (const why of r.invalidReasons) lines.push(`INVALID: ${why}`);
  return lines.join('\n');
}
