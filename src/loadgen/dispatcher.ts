/**
 * The open-model dispatcher: takes requests from the schedule as they fall
 * due, hands each to the idle connection that has waited longest, and
 * accounts latency from the due time. Without an idle connection a request
 * waits in a FIFO with its due time unchanged; past `maxQueueDelayUs` it is
 * dropped (k6's dropped_iterations), a failure. Retries (429/503 honouring
 * Retry-After, resets, timeouts) keep the first due time. The clock and the
 * connections are interfaces, so a test drives it with a fake clock and a
 * server that stalls.
 */
import type { RecordableHistogram } from 'node:perf_hooks';
import type { HttpReply, TransportError } from './http-connection.ts';
import { LatencyRecorder, latencyHistogram, recordUs } from './latency.ts';
import type { Schedule, ScheduledRequest } from './schedule.ts';
import { BitSet } from './bitset.ts';
import { DueHeap } from './due-heap.ts';
import { RunCounters } from './run-counters.ts';
import { errorCode } from './error-code.ts';

/** A monotonic clock in µs. */
export interface Clock {
  nowUs(): number;
}

/** One connection, as the dispatcher sees it. */
export interface Channel {
  send(path: string, headers: string, body: string, done: (err: TransportError | undefined, reply?: HttpReply) => void): void;
}

/** Where idle connections come from and go back to. */
export interface ChannelSource {
  take(): Channel | undefined;
  give(channel: Channel): void;
}

/** One request: a POST of `body` to `path` with `headers` (CRLF-terminated lines; Host and Content-Length are the connection's). */
export interface BuiltRequest {
  readonly table: string;
  readonly path: string;
  readonly headers: string;
  readonly body: string;
}

/** Turns a scheduled request into bytes (the workload and the target's URL). */
export type RequestBuilder = (req: ScheduledRequest) => BuiltRequest;

/** Retry and drop policy. */
export interface DispatchPolicy {
  readonly maxQueueDelayUs: number;
  /** Attempts after the first before a request counts as failed. */
  readonly maxRetries: number;
  /** Longest pause before a retry, µs (Retry-After is capped at it too). */
  readonly retryPauseUsMax: number;
}

interface Pending {
  readonly req: ScheduledRequest;
  built: BuiltRequest | undefined;
  attempts: number;
  /** Not sent again before this time (a retry's pause), µs. */
  notBeforeUs: number;
  /** The tick that queued it: sent in that same tick, it never waited for a connection. */
  queuedTick: number;
  writtenUs: number;
}

/** Pause before a first retry, µs; doubled at each attempt. */
const RETRY_PAUSE_US_FIRST = 50_000;

/** Statuses a request is retried on: the node asked the client to come back. */
const RETRY_STATUSES = new Set([429, 502, 503, 504]);

/** See the file comment. */
export class Dispatcher {
  readonly latency = new LatencyRecorder();
  /** Send lag of requests that found an idle connection when due: the generator's own delay (a late tick), µs. */
  readonly sendLag: RecordableHistogram = latencyHistogram();
  readonly counters = new RunCounters();
  /** Records acknowledged (2xx), by number. */
  readonly acked = new BitSet();
  /** Records sent at least once, by number. */
  readonly attempted = new BitSet();
  /** Response time per table, µs (for the final table). */
  readonly tableResponse = new Map<string, RecordableHistogram>();
  private readonly waiting: Pending[] = [];
  private waitingHead = 0;
  private readonly retrying = new DueHeap<Pending>();
  private inFlightCount = 0;
  private exhausted = false;
  private ticks = 0;

  private readonly schedule: Schedule;
  private readonly channels: ChannelSource;
  private readonly build: RequestBuilder;
  private readonly clock: Clock;
  private readonly startUs: number;
  private readonly policy: DispatchPolicy;

  constructor(schedule: Schedule, channels: ChannelSource, build: RequestBuilder, clock: Clock, startUs: number, policy: DispatchPolicy) {
    this.schedule = schedule;
    this.channels = channels;
    this.build = build;
    this.clock = clock;
    this.startUs = startUs;
    this.policy = policy;
  }

  /** Requests written and not yet answered. */
  get inFlight(): number {
    return this.inFlightCount;
  }

  /** Requests due and waiting for a connection (retries pausing included). */
  get queued(): number {
    return this.waiting.length - this.waitingHead + this.retrying.size;
  }

  /** True once the schedule is over and nothing is waiting or in flight. */
  get finished(): boolean {
    return this.exhausted && this.queued === 0 && this.inFlightCount === 0;
  }

  /** Queues what has fallen due, drops what waited too long, and sends what it can. */
  tick(): void {
    const now = this.clock.nowUs() - this.startUs;
    this.ticks++;
    while (!this.exhausted && this.schedule.peekDueUs() <= now) {
      const req = this.schedule.next() as ScheduledRequest;
      this.waiting.push({ req, built: undefined, attempts: 0, notBeforeUs: 0, writtenUs: 0, queuedTick: this.ticks });
    }
    if (this.schedule.peekDueUs() === Infinity) this.exhausted = true;
    this.requeueRetries(now);
    this.dispatch(now);
  }

  /** Sends waiting requests while there are idle connections. */
  private dispatch(now: number): void {
    while (this.waitingHead < this.waiting.length) {
      const p = this.waiting[this.waitingHead] as Pending;
      // A retry is not dropped for its age: it was sent once in time.
      if (p.attempts === 0 && now - p.req.dueUs > this.policy.maxQueueDelayUs) {
        this.waitingHead++;
        this.counters.dropped(p.req.count);
        continue;
      }
      const channel = this.channels.take();
      if (channel === undefined) break;
      this.waitingHead++;
      this.send(p, channel, now);
    }
    if (this.waitingHead > 1024 && this.waitingHead * 2 > this.waiting.length) {
      this.waiting.splice(0, this.waitingHead);
      this.waitingHead = 0;
    }
  }

  private send(p: Pending, channel: Channel, now: number): void {
    if (p.built === undefined) p.built = this.build(p.req);
    if (p.attempts === 0) {
      // Due and sent in one tick with a connection free: any delay is the generator's own (timer, event loop, GC).
      if (p.queuedTick === this.ticks) recordUs(this.sendLag, now - p.req.dueUs);
      this.attempted.addRange(p.req.firstJ, p.req.count);
    }
    p.attempts++;
    p.writtenUs = now;
    this.inFlightCount++;
    this.counters.attempt();
    const built = p.built;
    channel.send(built.path, built.headers, built.body, (err, reply) => {
      this.inFlightCount--;
      this.channels.give(channel);
      this.settle(p, err, reply);
      // What this sends waited for a connection: its delay is not the generator's.
      this.ticks++;
      this.dispatch(this.clock.nowUs() - this.startUs);
    });
  }

  private settle(p: Pending, err: TransportError | undefined, reply: HttpReply | undefined): void {
    const now = this.clock.nowUs() - this.startUs;
    const table = (p.built as BuiltRequest).table;
    if (reply !== undefined && reply.status >= 200 && reply.status < 300) {
      this.recordLatency(table, p, now);
      this.acked.addRange(p.req.firstJ, p.req.count);
      this.counters.acked(table, p.req.count);
      return;
    }
    const kind = err !== undefined ? err.kind : `HTTP ${reply?.status ?? 0} ${errorCode(reply?.body ?? '')}`;
    if (reply?.status === 429) this.counters.throttled();
    const retryable = err !== undefined || RETRY_STATUSES.has(reply?.status ?? 0);
    if (retryable && p.attempts <= this.policy.maxRetries) {
      this.counters.retry(kind);
      // Exponential back-off, jittered so retries spread out, with the node's Retry-After as a floor (never
      // shortened): under overload thousands of connections retrying every second keep the node refusing them.
      const backoffUs = RETRY_PAUSE_US_FIRST * 2 ** (p.attempts - 1) * (0.5 + Math.random() / 2);
      p.notBeforeUs = now + Math.min(this.policy.retryPauseUsMax, Math.max(backoffUs, (reply?.retryAfterS ?? 0) * 1e6));
      this.retrying.push(p);
      return;
    }
    this.recordLatency(table, p, now);
    this.counters.failed(table, kind, p.req.count);
  }

  private recordLatency(table: string, p: Pending, now: number): void {
    this.latency.record(p.req.dueUs, p.writtenUs, now);
    let h = this.tableResponse.get(table);
    if (h === undefined) {
      h = latencyHistogram();
      this.tableResponse.set(table, h);
    }
    recordUs(h, now - p.req.dueUs);
  }

  /** Puts retries whose pause is over at the front of the queue: they are the oldest. */
  private requeueRetries(now: number): void {
    const ready = this.retrying.takeDue(now);
    if (ready.length > 0) this.waiting.splice(this.waitingHead, 0, ...ready);
  }
}
