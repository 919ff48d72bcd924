/**
 * The ids of a write's records in request order, null where a record was
 * not written, kept as the coordinator's bigints and turned into text only
 * when an answer needs it. Most callers never do (the Kafka source, OTLP,
 * Loki, file imports and `_bulk` but for documents sent with their own
 * `_id` only ask which records were written), and the HTTP answer of a bulk
 * write gets its JSON array as bytes: 58–60 µs for 1,000 ids against 98–109
 * for `String(id)` per record joined into one string (docs/benchmarks.md).
 */

/** The ids of a write's records in request order. */
export interface RequestIds {
  /** Records in the request, written or not. */
  readonly length: number;
  /** Whether request record `i` was written (has an id). */
  isWritten(i: number): boolean;
  /** The id of request record `i` as decimal text, null when it was not written. */
  at(i: number): string | null;
  /** Every id as text, null where not written. */
  toArray(): (string | null)[];
  /** The JSON array (`["…",null,…]`) as UTF-8 bytes. */
  jsonBytes(): Buffer;
}

/** Ids from an array of texts (an answer relayed from another node). */
export class ListedIds implements RequestIds {
  readonly #ids: readonly (string | null)[];

  constructor(ids: readonly (string | null)[]) {
    this.#ids = ids;
  }

  /** `length` records, none written. */
  static none(length: number): ListedIds {
    return new ListedIds(new Array<null>(length).fill(null));
  }

  get length(): number {
    return this.#ids.length;
  }

  isWritten(i: number): boolean {
    return (this.#ids[i] ?? null) !== null;
  }

  at(i: number): string | null {
    return this.#ids[i] ?? null;
  }

  toArray(): (string | null)[] {
    return [...this.#ids];
  }

  jsonBytes(): Buffer {
    return Buffer.from(JSON.stringify(this.#ids.map((id) => id ?? null)));
  }
}

/**
 * Ids as the coordinator stamped them, in batch order, and where each batch
 * record sits in the request (`positions`, absent when every record of the
 * request is in the batch, in order).
 */
export class StampedIds implements RequestIds {
  readonly #ids: readonly bigint[];
  readonly #positions: Uint32Array | undefined;
  readonly length: number;
  #batchIndex: Int32Array | undefined;

  constructor(ids: readonly bigint[], length: number, positions?: Uint32Array) {
    this.#ids = ids;
    this.length = length;
    this.#positions = positions;
  }

  isWritten(i: number): boolean {
    return this.#indexOf(i) >= 0;
  }

  at(i: number): string | null {
    const b = this.#indexOf(i);
    return b < 0 ? null : String(this.#ids[b]);
  }

  toArray(): (string | null)[] {
    const out = new Array<string | null>(this.length);
    for (let i = 0; i < this.length; i++) out[i] = this.at(i);
    return out;
  }

  jsonBytes(): Buffer {
    return idsJsonBytes(this.#ids, this.length, this.#positions === undefined ? undefined : this.#batchIndexes());
  }

  /** The batch index of request record `i`, -1 when it is not in the batch. */
  #indexOf(i: number): number {
    if (i < 0 || i >= this.length) return -1;
    if (this.#positions === undefined) return i < this.#ids.length ? i : -1;
    return this.#batchIndexes()[i] as number;
  }

  #batchIndexes(): Int32Array {
    if (this.#batchIndex !== undefined) return this.#batchIndex;
    const index = new Int32Array(this.length).fill(-1);
    const positions = this.#positions as Uint32Array;
    for (let b = 0; b < positions.length; b++) index[positions[b] as number] = b;
    this.#batchIndex = index;
    return index;
  }
}

const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;
const LO = LITTLE_ENDIAN ? 0 : 1;
const HI = 1 - LO;
/** An id's two 32-bit halves, read through one reused 64-bit slot (no allocation per id). */
const slot = new BigUint64Array(1);
const slotWords = new Uint32Array(slot.buffer);
/** `,"` + 20 digits (2^64 - 1) + `"`, the most one id takes; `,null` takes less. */
const ID_JSON_BYTES_MAX = 23;
const HIGH_BIT = 0x8000_0000;
const QUOTE = 0x22;
const COMMA = 0x2c;
const ZERO = 0x30;
const NULL_TEXT = Buffer.from('null');

/**
 * `["id",null,…]` for `length` request records, record i being
 * `ids[batchIndex[i]]` (or `ids[i]` without `batchIndex`), null where the
 * index is -1 or past the ids. Snowflake ids stamped together differ in
 * their low word only, so each id is written as the one before it plus the
 * difference, added digit by digit; any other id goes through `String`.
 */
export function idsJsonBytes(ids: readonly bigint[], length: number, batchIndex?: Int32Array): Buffer {
  const out = Buffer.allocUnsafe(2 + length * ID_JSON_BYTES_MAX);
  let p = 0;
  out[p++] = 0x5b;
  let prevHi = -1;
  let prevLo = 0;
  let prevStart = 0;
  let prevEnd = 0;
  for (let i = 0; i < length; i++) {
    if (i > 0) out[p++] = COMMA;
    const b = batchIndex === undefined ? i : (batchIndex[i] as number);
    const id = b >= 0 ? ids[b] : undefined;
    if (id === undefined) {
      p += NULL_TEXT.copy(out, p);
      continue;
    }
    slot[0] = id;
    const hi = slotWords[HI] as number;
    const lo = slotWords[LO] as number;
    out[p++] = QUOTE;
    const start = p;
    let end = -1;
    if (hi === prevHi && lo > prevLo) end = nextDigits(out, prevStart, prevEnd, start, lo - prevLo);
    if (end < 0) end = start + out.write(String(id), start, 'latin1');
    out[end] = QUOTE;
    p = end + 1;
    // Ids are int64 (the batch holds 8 bytes): a negative one wraps in the slot and is no base for the next.
    prevHi = hi < HIGH_BIT ? hi : -1;
    prevLo = lo;
    prevStart = start;
    prevEnd = end;
  }
  out[p++] = 0x5d;
  return out.subarray(0, p);
}

/**
 * Copies the digits at `from..fromEnd` to `to` and adds `delta` to them in
 * place; returns where they end, or -1 when the sum needs one more digit.
 */
function nextDigits(buf: Buffer, from: number, fromEnd: number, to: number, delta: number): number {
  const end = to + (fromEnd - from);
  for (let k = 0; k < fromEnd - from; k++) buf[to + k] = buf[from + k] as number;
  let carry = delta;
  for (let k = end - 1; carry > 0; k--) {
    if (k < to) return -1;
    const v = (buf[k] as number) - ZERO + carry;
    const digit = v % 10;
    buf[k] = ZERO + digit;
    carry = (v - digit) / 10;
  }
  return end;
}
