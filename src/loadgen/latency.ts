/**
 * Latency accounting of the open model, in Node's HdrHistogram (µs):
 * response = done − due (the headline: what a user waiting on the schedule
 * saw), service = done − written (wrk2's uncorrected view), queue = written −
 * due. A retried request keeps its first due time and is recorded once, when
 * it ends (scylla-bench#46: correcting twice double-counts a stall).
 */
import { createHistogram, type RecordableHistogram } from 'node:perf_hooks';

/** Longest latency a histogram holds, µs (an hour). */
const LATENCY_US_MAX = 3.6e9;

/** A histogram of µs values (HdrHistogram, 3 significant figures). */
export function latencyHistogram(): RecordableHistogram {
  return createHistogram({ lowest: 1, highest: LATENCY_US_MAX, figures: 3 });
}

/** Records `us` (clamped into the histogram's range). */
export function recordUs(h: RecordableHistogram, us: number): void {
  h.record(Math.min(LATENCY_US_MAX, Math.max(1, Math.round(us))));
}

/** The percentiles a report shows, in ms. */
export interface LatencySummary {
  readonly count: number;
  readonly p50Ms: number;
  readonly p90Ms: number;
  readonly p99Ms: number;
  readonly p999Ms: number;
  readonly maxMs: number;
  readonly meanMs: number;
}

/** The summary of no samples. */
const NO_SAMPLES: LatencySummary = { count: 0, p50Ms: 0, p90Ms: 0, p99Ms: 0, p999Ms: 0, maxMs: 0, meanMs: 0 };

/** Summarizes a µs histogram in ms (zeros when empty or absent). */
export function summarize(h: RecordableHistogram | undefined): LatencySummary {
  if (h === undefined || h.count === 0) return NO_SAMPLES;
  const ms = (us: number): number => Math.round(us) / 1000;
  return {
    count: h.count,
    p50Ms: ms(h.percentile(50)),
    p90Ms: ms(h.percentile(90)),
    p99Ms: ms(h.percentile(99)),
    p999Ms: ms(h.percentile(99.9)),
    maxMs: ms(h.max),
    meanMs: ms(h.mean),
  };
}

/** The three views of one run's requests. */
export class LatencyRecorder {
  readonly response = latencyHistogram();
  readonly service = latencyHistogram();
  readonly queue = latencyHistogram();
  /** Response times since the progress line last reset it. */
  readonly interval = latencyHistogram();

  /** One finished request: due, last written and done times, µs on one clock. */
  record(dueUs: number, writtenUs: number, doneUs: number): void {
    recordUs(this.response, doneUs - dueUs);
    recordUs(this.interval, doneUs - dueUs);
    recordUs(this.service, doneUs - writtenUs);
    recordUs(this.queue, writtenUs - dueUs);
  }
}
