/**
 * Which answers of a peer make hint replay skip the hint (hint-refusal.ts):
 * every code is decided, and only those that say the hint itself can never
 * be stored drop it.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ERROR_CODES, SluiceError, type ErrorCode } from '../../../src/core/errors.ts';
import { HINT_REFUSED_FOR_GOOD, refusedForGood } from '../../../src/cluster/repair/hint-refusal.ts';

test('every error code is either refused for good or worth a retry, and the refused ones are those that mean the hint itself can never be stored', () => {
  assert.deepEqual([...HINT_REFUSED_FOR_GOOD].sort(), ['BAD_REQUEST', 'INVALID_ARGUMENT', 'KEY_TOO_LARGE', 'PAYLOAD_TOO_LARGE', 'SCHEMA_INCOMPATIBLE', 'SCHEMA_VIOLATION', 'TABLE_NOT_FOUND']);
  for (const code of Object.keys(ERROR_CODES) as ErrorCode[]) {
    const forGood = refusedForGood(new SluiceError(code, code));
    assert.equal(forGood, HINT_REFUSED_FOR_GOOD.has(code) ? code : undefined, code);
  }
  // Not a coded answer (a bug, a broken batch asserted on): nothing proves the hint is at fault.
  assert.equal(refusedForGood(new Error('record batch magic')), undefined);
});
