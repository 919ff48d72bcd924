/**
 * Which dedupe keys cannot be stored yet, so that their records can be
 * written without a lookup (decision 13).
 *
 * Looking every dedupe key up (at write time and again when the index
 * applies the batch) costs more than the rest of the write. But sources
 * number their keys: `<prefix><number zero-padded to d digits>` (Kafka: a
 * prefix per partition and the offset; files: a prefix per file and the
 * row). Per (table, prefix, digits) the node knows the highest number
 * stored before it started tracking the prefix (one reverse index seek per
 * shard, after the read barrier, so every acknowledged write counts) and
 * the ranges of numbers it has admitted since. A request whose numbers are
 * all above the stored fence and outside every admitted range cannot
 * collide with anything stored or in flight, and is written with fresh
 * keys; any other goes through the resolver. Ranges rather than one
 * high-water mark, because the requests of one importer are decoded
 * concurrently and reach this point out of order.
 *
 * Claims are decided one after another (synchronously once the seek is
 * done), so two requests sharing a key can never both be fresh. A request
 * that overlaps a fresh one still in flight is resolved, and its claim is
 * handed out only once that fresh one settled: the index applies batches
 * in WAL order, and a fresh batch is applied without a lookup, so it must
 * be appended before anything that shares its keys (the later, looked-up
 * batch then replaces its entries). Otherwise a fresh batch held up in
 * decoding (an importer killed on a loaded node, its rerun re-sending the
 * rows) would land after the rerun's batch and store its keys twice.
 * Merging ranges only ever makes fewer requests fresh, so the range list
 * is bounded by merging the closest.
 */
import type { DedupeKeys } from './dedupe-keys.ts';
import { dedupeSpans, type DedupeSpan } from './dedupe-spans.ts';

/** Finds the greatest stored key in [low, high] of a table (same-length keys); absent where it cannot be told exactly. */
export type HighestKeyLookup = (table: string, low: string, high: string) => Promise<string | undefined>;

/** A decided request: write fresh keys or not; release once the write settled. */
export interface FenceClaim {
  readonly fresh: boolean;
  release(): void;
}

/** Admitted ranges kept per prefix; past it the two closest merge (conservative). */
const RANGES_MAX = 64;

interface Entry {
  readonly id: string;
  /** Highest number stored before tracking began; +Infinity until learnt, and after a failed seek. */
  fence: number;
  /** Ranges [lo, hi] admitted since, sorted, disjoint and not adjacent. */
  readonly ranges: [number, number][];
  /** Requests claimed and not yet settled: the entry must not be forgotten meanwhile. */
  inFlight: number;
  /** Fresh claims not yet settled: an overlapping claim waits for them. */
  readonly freshInFlight: FreshRange[];
  /** The seek, until it settled. */
  learnt: Promise<void>;
  /** The seek failed: forget the entry once idle, so the next claim seeks again. */
  failed: boolean;
}

/** A fresh claim's range of one prefix, until the claim settles. */
interface FreshRange {
  readonly min: number;
  readonly max: number;
  readonly settled: Promise<void>;
}

const NOT_FRESH: FenceClaim = { fresh: false, release: () => undefined };

/** Fences of the numbered dedupe keys of one node. */
export class DedupeFence {
  private readonly entries = new Map<string, Entry>();
  private readonly lookup: HighestKeyLookup | undefined;
  private readonly entriesMax: number;

  /** `lookup` undefined: the store cannot tell (a cluster); nothing is ever fresh. */
  constructor(lookup: HighestKeyLookup | undefined, entriesMax = 65_536) {
    this.lookup = lookup;
    this.entriesMax = entriesMax;
  }

  /** Prefixes remembered (tests, metrics). */
  get size(): number {
    return this.entries.size;
  }

  /**
   * Decides whether every key of a request of `total` records is new, and
   * raises the fences to the request's numbers. Only zero-padded keys
   * (`digits`) can be fenced; others are never fresh.
   */
  async claim(table: string, dedupe: DedupeKeys, total: number): Promise<FenceClaim> {
    if (this.lookup === undefined || total === 0) return NOT_FRESH;
    const request = dedupeSpans(dedupe, total);
    if (request === undefined) return NOT_FRESH;
    // Entries by each key's canonical split (dedupe-spans.ts): a key is fenced wherever it was written from.
    const spans = [...request.spans.values()];
    const held: Entry[] = [];
    for (const span of spans) {
      const entry = this.entryFor(table, span.prefix, span.digits);
      entry.inFlight++;
      held.push(entry);
    }
    let released = false;
    const release = (): void => {
      if (released) return;
      released = true;
      for (const e of held) {
        e.inFlight--;
        if (e.failed && e.inFlight === 0 && this.entries.get(e.id) === e) this.entries.delete(e.id);
      }
      this.evict();
    };
    try {
      await Promise.all(held.map((e) => e.learnt));
    } catch (err) {
      release();
      throw err;
    }
    // From here to the decision's end nothing awaits: claims are decided one at a time.
    let fresh = request.freshable;
    spans.forEach((r, i) => {
      const e = held[i] as Entry;
      if (r.min <= e.fence || overlaps(e.ranges, r.min, r.max)) fresh = false;
    });
    // Recorded whether fresh or not: a later fresh request must not reuse what this one stores.
    spans.forEach((r, i) => addRange((held[i] as Entry).ranges, r.min, r.max));
    if (fresh) return { fresh, release: this.trackFresh(spans, held, release) };
    const earlier = freshOverlapping(spans, held);
    if (earlier.length > 0) await Promise.all(earlier);
    return { fresh, release };
  }

  /** Records a fresh claim's ranges until it settles; returns its release, which also wakes the claims waiting on it. */
  private trackFresh(spans: readonly DedupeSpan[], held: readonly Entry[], release: () => void): () => void {
    let settle!: () => void;
    const settled = new Promise<void>((resolve) => (settle = resolve));
    const mine: FreshRange[] = [];
    let i = 0;
    for (const r of spans) {
      const f: FreshRange = { min: r.min, max: r.max, settled };
      (held[i++] as Entry).freshInFlight.push(f);
      mine.push(f);
    }
    return () => {
      for (let k = 0; k < held.length; k++) {
        const list = (held[k] as Entry).freshInFlight;
        const at = list.indexOf(mine[k] as FreshRange);
        if (at >= 0) list.splice(at, 1);
      }
      settle();
      release();
    };
  }

  private entryFor(table: string, prefix: string, digits: number): Entry {
    const id = `${table}\u0000${digits}\u0000${prefix}`;
    let entry = this.entries.get(id);
    if (entry !== undefined) {
      // Most recently used last: eviction takes the oldest.
      this.entries.delete(id);
      this.entries.set(id, entry);
      return entry;
    }
    const created: Entry = { id, fence: Number.POSITIVE_INFINITY, ranges: [], inFlight: 0, freshInFlight: [], learnt: Promise.resolve(), failed: false };
    created.learnt = this.learn(table, prefix, digits, created);
    this.entries.set(id, created);
    return created;
  }

  private async learn(table: string, prefix: string, digits: number, entry: Entry): Promise<void> {
    const lookup = this.lookup;
    if (lookup === undefined) return;
    try {
      const stored = await lookup(table, prefix + '0'.repeat(digits), prefix + '9'.repeat(digits));
      const number = stored?.slice(prefix.length);
      const n = number === undefined ? -1 : /^[0-9]+$/.test(number) ? Number(number) : Number.NaN;
      // A fence below what was claimed meanwhile would be wrong; claims wait for this seek, so none was.
      // Another key of this length (`p:1:05` among `p:` + 4 digits), or a number past 2^53: nothing is fenced.
      entry.fence = Number.isSafeInteger(n) ? n : Number.POSITIVE_INFINITY;
    } catch {
      // Unknown: resolve this prefix's keys until the entry is forgotten (when idle) and learnt again.
      entry.fence = Number.POSITIVE_INFINITY;
      entry.failed = true;
    }
  }

  /** Forgets the least recently used prefixes past the bound, never one with a request in flight. */
  private evict(): void {
    if (this.entries.size <= this.entriesMax) return;
    for (const [id, e] of this.entries) {
      if (this.entries.size <= this.entriesMax) break;
      if (e.inFlight === 0) this.entries.delete(id);
    }
  }
}

/** The settling of every fresh claim in flight that shares a prefix and a number with the request. */
function freshOverlapping(spans: readonly DedupeSpan[], held: readonly Entry[]): Promise<void>[] {
  const out: Promise<void>[] = [];
  let i = 0;
  for (const r of spans) {
    for (const f of (held[i++] as Entry).freshInFlight) if (f.min <= r.max && f.max >= r.min) out.push(f.settled);
  }
  return out;
}

/** True if [lo, hi] meets any of the sorted ranges. */
function overlaps(ranges: readonly [number, number][], lo: number, hi: number): boolean {
  for (const [a, b] of ranges) {
    if (a > hi) return false;
    if (b >= lo) return true;
  }
  return false;
}

/** Adds [lo, hi] to the sorted ranges, merging what touches it, and merges the closest pair past RANGES_MAX. */
function addRange(ranges: [number, number][], lo: number, hi: number): void {
  let at = 0;
  while (at < ranges.length && (ranges[at] as [number, number])[1] + 1 < lo) at++;
  let end = at;
  let a = lo;
  let b = hi;
  while (end < ranges.length && (ranges[end] as [number, number])[0] <= hi + 1) {
    const r = ranges[end] as [number, number];
    if (r[0] < a) a = r[0];
    if (r[1] > b) b = r[1];
    end++;
  }
  ranges.splice(at, end - at, [a, b]);
  if (ranges.length <= RANGES_MAX) return;
  let closest = 0;
  for (let k = 1; k < ranges.length - 1; k++) {
    const gap = (ranges[k + 1] as [number, number])[0] - (ranges[k] as [number, number])[1];
    if (gap < (ranges[closest + 1] as [number, number])[0] - (ranges[closest] as [number, number])[1]) closest = k;
  }
  const left = ranges[closest] as [number, number];
  const right = ranges[closest + 1] as [number, number];
  ranges.splice(closest, 2, [left[0], right[1]]);
}
