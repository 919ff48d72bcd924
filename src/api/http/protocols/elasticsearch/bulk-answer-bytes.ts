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
import { hasErrors, itemJson, outcomeAt, type ItemOutcome } from './bulk-answer.ts';
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

/** The answer body as bytes. */
export function bulkAnswerBytes(items: readonly BulkItem[], outcomes: readonly (ItemOutcome | undefined)[], tookMs: number): Buffer {
  const start = Buffer.from(`{"took":${tookMs},"errors":${hasErrors(items, outcomes)},"items":[`, 'latin1');
  const indexJson = new Map<string, string>();
  // Per item: its template, or its encoded JSON; both arrays are indexed by item.
  const templates = new Array<Template | undefined>(items.length);
  const encoded = new Array<Buffer | undefined>(items.length);
  let last: Template | undefined;
  let length = start.length + 2 + Math.max(0, items.length - 1);
  for (let i = 0; i < items.length; i++) {
    const item = items[i] as BulkItem;
    const o = outcomeAt(outcomes, i);
    if (item.id !== undefined && !item.idGiven && o.error === undefined && o.result !== undefined && isPlainAscii(item.id)) {
      if (last === undefined || last.outcome !== o || last.action !== item.action || last.index !== item.index) last = templateOf(item, o, indexJson);
      templates[i] = last;
      length += last.head.length + item.id.length + last.tail.length;
    } else {
      const bytes = Buffer.from(itemJson(item, o, indexJson), 'utf8');
      encoded[i] = bytes;
      length += bytes.length;
    }
  }
  const out = Buffer.allocUnsafe(length);
  let at = start.copy(out, 0);
  for (let i = 0; i < items.length; i++) {
    if (i > 0) out[at++] = COMMA;
    const t = templates[i];
    if (t === undefined) {
      at += (encoded[i] as Buffer).copy(out, at);
      continue;
    }
    out.set(t.head, at);
    at += t.head.length;
    // Character by character: a native write call per 20-character id cost more than the copy.
    const id = (items[i] as BulkItem).id as string;
    for (let k = 0; k < id.length; k++) out[at++] = id.charCodeAt(k);
    out.set(t.tail, at);
    at += t.tail.length;
  }
  out[at++] = 0x5d; // ]
  out[at++] = 0x7d; // }
  return out;
}

/** The head and tail of `item`'s JSON around its id, cut out of the JSON of the item with a marker id. */
function templateOf(item: BulkItem, outcome: ItemOutcome, indexJson: Map<string, string>): Template {
  const marker = '\u0000';
  const json = itemJson({ ...item, id: marker }, outcome, indexJson);
  const cut = json.indexOf(`"_id":"${marker}"`) + '"_id":"'.length;
  return { action: item.action, index: item.index, outcome, head: Buffer.from(json.slice(0, cut), 'utf8'), tail: Buffer.from(json.slice(cut + marker.length), 'utf8') };
}

/** Printable ASCII with nothing JSON escapes: written byte for byte between quotes. */
function isPlainAscii(id: string): boolean {
  for (let k = 0; k < id.length; k++) {
    const c = id.charCodeAt(k);
    if (c < 0x20 || c > 0x7e || c === 0x22 || c === 0x5c) return false;
  }
  return true;
}
