/**
 * Made-up `_id`s, time-ordered as Elasticsearch's own (its
 * TimeBasedUUIDGenerator): 48 bits of milliseconds, a 24-bit sequence and a
 * 48-bit tag drawn once per generator, 120 bits in 20 characters.
 *
 * Why time-ordered: `doc_id` is an Elasticsearch table's primary key and
 * shard key, so each document writes two index entries keyed by it. Random
 * ids scatter those inserts over the whole key space, and LevelDB then
 * rewrites most of its files at every compaction: the index threads spent
 * 11.1 CPU-s per million `_bulk` documents against 1.9 for the native
 * route's append-like keys (docs/benchmarks.md). Ids that grow with time
 * land at the end of each shard's range, as the native keys do.
 *
 * The characters are base64 in an alphabet sorted as ASCII (`-`, digits,
 * upper case, `_`, lower case; Firebase's push ids use it), so the ids of
 * one generator sort as text in the order they were made, and are
 * URL-safe with nothing to escape in JSON.
 *
 * Unique by construction within a generator: (milliseconds, sequence)
 * strictly increases, even when the clock steps back (the last time is
 * kept) or the sequence wraps (the time moves on by one). Two generators
 * (two nodes, or one node restarted) differ in their tag unless 48 random
 * bits meet, and must also meet on the millisecond and the sequence.
 */
import { randomBytes } from 'node:crypto';

/** Characters of a made-up id: 20, as Elasticsearch's. */
export const DOC_ID_CHARS = 20;

const ALPHABET = '-0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ_abcdefghijklmnopqrstuvwxyz';
const SEQUENCE_MASK = (1 << 24) - 1;
const TAG_BYTES = 6;

/** `bits` bits of `value` (a non-negative safe integer) as bits/6 characters, most significant first. */
function sortable(value: number, bits: number): string {
  let out = '';
  for (let shift = bits - 6; shift >= 0; shift -= 6) out += ALPHABET[Math.floor(value / 2 ** shift) % 64];
  return out;
}

/** Makes time-ordered document ids for one node process. */
export class DocIdGenerator {
  private readonly tag: string;
  private readonly now: () => number;
  private lastMs = 0;
  private sequence: number;
  /** The characters of `lastMs`, made once per millisecond. */
  private msChars = '';

  /** `now` and `random` are for tests; a node uses the clock and the CSPRNG. */
  constructor(now: () => number = Date.now, random: (bytes: number) => Buffer = randomBytes) {
    this.now = now;
    const seed = random(TAG_BYTES + 3);
    this.tag = sortable(seed.readUIntBE(0, TAG_BYTES), TAG_BYTES * 8);
    // A random start, as Elasticsearch's, so restarts within one millisecond differ in more than the tag.
    this.sequence = seed.readUIntBE(TAG_BYTES, 3);
  }

  /** The next `n` ids back to back in one string (DOC_ID_CHARS each), as `next()` would make them one by one. */
  nextMany(n: number): string {
    const parts = new Array<string>(n);
    for (let i = 0; i < n; i++) parts[i] = this.next();
    return parts.join('');
  }

  /** The next id: later than every id this generator made before. */
  next(): string {
    this.sequence = (this.sequence + 1) & SEQUENCE_MASK;
    let ms = Math.max(this.lastMs, this.now());
    if (this.sequence === 0) ms = Math.max(ms, this.lastMs + 1);
    if (ms !== this.lastMs || this.msChars === '') {
      this.lastMs = ms;
      this.msChars = sortable(ms, 48);
    }
    const q = this.sequence;
    // The sequence's four characters by bit operations (sortable's float division was a third of next()).
    return this.msChars + ALPHABET[q >>> 18]! + ALPHABET[(q >>> 12) & 63]! + ALPHABET[(q >>> 6) & 63]! + ALPHABET[q & 63]! + this.tag;
  }
}
