/**
 * A bound on the objects and arrays a JSON text opens, checked on its bytes
 * before JSON.parse builds them. Parsed, `{},` is 3 bytes of text and 56 of
 * heap: a body of them within the body limit made a tree past a decode
 * worker's heap, and V8 aborted the whole process (not just the worker).
 */
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
  let count = 0;
  let inString = false;
  for (let i = 0; i < body.length; i++) {
    const b = body[i] as number;
    if (inString) {
      // An escape's next byte is never the closing quote.
      if (b === BACKSLASH) i++;
      else if (b === QUOTE) inString = false;
    } else if (b === QUOTE) inString = true;
    else if ((b === OPEN_BRACE || b === OPEN_BRACKET) && ++count > max) {
      throw new SluiceError('PAYLOAD_TOO_LARGE', `the body opens more than ${max} JSON objects and arrays, more than its size limit takes: send smaller batches`);
    }
  }
}
