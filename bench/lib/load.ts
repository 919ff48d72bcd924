/**
 * Bulk load over keep-alive connections (an undici pool): NDJSON bodies
 * with per-request latency. 429 answers
 * are retried after a short pause and counted, never hidden.
 */
import { Pool } from 'undici';

/** What one load run measured. */
export interface LoadResult {
  readonly requests: number;
  readonly records: number;
  readonly seconds: number;
  /** Latency of every successful request, ms. */
  readonly latenciesMs: number[];
  readonly overloaded: number;
}

/** Posts every body once over `connections` connections; `recordsPerBody` records each. */
export async function bulkLoad(url: string, path: string, bodies: readonly Buffer[], recordsPerBody: number, connections: number): Promise<LoadResult> {
  const pool = new Pool(url, { connections, pipelining: 1, keepAliveTimeout: 60_000 });
  const latenciesMs: number[] = [];
  let next = 0;
  let overloaded = 0;
  const started = performance.now();
  const worker = async (): Promise<void> => {
    while (next < bodies.length) {
      const body = bodies[next++] as Buffer;
      for (;;) {
        const t0 = performance.now();
        const res = await pool.request({ method: 'POST', path, body, headers: { 'content-type': 'application/x-ndjson' } });
        await res.body.dump();
        if (res.statusCode === 200) {
          latenciesMs.push(performance.now() - t0);
          break;
        }
        if (res.statusCode !== 429) throw new Error(`bulk load: HTTP ${res.statusCode}`);
        overloaded++;
        await new Promise((r) => setTimeout(r, 5));
      }
    }
  };
  await Promise.all(Array.from({ length: connections }, () => worker()));
  const seconds = (performance.now() - started) / 1000;
  await pool.close();
  return { requests: bodies.length, records: bodies.length * recordsPerBody, seconds, latenciesMs, overloaded };
}
