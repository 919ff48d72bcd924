/**
 * Rates from counters: the page keeps a few in-memory samples of the
 * node's cumulative counters (records written and refused per table, WAL
 * fsync histogram buckets) and reports deltas between the current reading
 * and a sample about `windowMs` old. Samples are taken lazily, when the
 * page is read, at most one per `sampleMsMin`: no timer runs for a page
 * nobody looks at. Memory is bounded by windowMs / sampleMsMin samples.
 */

/** Cumulative counters at one instant. */
export interface CounterSample {
  readonly atMs: number;
  /** Records durably written, per table. */
  readonly written: ReadonlyMap<string, number>;
  /** Records refused by validation, per table. */
  readonly rejected: ReadonlyMap<string, number>;
  /** WAL fsync histogram: cumulative count per upper bound (seconds), ascending; `+Inf` last. */
  readonly fsyncBuckets: readonly { readonly le: number; readonly count: number }[];
}

/** Per-table rates between two samples. */
export interface TableRate {
  readonly table: string;
  readonly writtenPerSec: number;
  readonly rejectedPerSec: number;
  /** Totals since the node started. */
  readonly written: number;
  readonly rejected: number;
}

/** Hard cap on samples kept, whatever the window and spacing. */
const SAMPLES_MAX = 64;

/** The samples the page's rates are computed from. */
export class SampleWindow {
  private readonly windowMs: number;
  private readonly sampleMsMin: number;
  private readonly samples: CounterSample[] = [];

  constructor(windowMs: number, sampleMsMin: number) {
    if (!(sampleMsMin > 0 && windowMs >= sampleMsMin)) throw new Error('the window must span at least one sample spacing');
    this.windowMs = windowMs;
    this.sampleMsMin = sampleMsMin;
  }

  /**
   * Records `current` (unless the last sample is younger than the spacing)
   * and returns the sample to compute rates against: the newest one at
   * least `windowMs` old, else the oldest at least `sampleMsMin` old, else
   * undefined (the page was never read before: no rate yet).
   */
  observe(current: CounterSample): CounterSample | undefined {
    const now = current.atMs;
    const old = this.samples.filter((s) => now - s.atMs >= this.sampleMsMin);
    const reference = old.findLast((s) => now - s.atMs >= this.windowMs) ?? old[0];
    const last = this.samples.at(-1);
    if (last === undefined || now - last.atMs >= this.sampleMsMin) this.samples.push(current);
    // Keep one sample older than the window (the next reference) and everything newer.
    while (this.samples.length > 1 && now - (this.samples[1] as CounterSample).atMs >= this.windowMs) this.samples.shift();
    while (this.samples.length > SAMPLES_MAX) this.samples.shift();
    return reference;
  }

  /** Samples held (for tests of the bound). */
  get size(): number {
    return this.samples.length;
  }
}

/** Per-table rates from `reference` to `current` (0/s without a reference), sorted by table name. */
export function tableRates(current: CounterSample, reference: CounterSample | undefined): TableRate[] {
  const seconds = reference === undefined ? 0 : (current.atMs - reference.atMs) / 1000;
  const rate = (now: number, then: number | undefined): number => (seconds > 0 ? Math.max(0, now - (then ?? 0)) / seconds : 0);
  const tables = [...new Set([...current.written.keys(), ...current.rejected.keys()])].sort();
  return tables.map((table) => {
    const written = current.written.get(table) ?? 0;
    const rejected = current.rejected.get(table) ?? 0;
    return {
      table,
      writtenPerSec: rate(written, reference?.written.get(table)),
      rejectedPerSec: rate(rejected, reference?.rejected.get(table)),
      written,
      rejected,
    };
  });
}

/**
 * The 99th percentile of fsync latency, as the upper bound (ms) of the
 * histogram bucket it falls in: over the window when fsyncs happened in
 * it, else since start; undefined when there was never an fsync.
 * `+Inf` comes back as Infinity (slower than the largest bucket).
 */
export function fsyncP99Ms(current: CounterSample, reference: CounterSample | undefined): { readonly ms: number; readonly scope: 'window' | 'since-start' } | undefined {
  const delta = current.fsyncBuckets.map((b, i) => ({ le: b.le, count: b.count - (reference?.fsyncBuckets[i]?.count ?? 0) }));
  const windowTotal = reference === undefined ? 0 : (delta.at(-1)?.count ?? 0);
  const buckets = windowTotal > 0 ? delta : current.fsyncBuckets;
  const total = buckets.at(-1)?.count ?? 0;
  if (total <= 0) return undefined;
  const rank = Math.ceil(total * 0.99);
  const bucket = buckets.find((b) => b.count >= rank) ?? buckets.at(-1);
  return { ms: (bucket?.le ?? Infinity) * 1000, scope: windowTotal > 0 ? 'window' : 'since-start' };
}
