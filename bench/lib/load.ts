/**
 * Bulk load over keep-alive connections (an undici pool per node): NDJSON
 * bodies with per-request latency. 429 answers are retried after a short
 * pause and counted, never hidden. Several node URLs spread the connections
 * round-robin over them; `timedLoad` also fails over when a node dies.
 * Every request carries the test token (TEST_TOKEN).
 */
import { Pool } from 'undici';
import { authHeaders } from '../../test/support/auth.ts';

/** Headers of every load request: the test token (nodes are started with it), and the body's type for POSTs. */
const GET_HEADERS = authHeaders();
const POST_HEADERS = { ...authHeaders(), 'content-type': 'application/x-ndjson' };

/** What one load run measured. */
export interface LoadResult {
  readonly requests: number;
  readonly records: number;
  readonly seconds: number;
  /** Latency of every successful request, ms. */
  readonly latenciesMs: number[];
  readonly overloaded: number;
}

/**
 * Posts every body once over `connections` connections; `recordsPerBody`
 * records each. With several URLs, connection `i` goes to `urls[i % n]`.
 * `ca`: the PEM to trust for https URLs (a node's `--tls auto` certificate).
 */
export async function bulkLoad(url: string | readonly string[], path: string, bodies: readonly Buffer[], recordsPerBody: number, connections: number, ca?: string): Promise<LoadResult> {
  const result = await countedLoad(typeof url === 'string' ? [url] : url, path, bodies, recordsPerBody, connections, 60_000, ca);
  const [failure] = result.failures.keys();
  if (failure !== undefined) throw new Error(`bulk load: ${failure}: ${result.failureSamples.get(failure)?.[0] ?? ''}`);
  return { requests: bodies.length, records: result.records, seconds: result.seconds, latenciesMs: result.latenciesMs, overloaded: result.overloaded };
}

/** Connections of pool `k` of `n` when `total` are dealt round-robin. */
function connectionsOf(k: number, n: number, total: number): number {
  return Math.max(1, Math.floor(total / n) + (k < total % n ? 1 : 0));
}

/** One acknowledged request of a timed load (times in ms since the load started). */
export interface Completion {
  /** When the request was first sent. */
  readonly startMs: number;
  /** When the 200 answer came, after any retries (its latency is `endMs - startMs`). */
  readonly endMs: number;
  /** Attempts it took (1: no retry). */
  readonly attempts: number;
  /** Index of the URL that answered 200. */
  readonly url: number;
}

/** One failed attempt of a timed load. 429 answers are not failures (they are counted apart). */
export interface LoadFailure {
  /** When the attempt ended, ms since the load started. */
  readonly atMs: number;
  /** How long the attempt had been in flight, ms. */
  readonly inFlightMs: number;
  /** Index of the URL the attempt went to. */
  readonly url: number;
  /** `connection`: no HTTP answer (reset, refused, timeout); `status`: a non-2xx answer other than 429. */
  readonly kind: 'connection' | 'status';
  readonly status?: number;
  /** The answer's body (first 500 characters) or the error's code and message. */
  readonly detail: string;
}

/** What a timed load measured. */
export interface TimedLoadResult {
  readonly seconds: number;
  readonly completions: Completion[];
  readonly failures: LoadFailure[];
  readonly overloaded: number;
  /** URLs the client gave up on after a connection failure. */
  readonly abandoned: number[];
  /** When each of `events` ran, ms since the load started (NaN: it did not run). */
  readonly eventsAtMs: number[];
}

/** Options of a timed load. */
export interface TimedLoadOptions {
  readonly urls: readonly string[];
  readonly path: string;
  /** Bodies sent in turn, from the first again once all were sent. */
  readonly bodies: readonly Buffer[];
  readonly connections: number;
  /** No new request starts after this many seconds; those in flight finish (with their retries). */
  readonly seconds: number;
  /** An attempt with no answer headers after this long fails as a `connection` failure. @default 30_000 */
  readonly attemptTimeoutMs?: number;
  /** Functions run during the load (e.g. killing a node), `atMs` after it started. */
  readonly events?: readonly { readonly atMs: number; readonly run: () => unknown }[];
}

/**
 * Posts bodies for a fixed time over `connections` connections, dealt
 * round-robin over `urls`, like clients of a cluster: an attempt that gets
 * no HTTP answer marks its node down for every connection, and it and the
 * following requests go to the next node still up (the request is sent
 * again, so it may be stored twice: at-least-once). A non-2xx answer other
 * than 429 is recorded and retried on the next node up after 50 ms.
 */
export async function timedLoad(o: TimedLoadOptions): Promise<TimedLoadResult> {
  const timeoutMs = o.attemptTimeoutMs ?? 30_000;
  const n = o.urls.length;
  const pools = o.urls.map(
    (u, k) => new Pool(u, { connections: connectionsOf(k, n, o.connections), pipelining: 1, keepAliveTimeout: 60_000, headersTimeout: timeoutMs, bodyTimeout: timeoutMs }),
  );
  const down = new Set<number>();
  const completions: Completion[] = [];
  const failures: LoadFailure[] = [];
  let overloaded = 0;
  let next = 0;
  const started = performance.now();
  const now = (): number => performance.now() - started;
  const deadline = o.seconds * 1000;
  const eventsAtMs = (o.events ?? []).map(() => Number.NaN);
  const timers = (o.events ?? []).map((e, i) =>
    setTimeout(() => {
      eventsAtMs[i] = now();
      e.run();
    }, e.atMs),
  );
  const nextUp = (k: number): number | undefined => {
    for (let step = 1; step <= n; step++) {
      const c = (k + step) % n;
      if (!down.has(c)) return c;
    }
    return undefined;
  };
  const worker = async (first: number): Promise<void> => {
    let k: number | undefined = first;
    while (now() < deadline) {
      const body = o.bodies[next++ % o.bodies.length] as Buffer;
      const startMs = now();
      let attempts = 0;
      for (;;) {
        if (k === undefined || down.has(k)) k = k === undefined ? undefined : nextUp(k);
        if (k === undefined) throw new Error('timed load: every node is down');
        attempts++;
        const t0 = now();
        let status: number;
        let text = '';
        try {
          const res = await (pools[k] as Pool).request({ method: 'POST', path: o.path, body, headers: POST_HEADERS });
          status = res.statusCode;
          if (status === 200 || status === 429) await res.body.dump();
          else text = await res.body.text();
        } catch (err) {
          const e = err as { code?: string; message?: string };
          failures.push({ atMs: now(), inFlightMs: now() - t0, url: k, kind: 'connection', detail: `${e.code ?? 'error'}: ${e.message ?? String(err)}` });
          down.add(k);
          continue;
        }
        if (status === 200) {
          completions.push({ startMs, endMs: now(), attempts, url: k });
          break;
        }
        if (status === 429) {
          overloaded++;
          await new Promise((r) => setTimeout(r, 5));
          continue;
        }
        failures.push({ atMs: now(), inFlightMs: now() - t0, url: k, kind: 'status', status, detail: text.slice(0, 500) });
        k = nextUp(k) ?? k;
        await new Promise((r) => setTimeout(r, 50));
      }
    }
  };
  try {
    await Promise.all(Array.from({ length: o.connections }, (_, i) => worker(i % n)));
  } finally {
    for (const t of timers) clearTimeout(t);
    // A pool to a dead node would keep reconnecting: destroy it rather than wait for it.
    await Promise.all(pools.map((p, k) => (down.has(k) ? p.destroy() : p.close())));
  }
  return { seconds: now() / 1000, completions, failures, overloaded, abandoned: [...down], eventsAtMs };
}

/** What a counted load measured: like `LoadResult`, with failed requests counted instead of thrown. */
export interface CountedLoadResult {
  readonly seconds: number;
  /** Requests answered 200. */
  readonly acked: number;
  /** Records of those requests. */
  readonly records: number;
  /** Latency of every 200, ms. */
  readonly latenciesMs: number[];
  /** 429 answers (each retried after 5 ms). */
  readonly overloaded: number;
  /** 200 answers that carried a `tx_id` (atomic batches that ran two-phase commit). */
  readonly withTxId: number;
  /** Failed requests by `HTTP <status> <code>` or `connection <code>`; not retried. */
  readonly failures: ReadonlyMap<string, number>;
  /** The first answers of each failure kind (up to 3 each, 300 characters). */
  readonly failureSamples: ReadonlyMap<string, string[]>;
}

/**
 * Posts every body once, like `bulkLoad`, but a non-2xx answer other than
 * 429, or no answer, is counted by status and error code and not sent
 * again: the load goes on, and the records of failed requests are not in
 * `records`. For loads whose failures are a finding (atomic batches).
 */
export async function countedLoad(urls: readonly string[], path: string, bodies: readonly Buffer[], recordsPerBody: number, connections: number, attemptTimeoutMs = 60_000, ca?: string): Promise<CountedLoadResult> {
  const latenciesMs: number[] = [];
  const failures = new Map<string, number>();
  const failureSamples = new Map<string, string[]>();
  const fail = (kind: string, detail: string): void => {
    failures.set(kind, (failures.get(kind) ?? 0) + 1);
    const samples = failureSamples.get(kind) ?? [];
    if (samples.length < 3) samples.push(detail.slice(0, 300));
    failureSamples.set(kind, samples);
  };
  let next = 0;
  let overloaded = 0;
  let withTxId = 0;
  const worker = async (pool: Pool): Promise<void> => {
    while (next < bodies.length) {
      const body = bodies[next++] as Buffer;
      for (;;) {
        const t0 = performance.now();
        let status: number;
        let text: string;
        try {
          const res = await pool.request({ method: 'POST', path, body, headers: POST_HEADERS });
          status = res.statusCode;
          // Read in every mode (not dumped), so the atomic and plain loads cost the client alike.
          text = await res.body.text();
        } catch (err) {
          const e = err as { code?: string; message?: string };
          fail(`connection ${e.code ?? 'error'}`, e.message ?? String(err));
          break;
        }
        if (status === 200) {
          latenciesMs.push(performance.now() - t0);
          if (text.includes('"tx_id":"', text.length - 64)) withTxId++;
          break;
        }
        if (status === 429) {
          overloaded++;
          await new Promise((r) => setTimeout(r, 5));
          continue;
        }
        fail(`HTTP ${status} ${errorCode(text)}`, text);
        break;
      }
    }
  };
  const seconds = await overPools(urls, connections, { headersTimeout: attemptTimeoutMs, bodyTimeout: attemptTimeoutMs, ...(ca === undefined ? {} : { connect: { ca } }) }, worker);
  return { seconds, acked: latenciesMs.length, records: latenciesMs.length * recordsPerBody, latenciesMs, overloaded, withTxId, failures, failureSamples };
}

/**
 * Runs `connections` workers over keep-alive pools dealt round-robin over
 * `urls`, closes the pools, and returns the seconds the workers took.
 */
export async function overPools(urls: readonly string[], connections: number, timeouts: { headersTimeout?: number; bodyTimeout?: number; connect?: { ca: string } }, worker: (pool: Pool) => Promise<void>): Promise<number> {
  const pools = urls.map((u, k) => new Pool(u, { connections: connectionsOf(k, urls.length, connections), pipelining: 1, keepAliveTimeout: 60_000, ...timeouts }));
  const started = performance.now();
  try {
    await Promise.all(Array.from({ length: connections }, (_, i) => worker(pools[i % pools.length] as Pool)));
    return (performance.now() - started) / 1000;
  } finally {
    await Promise.all(pools.map((p) => p.close()));
  }
}

/** The `error.code` of a sluice error answer, or `?`. */
function errorCode(text: string): string {
  try {
    return String((JSON.parse(text) as { error?: { code?: string } }).error?.code ?? '?');
  } catch {
    return '?';
  }
}

/** What a read load measured. */
export interface ReadLoadResult {
  readonly seconds: number;
  readonly requests: number;
  readonly latenciesMs: number[];
  /** Records the answers held, all requests. */
  readonly records: number;
  /** Failed requests by `HTTP <status> <code>` or `connection <code>`. */
  readonly failures: ReadonlyMap<string, number>;
}

/** GETs `requests` paths (`paths` in turn) over `connections` connections dealt over `urls`; each answer is a page of `records`. */
export async function readLoad(urls: readonly string[], paths: readonly string[], requests: number, connections: number): Promise<ReadLoadResult> {
  const latenciesMs: number[] = [];
  const failures = new Map<string, number>();
  let next = 0;
  let records = 0;
  const worker = async (pool: Pool): Promise<void> => {
    while (next < requests) {
      const path = paths[next++ % paths.length] as string;
      const t0 = performance.now();
      try {
        const res = await pool.request({ method: 'GET', path, headers: GET_HEADERS });
        const text = await res.body.text();
        if (res.statusCode !== 200) {
          const kind = `HTTP ${res.statusCode} ${errorCode(text)}`;
          failures.set(kind, (failures.get(kind) ?? 0) + 1);
          continue;
        }
        latenciesMs.push(performance.now() - t0);
        records += (JSON.parse(text) as { records: unknown[] }).records.length;
      } catch (err) {
        const kind = `connection ${(err as { code?: string }).code ?? 'error'}`;
        failures.set(kind, (failures.get(kind) ?? 0) + 1);
      }
    }
  };
  const seconds = await overPools(urls, connections, {}, worker);
  return { seconds, requests, latenciesMs, records, failures };
}
