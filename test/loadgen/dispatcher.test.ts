/**
 * The open model's accounting on a fake clock: a stalled server shows in
 * the response times (from the due time) and not in the service times, a
 * retry keeps its first due time and is recorded once, and requests that
 * wait past the queue limit are dropped, not sent late.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Dispatcher, type Channel, type ChannelSource, type DispatchPolicy } from '../../src/loadgen/dispatcher.ts';
import { Schedule } from '../../src/loadgen/schedule.ts';
import type { HttpReply, TransportError } from '../../src/loadgen/http-connection.ts';

type Done = (err: TransportError | undefined, reply?: HttpReply) => void;

/** A server of `n` connections whose answers the test releases. */
class FakeServer implements ChannelSource {
  readonly idle: FakeChannel[] = [];
  readonly inFlight: { channel: FakeChannel; done: Done; sentAtUs: number }[] = [];
  private readonly clock: { us: number };
  constructor(n: number, clock: { us: number }) {
    this.clock = clock;
    for (let i = 0; i < n; i++) this.idle.push(new FakeChannel(this));
  }
  take(): Channel | undefined {
    return this.idle.shift();
  }
  give(channel: Channel): void {
    this.idle.push(channel as FakeChannel);
  }
  accept(channel: FakeChannel, done: Done): void {
    this.inFlight.push({ channel, done, sentAtUs: this.clock.us });
  }
  /** Answers every request sent at least `serviceUs` ago with `status`. */
  answer(serviceUs: number, status = 200, retryAfterS?: number): number {
    const due = this.inFlight.filter((x) => this.clock.us - x.sentAtUs >= serviceUs);
    this.inFlight.splice(0, this.inFlight.length, ...this.inFlight.filter((x) => !due.includes(x)));
    for (const x of due) x.done(undefined, { status, retryAfterS, close: false, body: status === 200 ? '{"written":1}' : '{"error":{"code":"OVERLOADED"}}' });
    return due.length;
  }
}

class FakeChannel implements Channel {
  private readonly server: FakeServer;
  constructor(server: FakeServer) {
    this.server = server;
  }
  send(_path: string, _headers: string, _body: string, done: Done): void {
    this.server.accept(this, done);
  }
}

const POLICY: DispatchPolicy = { maxQueueDelayUs: 10_000_000, maxRetries: 3, retryPauseUsMax: 1_000_000 };

function setup(connections: number, recordsPerSecond: number, durationMs: number, policy = POLICY) {
  const clock = { us: 0 };
  const server = new FakeServer(connections, clock);
  const schedule = new Schedule({ recordsPerSecond, batchMin: 1, batchMax: 1, arrival: 'constant', seed: 7, durationUs: durationMs * 1000 });
  const d = new Dispatcher(schedule, server, (req) => ({ table: 't', path: `/r${req.r}`, headers: '', body: '{}' }), { nowUs: () => clock.us }, 0, policy);
  return { clock, server, d };
}

test('a stalled server shows in the response times, not in the service times', () => {
  const { clock, server, d } = setup(10, 1000, 2000);
  for (let ms = 0; ms <= 3000; ms++) {
    clock.us = ms * 1000;
    // The server answers within 1 ms, except that it stalls from 500 ms to 1,500 ms.
    if (ms < 500 || ms >= 1500) server.answer(1000);
    d.tick();
  }
  assert.equal(d.finished, true);
  assert.equal(d.counters.snapshot().ackedRequests, 2000);
  const response99 = d.latency.response.percentile(99) / 1000;
  const service99 = d.latency.service.percentile(99) / 1000;
  // ~1,000 of 2,000 requests fell due during the stall and waited for it to end.
  assert.ok(d.latency.response.percentile(50) / 1000 >= 1, `response p50 ${d.latency.response.percentile(50)} µs`);
  assert.ok(response99 >= 900, `response p99 ${response99} ms should show the 1 s stall`);
  // Only the 10 requests on the wire during the stall saw it as service time (0.5% of requests).
  assert.ok(service99 <= 2, `service p99 ${service99} ms should not`);
  assert.ok(d.latency.service.max / 1000 >= 999, 'the requests caught on the wire waited the whole stall');
  assert.equal(d.latency.response.count, 2000, 'each request recorded once');
});

test('a closed-loop client would have hidden the stall: the queue time carries it', () => {
  const { clock, server, d } = setup(1, 100, 1000);
  for (let ms = 0; ms <= 2000; ms++) {
    clock.us = ms * 1000;
    if (ms >= 300) server.answer(1000);
    d.tick();
  }
  assert.equal(d.counters.snapshot().ackedRequests, 100);
  // Requests due during the 300 ms stall were not written until it ended.
  assert.ok(d.latency.queue.max / 1000 >= 250, `queue max ${d.latency.queue.max} µs`);
});

test('a retry keeps its first due time and is recorded once', () => {
  const { clock, server, d } = setup(2, 10, 100);
  let answered503 = false;
  for (let ms = 0; ms <= 3000; ms++) {
    clock.us = ms * 1000;
    // The first attempt hangs 5 ms and is answered 503; the retry is answered in 1 ms.
    if (!answered503) {
      if (ms >= 5) answered503 = server.answer(0, 503, 0) > 0;
    } else {
      server.answer(1000);
    }
    d.tick();
  }
  const c = d.counters.snapshot();
  assert.equal(c.ackedRequests, 1, 'one request at 10 rec/s in 100 ms');
  assert.equal(c.retries, 1);
  assert.equal(c.attempts, 2);
  assert.equal(d.latency.response.count, 1);
  // Due at 0, first answered at 5 ms, retried after a pause of up to 50 ms: the response time counts from 0.
  assert.ok(d.latency.response.max / 1000 >= 6, `response ${d.latency.response.max} µs counts from the first due time`);
  assert.ok(d.latency.service.max / 1000 <= 2, 'the service time is the last attempt');
  assert.equal(d.counters.retried.get('HTTP 503 OVERLOADED'), 1);
});

test('requests that wait past the queue limit are dropped, not sent late', () => {
  const { clock, server, d } = setup(1, 100, 1000, { ...POLICY, maxQueueDelayUs: 50_000 });
  for (let ms = 0; ms <= 1500; ms++) {
    clock.us = ms * 1000;
    // One connection and a server that takes 100 ms per request: 10 req/s served of 100 due.
    server.answer(100_000);
    d.tick();
  }
  const c = d.counters.snapshot();
  assert.ok(c.droppedRequests >= 80, `dropped ${c.droppedRequests}`);
  assert.equal(c.ackedRequests + c.droppedRequests, 100);
  assert.ok(d.latency.queue.max / 1000 <= 51, 'nothing was written after waiting past the limit');
});

test('a request that keeps failing gives up after its retries and counts as failed', () => {
  const { clock, server, d } = setup(1, 10, 100, { ...POLICY, maxRetries: 2 });
  for (let ms = 0; ms <= 10_000; ms++) {
    clock.us = ms * 1000;
    server.answer(0, 503, 0);
    d.tick();
  }
  const c = d.counters.snapshot();
  assert.equal(c.failedRequests, 1);
  assert.equal(c.attempts, 3);
  assert.equal(d.acked.count, 0);
  assert.equal(d.attempted.count, 1, 'its record counts as attempted (maybe stored)');
  assert.equal(d.counters.errors.get('HTTP 503 OVERLOADED'), 1);
});
