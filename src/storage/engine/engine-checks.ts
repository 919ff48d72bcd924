/**
 * Argument checks shared by both engines, so that they accept and refuse
 * exactly the same keys and ranges.
 */
import assert from 'node:assert/strict';
import { SluiceError } from '../../core/errors.ts';
import { ENGINE_KEY_BYTES_MAX, type KeyRange } from './storage-engine.ts';

/** Throws KEY_TOO_LARGE past ENGINE_KEY_BYTES_MAX; an empty key is a programmer error. */
export function checkKey(key: Uint8Array): void {
  checkKeyBytes(key.length);
}

/** checkKey by the key's length. */
export function checkKeyBytes(bytes: number): void {
  // LMDB refuses zero-length keys; the key layout never builds one. (`if`, not assert(): its rest arguments allocate per call, and this runs per put.)
  if (bytes === 0) throw new assert.AssertionError({ message: 'engine keys must not be empty' });
  if (bytes > ENGINE_KEY_BYTES_MAX) {
    throw new SluiceError('KEY_TOO_LARGE', `index key of ${bytes} bytes exceeds ${ENGINE_KEY_BYTES_MAX} bytes`);
  }
}

/** Checks a range's bounds and limit (see KeyRange). */
export function checkRange(range: KeyRange): void {
  assert(range.gte === undefined || range.gt === undefined, 'KeyRange takes gte or gt, not both');
  assert(range.lt === undefined || range.lte === undefined, 'KeyRange takes lt or lte, not both');
  if (range.limit !== undefined) {
    assert(Number.isSafeInteger(range.limit) && range.limit >= 0, 'KeyRange.limit must be an integer >= 0');
  }
  for (const bound of [range.gte, range.gt, range.lt, range.lte]) {
    if (bound !== undefined) checkKey(bound);
  }
}
