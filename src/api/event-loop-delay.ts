/**
 * The event-loop delay as a Prometheus histogram: how late a timer due
 * every EVENT_LOOP_SAMPLE_MS fired, observed once per tick. A stall of the
 * main thread (a long synchronous parse, a blocking fs call, GC) shows up
 * as one observation as long as the stall, without a profiler attached:
 * the analogue of a blocking profile among the white paper's four views.
 *
 * prom-client's default `sluice_nodejs_eventloop_lag_p99_seconds` and
 * friends are percentiles of `perf_hooks.monitorEventLoopDelay` since the
 * last scrape: gauges, which Prometheus cannot add up across nodes or
 * over a window. A histogram's buckets can be (`histogram_quantile` over
 * `rate(..._bucket[5m])`), so both are kept.
 */
import { Histogram, type Registry } from 'prom-client';
import { EVENT_LOOP_SAMPLE_MS } from '../config.ts';

/** Bucket bounds, seconds: from a healthy loop (under a millisecond late) to a stall a client would time out on. */
const BUCKETS_SECONDS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5];

/** Samples the event-loop delay into a histogram on `registry` until stopped. */
export class EventLoopDelay {
  readonly histogram: Histogram;
  private timer: NodeJS.Timeout | undefined;
  private due = 0;

  constructor(registry: Registry) {
    this.histogram = new Histogram({
      name: 'sluice_event_loop_delay_seconds',
      help: `How late a timer due every ${EVENT_LOOP_SAMPLE_MS} ms fired on the main thread (a stall is one observation as long as the stall)`,
      buckets: BUCKETS_SECONDS,
      registers: [registry],
    });
  }

  /** Starts sampling (idempotent); the timer never keeps the process alive. */
  start(): void {
    if (this.timer !== undefined) return;
    this.due = performance.now() + EVENT_LOOP_SAMPLE_MS;
    this.timer = setInterval(() => this.tick(), EVENT_LOOP_SAMPLE_MS);
    this.timer.unref();
  }

  private tick(): void {
    const now = performance.now();
    this.histogram.observe(Math.max(0, now - this.due) / 1000);
    // The next tick is due a period after this one fired: a stall is counted once, not as a backlog of late ticks.
    this.due = now + EVENT_LOOP_SAMPLE_MS;
  }

  /** Stops sampling; idempotent. */
  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }
}
