/**
 * The `_bulk` answer written straight into bytes: the same bytes as the
 * UTF-8 of `bulkAnswerJson`. An answer to 1,000 documents is ~150 KB of
 * text; made as a string of 1,000 parts, then flattened, measured for its
 * length and encoded by the HTTP layer, it took ≈0.5 ms of the main thread
 * per request (≈6% of it under `_bulk` load, docs/benchmarks.md). Items
 * with a made-up `_id` (every item of a shipper that sends none) differ
 * only in their id: their bytes are a head and a tail made once per
 * (action, index, outcome), with the id's 20 ASCII characters between.
 * Any other item is encoded from its JSON text.
 */
import { CREATED, hasErrors, itemJson, outcomeAt, type ItemOutcome } from './bulk-answer.ts';
import type { BulkItem } from './bulk-plan.ts';

/** The bytes around a made-up id, shared by the items of one action, index and outcome. */
interface Template {
  readonly action: string;
  readonly index: string;
  readonly outcome: ItemOutcome;
  readonly head: Buffer;
  readonly tail: Buffer;
}

const COMMA = 0x2c;
/** Bytes reserved per item up front (a written item with a made-up id is ~150); the buffer grows past it. */
const ITEM_BYTES_GUESS = 192;

/** The answer body as bytes, in one pass into a buffer that grows when an item does not fit. */
export function bulkAnswerBytes(items: readonly BulkItem[], outcomes: readonly (ItemOutcome | undefined)[], tookMs: number): Buffer {
  const start = Buffer.from(`{"took":${tookMs},"errors":${hasErrors(items, outcomes)},"items":[`, 'latin1');
  const indexJson = new Map<string, string>();
  let out: Buffer = Buffer.allocUnsafe(start.length + 2 + items.length * ITEM_BYTES_GUESS);
  let at = start.copy(out, 0);
  let last: Template | undefined;
  for (let i = 0; i < items.length; i++) {
    const item = items[i] as BulkItem;
    const o = outcomeAt(outcomes, i);
    const id = item.id;
    const t = id !== undefined && !item.idGiven && o.error === undefined && o.result !== undefined ? (last = sameTemplate(last, item, o) ?? templateOf(item, o, indexJson)) : undefined;
    const room = t === undefined ? undefined : 1 + t.head.length + (id as string).length + t.tail.length;
    if (room !== undefined && at + room + 2 > out.length) out = grown(out, at, room);
    const end = t === undefined ? undefined : writeTemplated(out, at, i > 0, t, id as string, 0, (id as string).length);
    if (end !== undefined) {
      at = end;
      continue;
    }
    // Not a made-up id's item, or an id JSON would escape: from the item's JSON text.
    const bytes = Buffer.from((i > 0 ? ',' : '') + itemJson(item, o, indexJson), 'utf8');
    if (at + bytes.length + 2 > out.length) out = grown(out, at, bytes.length);
    at += bytes.copy(out, at);
  }
  out[at++] = 0x5d; // ]
  out[at++] = 0x7d; // }
  return out.subarray(0, at);
}

/**
 * The answer of `count` items of one action and index, each created under
 * its made-up id (`ids`: `idChars` characters each, back to back): the
 * same bytes as `bulkAnswerBytes` of those items, with no item objects.
 */
export function uniformAnswerBytes(action: BulkItem['action'], index: string, ids: string, idChars: number, tookMs: number): Buffer {
  const count = ids.length / idChars;
  const t = templateOf({ action, index, id: ids.slice(0, idChars), idGiven: false }, CREATED, new Map());
  const start = Buffer.from(`{"took":${tookMs},"errors":false,"items":[`, 'latin1');
  const item = t.head.length + idChars + t.tail.length;
  const out = Buffer.allocUnsafe(start.length + count * (item + 1) + 1);
  let at = start.copy(out, 0);
  for (let i = 0; i < count; i++) {
    const end = writeTemplated(out, at, i > 0, t, ids, i * idChars, (i + 1) * idChars);
    // Made-up ids are URL-safe ASCII by construction (doc-ids.ts).
    if (end === undefined) throw new Error(`made-up id ${ids.slice(i * idChars, (i + 1) * idChars)} is not plain ASCII`);
    at = end;
  }
  out[at++] = 0x5d; // ]
  out[at++] = 0x7d; // }
  return out.subarray(0, at);
}

/** `last` when `item` and `o` share it (most items of a request do), else undefined. */
function sameTemplate(last: Template | undefined, item: BulkItem, o: ItemOutcome): Template | undefined {
  return last !== undefined && last.outcome === o && last.action === item.action && last.index === item.index ? last : undefined;
}

/** A copy of `buf`'s first `used` bytes in a buffer with room for `more` (and the closing bytes) after them. */
function grown(buf: Buffer, used: number, more: number): Buffer {
  const out = Buffer.allocUnsafe(Math.max(buf.length * 2, used + more + 2 + ITEM_BYTES_GUESS));
  buf.copy(out, 0, 0, used);
  return out;
}

/**
 * Writes one item at `at` from its template: a comma first when `comma`,
 * the head, `text[from, to)` as the id byte for byte, the tail. Returns
 * where the item ends, or undefined (what was written is to be
 * overwritten) when the id is not printable ASCII free of what JSON
 * escapes. The id goes in by a JS loop: a native write per 20-character
 * id cost more.
 */
function writeTemplated(out: Buffer, at: number, comma: boolean, t: Template, text: string, from: number, to: number): number | undefined {
  const idAt = at + (comma ? 1 : 0) + t.head.length;
  for (let k = from; k < to; k++) {
    const c = text.charCodeAt(k);
    if (c < 0x20 || c > 0x7e || c === 0x22 || c === 0x5c) return undefined;
    out[idAt + k - from] = c;
  }
  if (comma) out[at] = COMMA;
  out.set(t.head, idAt - t.head.length);
  const tailAt = idAt + (to - from);
  out.set(t.tail, tailAt);
  return tailAt + t.tail.length;
}

/** The head and tail of `item`'s JSON around its id, cut out of the JSON of the item with a marker id. */
function templateOf(item: BulkItem, outcome: ItemOutcome, indexJson: Map<string, string>): Template {
  const marker = '\u0000';
  const json = itemJson({ ...item, id: marker }, outcome, indexJson);
  const cut = json.indexOf(`"_id":"${marker}"`) + '"_id":"'.length;
  return { action: item.action, index: item.index, outcome, head: Buffer.from(json.slice(0, cut), 'utf8'), tail: Buffer.from(json.slice(cut + marker.length), 'utf8') };
}
