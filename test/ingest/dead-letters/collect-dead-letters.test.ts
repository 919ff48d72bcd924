/**
 * Collecting a write's dead letters: every refused record (also those past
 * the violations listed), its first violation, and a whole refusal when a
 * letter could not be kept.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { DEAD_LETTER_RAW_BYTES_MAX, DEAD_LETTERS_PER_REQUEST_MAX } from '../../../src/config.ts';
import { isSluiceError } from '../../../src/core/errors.ts';
import { parseTableDef } from '../../../src/core/schema/parse-table-def.ts';
import { collectDeadLetters, refusedIndexes, type LetterOrigin } from '../../../src/ingest/dead-letters/collect-dead-letters.ts';

const def = parseTableDef({ name: 'm', shardKey: 'k', fields: [{ name: 'k', type: 'string', required: true }] }, 0);

function origin(body: string, extra: Partial<LetterOrigin> = {}): LetterOrigin {
  return { def, raw: { body: Buffer.from(body), format: 'ndjson' }, rawFormat: 'json', source: 'http', requestTag: 'tag', nowMs: 42, detailsMax: 10, ...extra };
}

test('refused indexes are those missing from positions; all of them when nothing was stored', () => {
  assert.deepEqual(refusedIndexes({ total: 5, positions: Uint32Array.from([0, 2, 4]), rejected: [], rejectedCount: 2 }), [1, 3]);
  assert.deepEqual(refusedIndexes({ total: 2, positions: Uint32Array.from([]), rejected: [], rejectedCount: 2 }), [0, 1]);
  assert.deepEqual(refusedIndexes({ total: 3, rejected: [], rejectedCount: 0 }), []);
});

test("each letter has its record's first violation and raw line; one past the listed violations still gets a letter", () => {
  const body = '{"k":"a"}\n{"x":1}\n{"k":"c"}\n{"y":2}';
  const letters = collectDeadLetters(
    {
      total: 4,
      positions: Uint32Array.from([0, 2]),
      rejected: [
        { index: 1, code: 'REQUIRED', path: '/k', message: 'missing' },
        { index: 1, code: 'UNKNOWN_FIELD', path: '/x', message: 'unknown' },
      ],
      rejectedCount: 2,
    },
    origin(body, { dedupe: { prefix: 'imp:', first: 100, digits: 4 } }),
  );
  assert.equal(letters.length, 2);
  assert.deepEqual(
    letters.map((l) => ({ i: l.index, code: l.code, path: l.path, raw: Buffer.from(l.raw).toString() })),
    [
      { i: 1, code: 'REQUIRED', path: '/k', raw: '{"x":1}' },
      { i: 3, code: 'SCHEMA_VIOLATION', path: '', raw: '{"y":2}' },
    ],
  );
  assert.equal(letters[0]?.failedAtMs, 42);
  assert.equal(letters[0]?.schemaVersion, 1);
  assert.match(letters[0]?.id ?? '', /^k[0-9a-f]{40}$/, 'a dedupe key gives a hashed, stable id');
  assert.deepEqual(letters.map((l) => l.dedupeKey), ['imp:0101', 'imp:0103'], 'each letter keeps its record\'s key, for the replay');
  const keyless = collectDeadLetters({ total: 1, positions: Uint32Array.from([]), rejected: [], rejectedCount: 1 }, origin('{"x":1}'));
  assert.equal(keyless[0]?.dedupeKey, undefined);
});

test('a write that cannot keep every refused record is refused whole: too many, or one too large', () => {
  const many = DEAD_LETTERS_PER_REQUEST_MAX + 1;
  const body = Array.from({ length: many }, () => '{}').join('\n');
  assert.throws(
    () => collectDeadLetters({ total: many, positions: Uint32Array.from([]), rejected: [], rejectedCount: many }, origin(body)),
    (e) => isSluiceError(e, 'SCHEMA_VIOLATION') && /nothing was written/.test(e.message),
  );
  const big = JSON.stringify({ s: 'x'.repeat(DEAD_LETTER_RAW_BYTES_MAX) });
  assert.throws(
    () => collectDeadLetters({ total: 1, positions: Uint32Array.from([]), rejected: [{ index: 0, code: 'REQUIRED', path: '/k', message: 'missing' }], rejectedCount: 1 }, origin(big)),
    (e) => isSluiceError(e, 'SCHEMA_VIOLATION') && e.details.length === 1,
  );
});
