/**
 * A protobuf wire-format reader over one buffer, for the OTLP logs
 * messages (decode-otlp-protobuf.ts reads them field by field into log
 * entries, without protobufjs's object tree: a third of the OTLP route's
 * CPU went to building it and collecting it again).
 *
 *   message := field*
 *   field   := key value          key = varint: fieldNumber << 3 | wireType
 *   value   := varint             wireType 0
 *            | 8 bytes LE         wireType 1 (fixed64, double)
 *            | varint n, n bytes  wireType 2 (string, bytes, message)
 *            | 4 bytes LE         wireType 5 (fixed32)
 *
 * Groups (wire types 3 and 4) and any other wire type are malformed: OTLP
 * has none. A value that runs past its message's end is malformed too.
 * Malformed input throws MalformedProto; the caller turns it into its code.
 */

/** The body is not well-formed protobuf. */
export class MalformedProto extends Error {}

/** Wire types. */
export const VARINT = 0;
export const FIXED64 = 1;
export const DELIMITED = 2;
export const FIXED32 = 5;

const TWO_32 = 4294967296;

/** A cursor over a buffer. */
export class ProtoReader {
  readonly buf: Buffer;
  pos = 0;
  /** High 32 bits of the last `varint64` or `fixed64`. */
  hi = 0;

  constructor(buf: Buffer) {
    this.buf = buf;
  }

  /** A varint's low 32 bits, unsigned (longer varints are read whole, their high bits dropped). */
  uint32(end: number): number {
    return this.varint64(end);
  }

  /** A varint as 64 bits: returns the low 32 (unsigned), leaves the high 32 in `hi`. */
  varint64(end: number): number {
    const buf = this.buf;
    let pos = this.pos;
    let b = buf[pos++] as number;
    let lo = b & 0x7f;
    let hi = 0;
    // The common case first: up to 4 bytes hold 28 bits.
    for (let shift = 7; b >= 0x80 && shift < 28; shift += 7) {
      b = buf[pos++] as number;
      lo |= (b & 0x7f) << shift;
    }
    if (b >= 0x80) {
      b = buf[pos++] as number;
      lo |= (b & 0x0f) << 28;
      hi = (b & 0x7f) >> 4;
      for (let shift = 3; b >= 0x80; shift += 7) {
        if (shift > 31) throw new MalformedProto(`a varint longer than 10 bytes at ${this.pos}`);
        b = buf[pos++] as number;
        hi |= (b & 0x7f) << shift;
      }
    }
    // Past the buffer, bytes read as undefined: the position tells.
    if (pos > end) throw new MalformedProto(`a varint at ${this.pos} runs past its message (${end})`);
    this.pos = pos;
    this.hi = hi >>> 0;
    return lo >>> 0;
  }

  /** A fixed64: returns the low 32 bits, leaves the high 32 in `hi`. */
  fixed64(end: number): number {
    const at = this.take(8, end);
    this.hi = this.buf.readUInt32LE(at + 4);
    return this.buf.readUInt32LE(at);
  }

  /** A fixed32, unsigned. */
  fixed32(end: number): number {
    return this.buf.readUInt32LE(this.take(4, end));
  }

  /** A double. */
  double(end: number): number {
    return this.buf.readDoubleLE(this.take(8, end));
  }

  /** Reads a length prefix; returns where the value ends (the value starts at `pos`). */
  delimitedEnd(end: number): number {
    const n = this.uint32(end);
    const valueEnd = this.pos + n;
    if (valueEnd > end) throw new MalformedProto(`a ${n}-byte value at ${this.pos} runs past its message (${end})`);
    return valueEnd;
  }

  /**
   * Moves to the value of the next occurrence of the length-delimited field
   * `field` before `end`, skipping other fields, and returns where that
   * value ends; -1 when there is none. `noun` names the field in the error
   * for another wire type ("field", "KeyValue field").
   */
  nextDelimited(field: number, end: number, noun: string): number {
    while (this.pos < end) {
      const key = this.uint32(end);
      if (key >>> 3 !== field) {
        this.skip(key & 7, end);
        continue;
      }
      if ((key & 7) !== DELIMITED) throw new MalformedProto(`${noun} ${field} with wire type ${key & 7}`);
      return this.delimitedEnd(end);
    }
    return -1;
  }

  /** A length-delimited value as UTF-8 text (ill-formed sequences become U+FFFD, as protobufjs reads them). */
  string(end: number): string {
    const valueEnd = this.delimitedEnd(end);
    const start = this.pos;
    this.pos = valueEnd;
    return this.buf.toString('utf8', start, valueEnd);
  }

  /** Skips one value of wire type `wireType`. */
  skip(wireType: number, end: number): void {
    if (wireType === VARINT) this.varint64(end);
    else if (wireType === FIXED64) this.take(8, end);
    else if (wireType === DELIMITED) this.pos = this.delimitedEnd(end);
    else if (wireType === FIXED32) this.take(4, end);
    else throw new MalformedProto(`wire type ${wireType} at ${this.pos}`);
  }

  /** Moves past `n` bytes; returns where they start. */
  private take(n: number, end: number): number {
    const at = this.pos;
    if (at + n > end) throw new MalformedProto(`a ${n}-byte value at ${at} runs past its message (${end})`);
    this.pos = at + n;
    return at;
  }
}

/** An unsigned 64-bit integer (two 32-bit halves) as exact decimal text, without BigInt. */
export function uint64Decimal(lo: number, hi: number): string {
  if (hi <= 0x1fffff) return String(hi * TWO_32 + lo);
  // hi·2^32 + lo = (hi·4294 + q div 10^6)·10^6 + q mod 10^6, with q = hi·967296 + lo < 2^53.
  const q = hi * 967296 + lo;
  const millions = hi * 4294 + Math.floor(q / 1e6);
  return `${millions}${String(q % 1e6).padStart(6, '0')}`;
}

/** A signed 64-bit integer (two's complement halves) as JSON: a number when exact, else its decimal text. */
export function int64HalvesJson(lo: number, hi: number): number | string {
  const n = (hi | 0) * TWO_32 + lo;
  if (Number.isSafeInteger(n)) return n;
  return BigInt.asIntN(64, (BigInt(hi) << 32n) | BigInt(lo)).toString();
}
