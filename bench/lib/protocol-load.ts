/**
 * A load through one way in: every body posted once over keep-alive
 * connections with the way's content type and the test token. An answer
 * that is not "all written" (see ProtocolWay.refusal) fails the load after
 * it ends, so refused bodies never count as throughput; 429 and 503 (the
 * retryable answers every protocol here shares) are retried after 5 ms,
 * like the other benches' loads, and counted.
 */
import type { Pool } from 'undici';
import { authHeaders } from '../../test/support/auth.ts';
import { overPools } from './load.ts';
import type { ProtocolWay } from './protocol-ways.ts';

/** A pause before retrying a 429/503, as `countedLoad` does. */
const RETRY_PAUSE_MS = 5;
/** No answer headers after this long fails the attempt. */
const ATTEMPT_TIMEOUT_MS = 60_000;

/** What one protocol load measured. */
export interface ProtocolLoadResult {
  readonly seconds: number;
  /** Records of the bodies answered "all written". */
  readonly records: number;
  /** Latency of each such answer's attempt, ms. */
  readonly latenciesMs: number[];
  /** 429 and 503 answers (retried). */
  readonly retried: number;
}

/** Posts every body once through `way`; throws after the load when any was refused or got no answer. */
export async function protocolLoad(url: string, way: ProtocolWay, bodies: readonly Buffer[], recordsPerBody: number, connections: number): Promise<ProtocolLoadResult> {
  const headers = { ...authHeaders(), 'content-type': way.contentType };
  const latenciesMs: number[] = [];
  const failures: string[] = [];
  let retried = 0;
  let next = 0;
  const worker = async (pool: Pool): Promise<void> => {
    while (next < bodies.length && failures.length === 0) {
      const body = bodies[next++] as Buffer;
      for (;;) {
        const t0 = performance.now();
        let status: number;
        let text: string;
        try {
          const res = await pool.request({ method: 'POST', path: way.path, body, headers });
          status = res.statusCode;
          // Read every answer whole: the clients of all protocols pay for their answers alike.
          text = await res.body.text();
        } catch (err) {
          failures.push(`no answer: ${(err as { code?: string }).code ?? ''} ${err instanceof Error ? err.message : String(err)}`);
          return;
        }
        if (status === 429 || status === 503) {
          retried++;
          await new Promise((r) => setTimeout(r, RETRY_PAUSE_MS));
          continue;
        }
        const refusal = way.refusal(status, text, recordsPerBody);
        if (refusal !== undefined) failures.push(refusal);
        else latenciesMs.push(performance.now() - t0);
        break;
      }
    }
  };
  const seconds = await overPools([url], connections, { headersTimeout: ATTEMPT_TIMEOUT_MS, bodyTimeout: ATTEMPT_TIMEOUT_MS }, worker);
  if (failures.length > 0) throw new Error(`${way.protocol}: ${failures.length} bodies not written; first: ${failures[0]}`);
  return { seconds, records: latenciesMs.length * recordsPerBody, latenciesMs, retried };
}
