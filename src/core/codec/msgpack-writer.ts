/**
 * A msgpack writer into a growable buffer, for the generated record encoder
 * (core/schema/compile-encoder.ts) that writes a record's positional fields
 * straight into a record batch instead of packing them into a buffer of
 * their own and copying it.
 *
 * Invariant: for every value it accepts, the bytes are exactly those of
 * fields-codec.ts's msgpackr `Packr` (useRecords false, toJSON off, no
 * float32, no bundled strings, no structured clone), so a batch does not depend on
 * which path encoded it. Each rule below is msgpackr 2.1's (pack.js):
 *   nil c0 · false c2 · true c3
 *   number  uint32 → fixint (< 0x80) | cc | cd | ce;  int32 < 0 → fixneg
 *           (≥ -32) | d0 | d1 | d2;  anything else (fractions, ±2^32 and
 *           beyond, NaN) → cb float64. -0 is written as 0 (`-0 >>> 0 === -0`).
 *   bigint  in int64 → d3
 *   string  header by UTF-8 length: fixstr (< 32) | d9 | da | db; lone
 *           surrogates as U+FFFD (both msgpackr and Buffer#write do so)
 *   bytes   a Buffer → c4 | c5 | c6
 *   array   (constructor Array) fixarray (< 16) | dc | dd
 *   map     (constructor Object) always de (map16), own keys in for-in order
 * `json` declines (returns false) any value that does not take msgpackr's
 * plain-object or array branch (a Map, a Date, an object with a
 * `constructor` key of its own, undefined, more than 65,535 keys): the
 * caller then drops what it wrote and encodes the record with msgpackr. test/core/codec/msgpack-writer.test.ts compares
 * random values with msgpackr's bytes.
 */

import { isMainThread } from 'node:worker_threads';

/**
 * A worker thread's batches go back to the main thread by transfer (the
 * decode and conversion pools), so there a buffer must own its whole
 * ArrayBuffer: never a slice of Node's shared pool. On the main thread no
 * batch is transferred, and the pool makes a small one (a single record's,
 * inline) a slice instead of an allocation of its own.
 */
const allocBuffer: (bytes: number) => Buffer = isMainThread ? (bytes) => Buffer.allocUnsafe(bytes) : (bytes) => Buffer.allocUnsafeSlow(bytes);

const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;
/**
 * Strings shorter than this are copied by a JS loop when ASCII, longer ones
 * by Buffer#write. Measured on the bench strings (Node 24, this machine):
 * 11 units 23 ns by the loop against 37 ns native; ~50 units 72 against 31 ns.
 */
const ASCII_LOOP_MAX = 24;
/** Keys in one map16. */
const MAP16_KEYS_MAX = 0xffff;

/** Writes msgpack values at `pos`, growing the buffer by doubling. */
export class MsgpackWriter {
  /** The buffer written into; replaced (contents copied) when it grows. */
  buf: Buffer;
  /** Next byte to write. */
  pos: number;

  constructor(capacityBytes: number) {
    // At least one byte, or doubling would never grow it.
    this.buf = allocBuffer(Math.max(capacityBytes, 1));
    this.pos = 0;
  }

  /** Makes room for `extra` more bytes. */
  ensure(extra: number): void {
    const need = this.pos + extra;
    if (need <= this.buf.length) return;
    let size = this.buf.length * 2;
    while (size < need) size *= 2;
    const next = allocBuffer(size);
    this.buf.copy(next, 0, 0, this.pos);
    this.buf = next;
  }

  /** msgpack nil. */
  nil(): void {
    this.ensure(1);
    this.buf[this.pos++] = 0xc0;
  }

  /** msgpack true / false. */
  bool(v: boolean): void {
    this.ensure(1);
    this.buf[this.pos++] = v ? 0xc3 : 0xc2;
  }

  /** A number as msgpackr writes it (see the file comment). */
  num(v: number): void {
    this.ensure(9);
    const buf = this.buf;
    let p = this.pos;
    if (v >>> 0 === v) {
      if (v < 0x80) buf[p++] = v;
      else if (v < 0x100) {
        buf[p++] = 0xcc;
        buf[p++] = v;
      } else if (v < 0x10000) {
        buf[p++] = 0xcd;
        buf[p++] = v >> 8;
        buf[p++] = v & 0xff;
      } else {
        buf[p] = 0xce;
        buf.writeUInt32BE(v, p + 1);
        p += 5;
      }
    } else if (v >> 0 === v) {
      if (v >= -0x20) buf[p++] = 0x100 + v;
      else if (v >= -0x80) {
        buf[p++] = 0xd0;
        buf[p++] = v + 0x100;
      } else if (v >= -0x8000) {
        buf[p] = 0xd1;
        buf.writeInt16BE(v, p + 1);
        p += 3;
      } else {
        buf[p] = 0xd2;
        buf.writeInt32BE(v, p + 1);
        p += 5;
      }
    } else {
      buf[p] = 0xcb;
      buf.writeDoubleBE(v, p + 1);
      p += 9;
    }
    this.pos = p;
  }

  /** An int64 bigint (d3); false, with nothing written, outside int64. */
  bigint(v: bigint): boolean {
    if (v < INT64_MIN || v > INT64_MAX) return false;
    this.ensure(9);
    this.buf[this.pos] = 0xd3;
    this.buf.writeBigInt64BE(v, this.pos + 1);
    this.pos += 9;
    return true;
  }

  /** A string with its header (see the file comment). */
  str(s: string): void {
    const n = s.length;
    this.ensure(n * 3 + 5);
    const buf = this.buf;
    const at = this.pos;
    if (n < ASCII_LOOP_MAX) {
      // ASCII: bytes = UTF-16 units, so the header is known before the copy.
      const head = n < 0x20 ? 1 : 2;
      let p = at + head;
      let i = 0;
      for (; i < n; i++) {
        const c = s.charCodeAt(i);
        if (c >= 0x80) break;
        buf[p++] = c;
      }
      if (i === n) {
        if (head === 1) buf[at] = 0xa0 | n;
        else {
          buf[at] = 0xd9;
          buf[at + 1] = n;
        }
        this.pos = p;
        return;
      }
    }
    this.utf8Str(s, at);
  }

  /**
   * `src[start, end)`, which must be well-formed UTF-8, as a msgpack str:
   * the bytes `str` writes for the string they decode to, without the string.
   */
  strBytes(src: Uint8Array, start: number, end: number): void {
    const len = end - start;
    this.ensure(len + 5);
    writeStrHead(this.buf, this.pos, len);
    this.pos += strHeadBytes(len);
    this.rawBytes(src, start, end);
  }

  /** src[start, end) as they are, without a header. */
  rawBytes(src: Uint8Array, start: number, end: number): void {
    const len = end - start;
    this.ensure(len);
    const buf = this.buf;
    let p = this.pos;
    // Short runs: a loop beats a native copy, whose view and call cost ~70-100 ns here (the loop ~1.2 ns a byte);
    // at 64 rather than 36 bytes the bench records' ~40-byte memo went from 0.98-1.05 to 0.94 us per record.
    if (len < 64) for (let i = start; i < end; i++) buf[p++] = src[i] as number;
    else {
      buf.set(src.subarray(start, end), p);
      p += len;
    }
    this.pos = p;
  }

  /** UTF-8 bytes of `s` without a header; returns their count. */
  raw(s: string): number {
    const n = s.length;
    this.ensure(n * 3);
    const buf = this.buf;
    let p = this.pos;
    if (n < ASCII_LOOP_MAX) {
      let i = 0;
      for (; i < n; i++) {
        const c = s.charCodeAt(i);
        if (c >= 0x80) break;
        buf[p++] = c;
      }
      if (i === n) {
        this.pos = p;
        return n;
      }
    }
    const written = buf.write(s, this.pos, 'utf8');
    this.pos += written;
    return written;
  }

  /** Bytes as msgpack bin (c4, c5, c6). */
  bin(b: Uint8Array): void {
    const n = b.byteLength;
    this.ensure(n + 5);
    const buf = this.buf;
    let p = this.pos;
    if (n < 0x100) {
      buf[p++] = 0xc4;
      buf[p++] = n;
    } else if (n < 0x10000) {
      buf[p++] = 0xc5;
      buf[p++] = n >> 8;
      buf[p++] = n & 0xff;
    } else {
      buf[p] = 0xc6;
      buf.writeUInt32BE(n, p + 1);
      p += 5;
    }
    buf.set(b, p);
    this.pos = p + n;
  }

  /** An array header of `n` elements. */
  arrayHeader(n: number): void {
    this.ensure(5);
    const buf = this.buf;
    if (n < 0x10) buf[this.pos++] = 0x90 | n;
    else if (n < 0x10000) {
      buf[this.pos] = 0xdc;
      buf[this.pos + 1] = n >> 8;
      buf[this.pos + 2] = n & 0xff;
      this.pos += 3;
    } else {
      buf[this.pos] = 0xdd;
      buf.writeUInt32BE(n, this.pos + 1);
      this.pos += 5;
    }
  }

  /**
   * A JSON-like value (a `json` field, kept extra fields) as msgpackr packs
   * it; false when msgpackr would write it some other way (the caller drops
   * what was written). Recursion depth is that of the value, which the
   * schema has already bounded (jsonDepthMax).
   */
  json(v: unknown): boolean {
    switch (typeof v) {
      case 'string':
        this.str(v);
        return true;
      case 'number':
        this.num(v);
        return true;
      case 'boolean':
        this.bool(v);
        return true;
      case 'bigint':
        return this.bigint(v);
      case 'object': {
        if (v === null) {
          this.nil();
          return true;
        }
        const c = (v as { constructor?: unknown }).constructor;
        if (c === Array) return this.array(v as readonly unknown[]);
        if (c === Object) return this.map(v as Record<string, unknown>);
        return false;
      }
      default:
        return false;
    }
  }

  private array(a: readonly unknown[]): boolean {
    const n = a.length;
    this.arrayHeader(n);
    for (let i = 0; i < n; i++) if (!this.json(a[i])) return false;
    return true;
  }

  /** Starts a map16 whose size is not known yet; returns where `endMap16` writes it. */
  beginMap16(): number {
    this.ensure(3);
    this.buf[this.pos] = 0xde;
    this.pos += 3;
    return this.pos - 2;
  }

  /** Completes the map16 begun at `sizeAt`; false past 65,535 keys (msgpackr throws there). */
  endMap16(sizeAt: number, size: number): boolean {
    if (size > MAP16_KEYS_MAX) return false;
    this.buf[sizeAt] = size >> 8;
    this.buf[sizeAt + 1] = size & 0xff;
    return true;
  }

  private map(o: Record<string, unknown>): boolean {
    const sizeAt = this.beginMap16();
    let size = 0;
    // msgpackr's own test, kept as is: an own `hasOwnProperty` that is not a function lets every key through.
    const own = o.hasOwnProperty as unknown;
    for (const k in o) {
      if (typeof own === 'function' && !(own as (k: string) => boolean).call(o, k)) continue;
      this.str(k);
      if (!this.json(o[k])) return false;
      size++;
    }
    return this.endMap16(sizeAt, size);
  }

  /** Non-ASCII (or long) string: native UTF-8 write, header fixed up to the byte length. */
  private utf8Str(s: string, at: number): void {
    // The header is guessed from the UTF-16 length (bytes ≥ units) and widened if the bytes need more.
    const guess = strHeadBytes(s.length);
    const len = this.buf.write(s, at + guess, 'utf8');
    const head = strHeadBytes(len);
    const buf = this.buf;
    if (head !== guess) buf.copyWithin(at + head, at + guess, at + guess + len);
    writeStrHead(buf, at, len);
    this.pos = at + head + len;
  }
}

/** Bytes of the msgpack str header of a `len`-byte string: fixstr, str8, str16 or str32. */
function strHeadBytes(len: number): number {
  return len < 0x20 ? 1 : len < 0x100 ? 2 : len < 0x10000 ? 3 : 5;
}

/** Writes at `at` the str header of a `len`-byte string (`strHeadBytes(len)` bytes). */
function writeStrHead(buf: Buffer, at: number, len: number): void {
  if (len < 0x20) buf[at] = 0xa0 | len;
  else if (len < 0x100) {
    buf[at] = 0xd9;
    buf[at + 1] = len;
  } else if (len < 0x10000) {
    buf[at] = 0xda;
    buf[at + 1] = len >> 8;
    buf[at + 2] = len & 0xff;
  } else {
    buf[at] = 0xdb;
    buf.writeUInt32BE(len, at + 1);
  }
}
