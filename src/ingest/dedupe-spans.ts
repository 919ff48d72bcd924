/**
 * The numbers a request's dedupe keys take, per fence entry
 * (dedupe-fence.ts), and whether the request may be written fresh.
 *
 * A key is `prefix + number`, the number zero-padded to `digits`
 * (dedupe-keys.ts). A number wider than `digits` is written in full, and
 * `digits` may be 0, so one key can come from different splits: `x1` + `40`
 * with 2 digits and `x` + `140` with 3, or `b:` + `10` unpadded and `b:` +
 * `10` with 2 digits. The fence must see such keys as one, so its entries
 * are keyed by each key's canonical split: the prefix without its trailing
 * digits, and the key's whole trailing run of digits (its length and its
 * value). Two keys are equal exactly when their canonical entry and value
 * are, whichever request wrote them.
 *
 * Only a request whose keys are all canonical already (a prefix that does
 * not end in a digit, digits ≥ 1, every number below 10^digits) and whose
 * numbers increase strictly per prefix may be fresh: the index splits a
 * fresh batch's keys at `digits` into key blocks (key-block.ts), and it
 * stores every record of a fresh batch, so a key repeated in one (a Kafka
 * partition fetched again into the batch being packed) would be stored
 * twice. Every request's spans are recorded all the same, so no later
 * fresh request reuses a key that a resolved one stored.
 */
import { digitCount, type DedupeKeys } from './dedupe-keys.ts';

/** The numbers one request takes in one fence entry. */
export interface DedupeSpan {
  /** The canonical prefix: no trailing digit. */
  readonly prefix: string;
  /** The canonical number's length. */
  readonly digits: number;
  min: number;
  max: number;
}

/** A request's spans, and whether it may be written fresh. */
export interface DedupeSpans {
  /** Per fence entry (`digits \0 prefix`). */
  readonly spans: ReadonlyMap<string, DedupeSpan>;
  /** The keys are canonical and strictly increasing per prefix: fresh if no span meets a stored or admitted number. */
  readonly freshable: boolean;
}

/** A prefix split into its canonical prefix and the value and length of its trailing digits. */
interface PrefixSplit {
  readonly base: string;
  readonly tailDigits: number;
  readonly tailValue: number;
}

/**
 * The spans of a request of `total` records; undefined when a number is not
 * a safe non-negative integer (the HTTP route and the Kafka source refuse
 * those before: such keys are never fresh and not recorded).
 */
export function dedupeSpans(dedupe: DedupeKeys, total: number): DedupeSpans | undefined {
  return 'prefixes' in dedupe ? numberedSpans(dedupe, total) : runSpans(dedupe.prefix, dedupe.first, dedupe.first + (total - 1), dedupe.digits ?? 0);
}

/** `prefix + first … last`: a run of numbers, split where their written width changes. */
function runSpans(prefix: string, first: number, last: number, digits: number): DedupeSpans | undefined {
  if (!isCount(first) || !isCount(last)) return undefined;
  const split = splitPrefix(prefix);
  const spans = new Map<string, DedupeSpan>();
  for (let a = first; a <= last; ) {
    const width = Math.max(digits, digitCount(a));
    const b = Math.min(last, 10 ** width - 1);
    const entry = entryOf(spans, split, width);
    widen(entry, a, b);
    a = b + 1;
  }
  return { spans: settled(spans), freshable: canonical(split, digits) && last < 10 ** digits };
}

/** `prefixes[prefixIndex[i]] + numbers[i]` (Kafka: a prefix per partition, offsets in arrival order). */
function numberedSpans(dedupe: Extract<DedupeKeys, { prefixes: readonly string[] }>, total: number): DedupeSpans | undefined {
  const { prefixes, prefixIndex, numbers, digits } = dedupe;
  const splits = prefixes.map(splitPrefix);
  const last = new Float64Array(prefixes.length).fill(-1);
  // Per prefix, its entry for numbers `digits` wide (all of them, in practice): no string or Map lookup per key.
  const common: (Entry | undefined)[] = new Array<Entry | undefined>(prefixes.length);
  const spans = new Map<string, DedupeSpan>();
  const below = 10 ** digits;
  let freshable = digits > 0 && splits.every((s) => canonical(s, digits));
  for (let i = 0; i < total; i++) {
    const p = prefixIndex[i] as number;
    const n = numbers[i] as number;
    const split = splits[p];
    if (split === undefined || !isCount(n)) return undefined;
    if (n <= (last[p] as number) || n >= below) freshable = false;
    last[p] = n;
    const entry = digits > 0 && n < below ? (common[p] ??= entryOf(spans, split, digits)) : entryOf(spans, split, Math.max(digits, digitCount(n)));
    widen(entry, n, n);
  }
  return { spans: settled(spans), freshable };
}

/** A span being built, and the value its numbers add to (the prefix's trailing digits, scaled past the number). */
interface Entry {
  readonly span: DedupeSpan;
  readonly scale: number;
}

/** The entry of `split`'s keys with numbers `width` wide, created empty when new. */
function entryOf(spans: Map<string, DedupeSpan>, split: PrefixSplit, width: number): Entry {
  const digits = split.tailDigits + width;
  const id = `${digits}\u0000${split.base}`;
  let span = spans.get(id);
  if (span === undefined) {
    span = { prefix: split.base, digits, min: Number.POSITIVE_INFINITY, max: Number.NEGATIVE_INFINITY };
    spans.set(id, span);
  }
  return { span, scale: split.tailValue === 0 ? 0 : split.tailValue * 10 ** width };
}

/** Widens an entry's span to the canonical values of numbers a … b (a value past 2^53 can equal no fresh key: those are below it). */
function widen(entry: Entry, a: number, b: number): void {
  const min = entry.scale + a;
  if (!Number.isSafeInteger(min)) return;
  const max = Math.min(entry.scale + b, Number.MAX_SAFE_INTEGER);
  const span = entry.span;
  if (min < span.min) span.min = min;
  if (max > span.max) span.max = max;
}

/** The spans that hold a value (an entry whose values were all past 2^53 holds none). */
function settled(spans: Map<string, DedupeSpan>): Map<string, DedupeSpan> {
  for (const [id, span] of spans) if (span.min > span.max) spans.delete(id);
  return spans;
}

/** The prefix without its trailing digits, and those digits' count and value. */
function splitPrefix(prefix: string): PrefixSplit {
  let at = prefix.length;
  while (at > 0 && isDigit(prefix.charCodeAt(at - 1))) at--;
  const tail = prefix.slice(at);
  return { base: prefix.slice(0, at), tailDigits: tail.length, tailValue: tail === '' ? 0 : Number(tail) };
}

/** Keys of this prefix with numbers `digits` wide are canonical. */
function canonical(split: PrefixSplit, digits: number): boolean {
  return split.tailDigits === 0 && digits > 0;
}

function isDigit(code: number): boolean {
  return code >= 0x30 && code <= 0x39;
}

function isCount(n: number): boolean {
  return Number.isSafeInteger(n) && n >= 0;
}
