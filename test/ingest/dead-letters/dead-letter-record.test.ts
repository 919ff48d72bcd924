/**
 * The dead-letter mapping: a refused record becomes a record the
 * dead-letter table accepts (checked through its compiled schema), ids are
 * stable under a dedupe key, and marking a letter keeps everything else.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { compileSchema } from '../../../src/core/schema/compile-schema.ts';
import { parseTableDef } from '../../../src/core/schema/parse-table-def.ts';
import type { TableDef } from '../../../src/core/schema/table-def.ts';
import { deadLetterId, deadLetterRecord, newRequestTag, replayDedupe, replayDedupePrefix, replayedRecord, splitDedupeKey, type DeadLetter } from '../../../src/ingest/dead-letters/dead-letter-record.ts';
import { deadLetterTableDefinition, deadLetterTableName, isDeadLetterTable } from '../../../src/ingest/dead-letters/dead-letter-table.ts';
import { isSluiceError } from '../../../src/core/errors.ts';

const SOURCE: TableDef = parseTableDef({ name: 'payments', shardKey: 'acct', replicationFactor: 3, fields: [{ name: 'acct', type: 'string', required: true }] }, 0, { replicationFactorMax: 7 });

const letter: DeadLetter = {
  id: 'k0123',
  table: 'payments',
  raw: Buffer.from([0xff, 0x00, 0x7b]),
  rawFormat: 'protobuf',
  code: 'TYPE',
  message: 'expected a decimal string',
  path: '/amount',
  source: 'grpc',
  requestId: 'req-9',
  index: 4,
  schemaVersion: 2,
  failedAtMs: 1_764_000_000_123,
};

test('a letter maps to a valid record of the dead-letter table, raw bytes as base64, status pending', () => {
  const def = parseTableDef(deadLetterTableDefinition(SOURCE), 0);
  assert.equal(def.name, 'payments__dead_letters');
  assert.equal(def.replicationFactor, 3, 'as many copies as the table it serves');
  assert.equal(def.shardKey, 'dead_letter_id');
  assert.equal(def.primaryKey, 'dead_letter_id');
  const record = deadLetterRecord(letter);
  assert.deepEqual(record, {
    dead_letter_id: 'k0123',
    table: 'payments',
    raw: '/wB7',
    raw_format: 'protobuf',
    code: 'TYPE',
    message: 'expected a decimal string',
    path: '/amount',
    source: 'grpc',
    request_id: 'req-9',
    record_index: 4,
    schema_version: 2,
    failed_at: 1_764_000_000_123,
    status: 'pending',
  });
  const normalized = compileSchema(def).normalize(record, 0);
  assert.ok(normalized.ok, JSON.stringify(normalized));
  const { requestId: _r, index: _i, schemaVersion: _s, ...bare } = letter;
  assert.ok(compileSchema(def).normalize(deadLetterRecord(bare), 0).ok, 'optional parts may be absent');
  const keyed = deadLetterRecord({ ...letter, dedupeKey: 'file:ab12:0000000000000004' });
  assert.equal(keyed['dedupe_key'], 'file:ab12:0000000000000004');
  assert.ok(compileSchema(def).normalize(keyed, 0).ok, 'the dedupe key is a field of the table');
});

test('splitDedupeKey: prefix + zero-padded number that spell the key again, as the write route builds it', () => {
  const spelled = (k: { prefix: string; first: number; digits: number }): string => k.prefix + String(k.first).padStart(k.digits, '0');
  const cases: [string, { prefix: string; first: number; digits: number }][] = [
    // The file importer's row key, the import route's, a client's unpadded one, Kafka's 20-digit offset.
    ['file:0123456789abcdef0123456789abcdef:0000000000000042', { prefix: 'file:0123456789abcdef0123456789abcdef:', first: 42, digits: 16 }],
    ['meters-csv-0000000000000001', { prefix: 'meters-csv-', first: 1, digits: 16 }],
    ['batch-7:100', { prefix: 'batch-7:', first: 100, digits: 3 }],
    ['kafka:orders:3:00000000000000001234', { prefix: 'kafka:orders:3:', first: 1234, digits: 20 }],
    // More digits than a number may have: the leading ones stay in the prefix.
    [`p${'0'.repeat(25)}7`, { prefix: `p${'0'.repeat(6)}`, first: 7, digits: 20 }],
    // A value past a safe integer: 15 digits are always safe.
    ['q99999999999999999999', { prefix: 'q99999', first: 999_999_999_999_999, digits: 15 }],
    // All digits: the first one is the prefix (never empty).
    ['12345', { prefix: '1', first: 2345, digits: 4 }],
  ];
  for (const [key, want] of cases) {
    const got = splitDedupeKey(key);
    assert.deepEqual(got, want, key);
    assert.equal(got === undefined ? undefined : spelled(got), key, 'spells the key again');
  }
  for (const key of ['no-digits', '7', `${'x'.repeat(300)}1`]) assert.equal(splitDedupeKey(key), undefined, key);
});

test("replayDedupe: the letter's own key when it has one, else dlq-<id>- + 0 (unpadded, as before letters kept keys)", () => {
  assert.deepEqual(replayDedupe('k1', 'file:ab:0000000000000003'), { prefix: 'file:ab:', first: 3, digits: 16 });
  assert.deepEqual(replayDedupe('tag-3', undefined), { prefix: 'dlq-tag-3-', first: 0 });
  assert.deepEqual(replayDedupe('tag-3', 'no-digits'), { prefix: 'dlq-tag-3-', first: 0 }, 'a key no route can spell');
});

test('ids: a dedupe key gives the same id every time (a re-sent request), otherwise the request tag and index', () => {
  assert.equal(deadLetterId('payments', 3, 'imp:0000000000000042', 'tag-a'), deadLetterId('payments', 9, 'imp:0000000000000042', 'tag-b'));
  assert.notEqual(deadLetterId('payments', 3, 'imp:1', 't'), deadLetterId('orders', 3, 'imp:1', 't'));
  assert.notEqual(deadLetterId('payments', 3, 'imp:1', 't'), deadLetterId('payments', 3, 'imp:2', 't'));
  assert.equal(deadLetterId('payments', 3, undefined, 'tag'), 'tag-3');
  assert.notEqual(newRequestTag(), newRequestTag());
  assert.equal(replayDedupePrefix('tag-3'), 'dlq-tag-3-');
});

test('marking a stored letter replayed keeps its fields and id, drops system fields and nulls', () => {
  const keyed = { ...letter, dedupeKey: 'imp:0000000000000042' };
  const stored = { _id: '99', _ingested_at: 5, ...deadLetterRecord(keyed), replayed_at: null, replayed_id: null };
  assert.deepEqual(replayedRecord(stored, '12345', 77), { ...deadLetterRecord(keyed), status: 'replayed', replayed_at: 77, replayed_id: '12345' });
});

test('dead-letter table names: the suffix, no letters of letters, and the 63-character limit', () => {
  assert.equal(deadLetterTableName('orders'), 'orders__dead_letters');
  assert.ok(isDeadLetterTable('orders__dead_letters'));
  assert.throws(() => deadLetterTableName('orders__dead_letters'), (e) => isSluiceError(e, 'INVALID_ARGUMENT'));
  assert.throws(() => deadLetterTableName('t'.repeat(50)), (e) => isSluiceError(e, 'INVALID_ARGUMENT'));
  assert.equal(deadLetterTableName('t'.repeat(49)).length, 63);
});
