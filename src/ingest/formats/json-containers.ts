/**
 * A bound on the objects and arrays a JSON text opens, checked on its bytes
 * before JSON.parse builds them. Parsed, `{},` is 3 bytes of text and 56 of
 * heap: a body of them within the body limit made a tree past a decode
 * worker's heap, and V8 aborted the whole process (not just the worker).
 */
import { isMainThread, resourceLimits } from 'node:worker_threads';
import { SluiceError } from '../../core/errors.ts';

/**
 * Fewest bytes of the body limit per object or array a protocol body may
 * open: real OTLP/JSON opens one per 17 bytes or more (an attribute,
 * `{"key":"a","value":{"intValue":1}}`, opens 2 in 34), a Loki push one per
 * entry (`["<19 digits>","<line>"]`, 25 bytes or more).
 */
export const JSON_BYTES_PER_CONTAINER_MIN = 8;

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const OPEN_BRACE = 0x7b;
const OPEN_BRACKET = 0x5b;

/** PAYLOAD_TOO_LARGE when the JSON text `body` opens more than `max` objects and arrays outside strings. */
export function checkJsonContainers(body: Uint8Array, max: number): void {
  if (body.length <= max) return;
  if (countJsonContainers(body, max) > max) {
    throw new SluiceError('PAYLOAD_TOO_LARGE', `the body opens more than ${max} JSON objects and arrays, more than its size limit takes: send smaller batches`);
  }
}

/** The objects and arrays JSON text opens outside strings, counted up to `stopAfter` + 1 at most. */
export function countJsonContainers(text: Uint8Array | string, stopAfter: number): number {
  const bytes = typeof text === 'string';
  let count = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    // UTF-16 code units or bytes: the structural characters are ASCII either way.
    const b = bytes ? text.charCodeAt(i) : (text[i] as number);
    if (inString) {
      // An escape's next byte is never the closing quote.
      if (b === BACKSLASH) i++;
      else if (b === QUOTE) inString = false;
    } else if (b === QUOTE) inString = true;
    else if ((b === OPEN_BRACE || b === OPEN_BRACKET) && ++count > stopAfter) return count;
  }
  return count;
}

/**
 * Heap bytes counted per JSON object or array parsed: `{}` in an array
 * takes ~56; twice that leaves room for the text and what is built from it.
 */
export const HEAP_BYTES_PER_JSON_CONTAINER = 128;

/** Objects and arrays the JSON values parsed at once in this thread may open: its heap ÷ HEAP_BYTES_PER_JSON_CONTAINER; unbounded on the main thread (the process's heap). */
export function threadJsonContainersMax(): number {
  const heapMb = isMainThread ? undefined : resourceLimits.maxOldGenerationSizeMb;
  return heapMb === undefined ? Number.MAX_SAFE_INTEGER : Math.floor((heapMb * 2 ** 20) / HEAP_BYTES_PER_JSON_CONTAINER);
}

/**
 * What the JSON values of one conversion task (a CSV chunk, a Parquet row
 * range: all parsed before any is encoded) may open together, counted on
 * each value's text before JSON.parse. A value past what is left is
 * refused as its row's problem instead of growing a tree past the
 * thread's heap, where V8 aborts the whole process, not just the thread.
 */
export class JsonBudget {
  private left = 0;

  /** A new task: the whole budget again. */
  reset(max = threadJsonContainersMax()): void {
    this.left = max;
  }

  /** Takes `text`'s objects and arrays from the budget; a problem message when they do not fit (nothing is taken then). */
  take(text: Uint8Array | string): string | undefined {
    // Every value is counted (a byte scan, cheaper than its JSON.parse): the bound is on the task's values together.
    const n = countJsonContainers(text, this.left);
    if (n > this.left) return `the JSON value opens more objects and arrays than a conversion task parses at once (${this.left} left of the thread's heap): store it in smaller values`;
    this.left -= n;
    return undefined;
  }
}

/** The budget of the task this thread runs (tasks run one at a time per thread). */
export const taskJsonBudget = new JsonBudget();
