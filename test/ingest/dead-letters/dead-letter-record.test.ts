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
import { deadLetterId, deadLetterRecord, newRequestTag, replayDedupePrefix, replayedRecord, type DeadLetter } from '../../../src/ingest/dead-letters/dead-letter-record.ts';
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
  const stored = { _id: '99', _ingested_at: 5, ...deadLetterRecord(letter), replayed_at: null, replayed_id: null };
  assert.deepEqual(replayedRecord(stored, '12345', 77), { ...deadLetterRecord(letter), status: 'replayed', replayed_at: 77, replayed_id: '12345' });
});

test('dead-letter table names: the suffix, no letters of letters, and the 63-character limit', () => {
  assert.equal(deadLetterTableName('orders'), 'orders__dead_letters');
  assert.ok(isDeadLetterTable('orders__dead_letters'));
  assert.throws(() => deadLetterTableName('orders__dead_letters'), (e) => isSluiceError(e, 'INVALID_ARGUMENT'));
  assert.throws(() => deadLetterTableName('t'.repeat(50)), (e) => isSluiceError(e, 'INVALID_ARGUMENT'));
  assert.equal(deadLetterTableName('t'.repeat(49)).length, 63);
});
