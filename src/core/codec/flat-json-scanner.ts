/**
 * Reads one flat JSON object from UTF-8 bytes into a slot per known key,
 * without JSON.parse: no object, no strings, only where each value sits
 * and, for numbers, their value. It is the front of the scan encoder
 * (core/schema/scan-encoder.ts) and takes only the plain shape most
 * records have: an object whose keys are all known, unescaped and given
 * once, each value a string, a number, true, false or null.
 * Anything else, including anything that is not JSON, is declined (false)
 * and the caller parses that text with JSON.parse, which decides whether
 * and how it is wrong. Declining is always safe; accepting must agree with
 * JSON.parse exactly:
 * - a string slot is the bytes between the quotes: with no escape, the
 *   string JSON.parse makes is those bytes decoded, and the caller has
 *   checked that the body is well-formed UTF-8; with escapes
 *   (SLOT_ESCAPED) the caller parses the string alone;
 * - a number is JSON's grammar, its value `Number` of its text, as
 *   JSON.parse computes it (integers of up to 15 digits are summed exactly
 *   instead);
 * - whitespace is JSON's four characters; a repeated key is declined
 *   (JSON.parse keeps the last, the scanner would need to know which).
 */

/** What a key's slot holds after a scan. */
export const SLOT_MISSING = 0;
export const SLOT_NULL = 1;
export const SLOT_STRING = 2;
export const SLOT_NUMBER = 3;
export const SLOT_TRUE = 4;
export const SLOT_FALSE = 5;
/** A string with escapes: its text [start, end) still escaped. */
export const SLOT_ESCAPED = 6;

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const COMMA = 0x2c;
const COLON = 0x3a;
const OPEN = 0x7b;
const CLOSE = 0x7d;
const MINUS = 0x2d;
const DOT = 0x2e;
const ZERO = 0x30;
const NINE = 0x39;
const NEWLINE = 0x0a;
/** Not a byte: as `newline`, no byte is skipped as one. */
const NO_NEWLINE = -1;
/** Digits summed exactly in a double: below 2^53 whatever they are. */
const EXACT_DIGITS_MAX = 15;

/** A flat JSON object's values by key, for a fixed set of keys. */
export class FlatJsonScanner {
  /** Per key (in the order given): SLOT_* of the last scan. */
  readonly kinds: Uint8Array;
  /** A string's bytes [start, end) in the scanned source (quotes excluded). */
  readonly starts: Int32Array;
  readonly ends: Int32Array;
  /** 1 when a string's bytes are all ASCII. */
  readonly ascii: Uint8Array;
  /** A number's value. */
  readonly numbers: Float64Array;
  private readonly names: readonly Uint8Array[];
  /** Which key was found at each position of the last object: the next one's first guess. */
  private readonly guess: Int32Array;

  /** `names`: the keys' UTF-8 bytes. */
  constructor(names: readonly Uint8Array[]) {
    // `guessed` compares a name in place, which holds only for names JSON spells as their bytes.
    for (const n of names) if (!n.every((b) => PLAIN[b] === 1)) throw new Error(`a scanned key must be plain JSON string bytes: ${Buffer.from(n).toString()}`);
    this.names = names;
    const n = names.length;
    this.kinds = new Uint8Array(n);
    this.starts = new Int32Array(n);
    this.ends = new Int32Array(n);
    this.ascii = new Uint8Array(n);
    this.numbers = new Float64Array(n);
    this.guess = new Int32Array(n + 1).fill(-1);
  }

  /** Scans the JSON text src[start, end); false (slots unspecified) when it is not a plain flat object of known keys. */
  scan(src: Buffer, start: number, end: number): boolean {
    const after = this.scanObject(src, start, end);
    return after >= 0 && skipJsonSpace(src, after, end) === end;
  }

  /**
   * Scans the NDJSON line that starts at `start`: a plain flat object with
   * JSON whitespace around it, none of it a newline, up to a newline or
   * `end`. The newline's position (or `end`), or -1 (slots unspecified) to
   * decline. What `scan` says of the line's text, without first finding
   * where the line ends.
   */
  scanLine(src: Buffer, start: number, end: number): number {
    const after = this.scanObject(src, start, end, NO_NEWLINE);
    if (after < 0) return -1;
    const p = skipSpace(src, after, end, NO_NEWLINE);
    return p === end || src[p] === NEWLINE ? p : -1;
  }

  /**
   * Scans the plain flat object that src[start, end) opens with (after JSON
   * whitespace), whatever follows it (an array's next element); the
   * position after its `}`, or -1 (slots unspecified) to decline.
   * `newline`: NO_NEWLINE when a newline ends the text (NDJSON) rather than
   * being whitespace.
   */
  scanObject(src: Buffer, start: number, end: number, newline: number = NEWLINE): number {
    // A loop, not TypedArray#fill: a native call per record costs more than a handful of stores.
    const kinds = this.kinds;
    for (let i = 0; i < kinds.length; i++) kinds[i] = SLOT_MISSING;
    let p = skipSpace(src, start, end, newline);
    if (p >= end || src[p] !== OPEN) return -1;
    p = skipSpace(src, p + 1, end, newline);
    if (p < end && src[p] === CLOSE) return p + 1;
    for (let position = 0; ; position++) {
      if (p >= end || src[p] !== QUOTE) return -1;
      const keyStart = p + 1;
      // Most objects spell their keys in the order of the last one: the guess is compared in place, with no scan for the quote first.
      let field = this.guessed(src, keyStart, end, position);
      if (field >= 0) p = keyStart + (this.names[field] as Uint8Array).length;
      else {
        p = keyStart;
        while (PLAIN[src[p] as number] === 1) p++;
        if (p >= end || src[p] !== QUOTE) return -1;
        field = this.fieldOf(src, keyStart, p, position);
      }
      if (field < 0 || this.kinds[field] !== SLOT_MISSING) return -1;
      p = skipSpace(src, p + 1, end, newline);
      if (p >= end || src[p] !== COLON) return -1;
      p = this.value(src, skipSpace(src, p + 1, end, newline), end, field);
      if (p < 0) return -1;
      p = skipSpace(src, p, end, newline);
      if (p < end && src[p] === COMMA) {
        p = skipSpace(src, p + 1, end, newline);
        continue;
      }
      return p < end && src[p] === CLOSE ? p + 1 : -1;
    }
  }

  /** Reads the value at `p` into `field`'s slot; the position after it, or -1 to decline. */
  private value(src: Buffer, p: number, end: number, field: number): number {
    if (p >= end) return -1;
    const c = src[p] as number;
    if (c === QUOTE) return this.string(src, p + 1, end, field);
    if (c === MINUS || (c >= ZERO && c <= NINE)) return this.number(src, p, end, field);
    if (c === 0x74 /* t */ && matches(src, p, end, TRUE_BYTES)) return this.literal(field, SLOT_TRUE, p + 4);
    if (c === 0x66 /* f */ && matches(src, p, end, FALSE_BYTES)) return this.literal(field, SLOT_FALSE, p + 5);
    if (c === 0x6e /* n */ && matches(src, p, end, NULL_BYTES)) return this.literal(field, SLOT_NULL, p + 4);
    return -1;
  }

  private literal(field: number, kind: number, after: number): number {
    this.kinds[field] = kind;
    return after;
  }

  private string(src: Buffer, start: number, end: number, field: number): number {
    let p = start;
    let high = 0;
    let escaped = false;
    // One table load per byte; past the buffer `src[p]` is undefined, which also stops the loop.
    let b = src[p];
    while (PLAIN[b as number] === 1) {
      high |= b as number;
      b = src[++p];
    }
    if (b === BACKSLASH) {
      p = escapedEnd(src, p);
      b = src[p];
      escaped = true;
    }
    if (p >= end || b !== QUOTE) return -1;
    this.kinds[field] = escaped ? SLOT_ESCAPED : SLOT_STRING;
    this.starts[field] = start;
    this.ends[field] = p;
    this.ascii[field] = high < 0x80 ? 1 : 0;
    return p + 1;
  }

  /** JSON's number grammar: -?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)? */
  private number(src: Buffer, start: number, end: number, field: number): number {
    let p = start;
    if (src[p] === MINUS) p++;
    const intStart = p;
    let value = 0;
    while (p < end && isDigit(src[p])) value = value * 10 + ((src[p++] as number) - ZERO);
    const intDigits = p - intStart;
    if (intDigits === 0 || (intDigits > 1 && src[intStart] === ZERO)) return -1;
    let plain = intDigits <= EXACT_DIGITS_MAX;
    if (p < end && src[p] === DOT) {
      plain = false;
      p = digits(src, p + 1, end);
      if (p < 0) return -1;
    }
    if (p < end && (src[p] === 0x65 || src[p] === 0x45) /* e E */) {
      plain = false;
      if (p + 1 < end && (src[p + 1] === 0x2b || src[p + 1] === MINUS)) p++;
      p = digits(src, p + 1, end);
      if (p < 0) return -1;
    }
    this.kinds[field] = SLOT_NUMBER;
    // The text is ASCII; Number() parses JSON's number grammar to the same double JSON.parse does.
    this.numbers[field] = plain ? (src[start] === MINUS ? -value : value) : Number(latin1(src, start, p));
    return p;
  }

  /** The key found at this position last time, when src at `start` is its name and a closing quote; else -1. */
  private guessed(src: Buffer, start: number, end: number, position: number): number {
    const g = position < this.guess.length ? (this.guess[position] as number) : -1;
    if (g < 0) return -1;
    const name = this.names[g] as Uint8Array;
    const quote = start + name.length;
    // A name is plain (no quote, backslash or control byte), so name + quote is the whole key.
    return quote < end && src[quote] === QUOTE && sameBytes(name, src, start, quote) ? g : -1;
  }

  /** The key src[start, end), searched for (`guessed` missed) and remembered as this position's guess; -1 when unknown. */
  private fieldOf(src: Buffer, start: number, end: number, position: number): number {
    for (let i = 0; i < this.names.length; i++) {
      if (sameBytes(this.names[i] as Uint8Array, src, start, end)) {
        if (position < this.guess.length) this.guess[position] = i;
        return i;
      }
    }
    return -1;
  }
}

/** 1 for a byte that stands for itself inside a JSON string: not a quote, a backslash or a control character. */
const PLAIN = new Uint8Array(256).fill(1);
for (let b = 0; b < 0x20; b++) PLAIN[b] = 0;
PLAIN[QUOTE] = 0;
PLAIN[BACKSLASH] = 0;

const TRUE_BYTES = Buffer.from('true');
const FALSE_BYTES = Buffer.from('false');
const NULL_BYTES = Buffer.from('null');

/** Where a string goes on from its first backslash at `p`: the position of its closing quote, or of whatever stops it. */
function escapedEnd(src: Buffer, p: number): number {
  let b = src[p];
  for (;;) {
    // The escaped character is skipped whatever it is (JSON.parse of the string judges the escape).
    if (b === BACKSLASH) p += 2;
    else if (PLAIN[b as number] === 1) p++;
    else return p;
    b = src[p];
  }
}

function isDigit(b: number | undefined): boolean {
  return b !== undefined && b >= ZERO && b <= NINE;
}

/** One or more digits from `p`: the position after them, or -1. */
function digits(src: Buffer, p: number, end: number): number {
  const from = p;
  while (p < end && isDigit(src[p])) p++;
  return p === from ? -1 : p;
}

/** The first position at or after `p` (before `end`) that is not JSON whitespace (space, tab, CR, LF). */
export function skipJsonSpace(src: Buffer, p: number, end: number): number {
  return skipSpace(src, p, end, NEWLINE);
}

/** skipJsonSpace, with `newline` as the newline byte it skips: NO_NEWLINE stops at a newline. */
function skipSpace(src: Buffer, p: number, end: number, newline: number): number {
  while (p < end) {
    const b = src[p];
    if (b !== 0x20 && b !== newline && b !== 0x0d && b !== 0x09) break;
    p++;
  }
  return p;
}

function matches(src: Buffer, p: number, end: number, word: Uint8Array): boolean {
  return p + word.length <= end && sameBytes(word, src, p, p + word.length);
}

function sameBytes(name: Uint8Array, src: Buffer, start: number, end: number): boolean {
  if (name.length !== end - start) return false;
  for (let i = 0; i < name.length; i++) if (name[i] !== src[start + i]) return false;
  return true;
}

/** src[start, end) as a one-byte string (the bytes are ASCII). */
export function latin1(src: Buffer, start: number, end: number): string {
  return src.toString('latin1', start, end);
}
