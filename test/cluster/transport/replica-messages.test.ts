/**
 * replica-v1 messages: every request and reply survives encode + decode +
 * shape check unchanged, and a message of the wrong shape is refused with
 * REPLICA_PROTOCOL naming the method, the field and what was expected.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Packr } from 'msgpackr';
import {
  REPLICA_METHODS,
  REPLICA_PROTOCOL,
  REPLICA_PROTOCOL_METADATA,
  REPLICA_PROTOCOL_VERSION,
  checkReply,
  checkRequest,
  decodeReply,
  decodeRequest,
  encodeMessage,
  type ReplicaMethod,
} from '../../../src/cluster/transport/replica-messages.ts';
import { ERROR_CODES, isSluiceError } from '../../../src/core/errors.ts';
import { SAMPLES, key, value } from './replica-samples.ts';

/** The protocol error a check throws, with the field it names. */
function refusedFor(method: string, side: 'request' | 'reply', field: string, expected: RegExp) {
  return (err: unknown): boolean => {
    assert.ok(isSluiceError(err, 'REPLICA_PROTOCOL'), `REPLICA_PROTOCOL, got ${String(err)}`);
    assert.ok(err.message.startsWith(`${REPLICA_PROTOCOL} ${method} ${side}: `), err.message);
    assert.match(err.message, field === '' ? /the message must be/ : new RegExp(`field ${field.replace(/[[\]]/g, '\\$&')} must be`));
    assert.match(err.message, expected);
    return true;
  };
}

test('the protocol is replica-v1, named in the sluice-replica-protocol metadata', () => {
  assert.equal(REPLICA_PROTOCOL_VERSION, 1);
  assert.equal(REPLICA_PROTOCOL, 'replica-v1');
  assert.equal(REPLICA_PROTOCOL_METADATA, 'sluice-replica-protocol');
});

test('REPLICA_PROTOCOL is a stable code: 500, gRPC INTERNAL, no retry', () => {
  assert.deepEqual(ERROR_CODES.REPLICA_PROTOCOL, { status: 500, grpc: 13, canRetry: false });
});

test('every request and reply of every method round-trips through encode, decode and the shape check', () => {
  assert.deepEqual(Object.keys(SAMPLES).sort(), [...REPLICA_METHODS].sort(), 'a sample for every method');
  for (const method of REPLICA_METHODS) {
    const { requests, replies } = SAMPLES[method];
    for (const request of requests) assert.deepEqual(decodeRequest(method, encodeMessage(request)), request, `${method} request`);
    for (const reply of replies) assert.deepEqual(decodeReply(method, encodeMessage(reply)), reply, `${method} reply`);
  }
});

test('an optional field sent as undefined (what `{ tableId }` with tableId unset encodes) is accepted; unknown fields are ignored', () => {
  assert.deepEqual(decodeRequest('Merkle', encodeMessage({ shard: 1, tableId: undefined })), { shard: 1, tableId: undefined });
  assert.deepEqual(decodeReply('Write', encodeMessage({ lsn: '3', addedInALaterRelease: [1, 2] })), { lsn: '3', addedInALaterRelease: [1, 2] });
});

test('a message that is not a map, or not msgpack at all, is refused', () => {
  assert.throws(() => decodeRequest('Get', encodeMessage([3, '1'])), refusedFor('Get', 'request', '', /a msgpack map, got an array of 2/));
  assert.throws(() => decodeReply('Fetch', encodeMessage(null)), refusedFor('Fetch', 'reply', '', /a msgpack map, got nil/));
  const notMsgpack = (err: unknown): boolean => isSluiceError(err, 'REPLICA_PROTOCOL') && /^replica-v1 Write request: not a msgpack value/.test(err.message);
  assert.throws(() => decodeRequest('Write', Buffer.from([0x82])), notMsgpack, 'a map cut short');
  assert.throws(() => decodeRequest('Write', Buffer.alloc(0)), notMsgpack, 'an empty body');
  assert.throws(() => decodeRequest('Write', Buffer.from([0x80, 0x01])), notMsgpack, 'bytes after the message');
  assert.throws(() => decodeRequest('Write', Buffer.from([0xc1])), refusedFor('Write', 'request', 'batch', /got nothing/), 'msgpack\'s never-used byte');
});

test('missing required fields are refused, naming the field', () => {
  assert.throws(() => decodeRequest('Write', encodeMessage({ epoch: 3 })), refusedFor('Write', 'request', 'batch', /bytes \(msgpack bin\), got nothing/));
  assert.throws(() => decodeReply('Write', encodeMessage({})), refusedFor('Write', 'reply', 'lsn', /a decimal string/));
  assert.throws(() => decodeRequest('Scan', encodeMessage({ tableId: 1, shard: 2, key: Buffer.from('k') })), refusedFor('Scan', 'request', 'limit', /an integer >= 0, got nothing/));
  assert.throws(() => decodeReply('Scan', encodeMessage({})), refusedFor('Scan', 'reply', 'records', /an array of a record/));
  assert.throws(() => decodeRequest('LeafEntries', encodeMessage({ shard: 1 })), refusedFor('LeafEntries', 'request', 'leaves', /an array of an integer/));
});

test('fields of the wrong type are refused, naming the field and what was expected', () => {
  const cases: [ReplicaMethod, 'request' | 'reply', unknown, string, RegExp][] = [
    ['Write', 'request', { batch: 'not bytes' }, 'batch', /bytes \(msgpack bin\), got string "not bytes"/],
    ['Write', 'request', { batch: [1, 2, 3] }, 'batch', /bytes \(msgpack bin\), got an array of 3/],
    ['Write', 'request', { batch: Buffer.alloc(1), epoch: '5' }, 'epoch', /an integer >= 0, got string "5"/],
    ['Write', 'request', { batch: Buffer.alloc(1), epoch: null }, 'epoch', /got nil/],
    ['Write', 'reply', { lsn: 12 }, 'lsn', /a decimal string of 1..20 digits, got number 12/],
    ['Get', 'request', { tableId: 1, id: '-1' }, 'id', /a decimal string/],
    ['Get', 'request', { tableId: 1, id: '12', lsn: '0x10' }, 'lsn', /a decimal string/],
    ['Get', 'request', { tableId: -1, id: '12' }, 'tableId', /an integer >= 0, got number -1/],
    ['Get', 'request', { tableId: 1.5, id: '12' }, 'tableId', /an integer >= 0/],
    ['Get', 'reply', { record: [key] }, 'record', /a record \[recordKey: bin, value: bin\], got an array of 1/],
    ['Scan', 'request', { tableId: 1, shard: 0, key: 'acc-1', limit: 10 }, 'key', /bytes/],
    ['Scan', 'request', { tableId: 1, shard: 0, key, fromMs: '2026-01-01', limit: 10 }, 'fromMs', /a number/],
    ['Scan', 'reply', { records: [[key, value], [key, 'not bytes']] }, 'records[1]', /a record/],
    ['ScanShard', 'request', { tableId: 1, shard: 0, after: 'k', limit: 10 }, 'after', /bytes/],
    ['ScanShard', 'reply', { records: {} }, 'records', /an array of a record .*, got a map/],
    ['LookupPks', 'request', { tableId: 1, shard: 0, pks: ['a', 2] }, 'pks[1]', /a string, got number 2/],
    ['LookupPks', 'reply', { entries: [null, ['1']] }, 'entries[1]', /\[id: decimal, version: decimal\] or nil/],
    ['Merkle', 'request', { shard: 1, minEpoch: -2 }, 'minEpoch', /an integer >= 0/],
    ['Merkle', 'reply', { tree: 'abc' }, 'tree', /bytes/],
    ['LeafEntries', 'request', { shard: 1, leaves: [1, 'x'] }, 'leaves[1]', /an integer >= 0/],
    ['LeafEntries', 'reply', { entries: [[key, 5n.toString()], [key, 5]] }, 'entries[1]', /\[key: bin, version: decimal, extra\?: bin\]/],
    ['LeafEntries', 'reply', { entries: [[key, '5', key], [key, '5', 'digest']] }, 'entries[1]', /\[key: bin, version: decimal, extra\?: bin\]/],
    ['LeafEntries', 'request', { shard: 1, leaves: [1], summary: 'two' }, 'summary', /an integer >= 0/],
    ['LeafEntries', 'request', { shard: 1, leaves: [1], keys: 1 }, 'keys', /true or false/],
    ['Merkle', 'request', { shard: 1, summary: -1 }, 'summary', /an integer >= 0/],
    ['Merkle', 'reply', { tree: key, summary: 2, keys: 'abc' }, 'keys', /bytes/],
    ['LeafEntries', 'request', { shard: 1, leaves: [1], paged: 1 }, 'paged', /true or false/],
    ['LeafEntries', 'request', { shard: 1, leaves: [1], paged: true, after: 'k' }, 'after', /bytes/],
    ['LeafEntries', 'reply', { entries: [], next: 3 }, 'next', /bytes/],
    ['Fetch', 'request', { keys: [key, 'not bytes'] }, 'keys[1]', /bytes/],
    ['Fetch', 'request', { keys: key }, 'keys', /an array of bytes/],
    ['Fetch', 'request', { keys: [key], withDedupeKeys: 1 }, 'withDedupeKeys', /true or false/],
    ['Fetch', 'reply', { records: [[key, key]], dedupeKeys: ['kafka:t:0:1'] }, 'dedupeKeys[0]', /bytes \(msgpack bin\) or nil/],
  ];
  for (const [method, side, message, field, expected] of cases) {
    const decode = side === 'request' ? decodeRequest : decodeReply;
    assert.throws(() => decode(method, encodeMessage(message)), refusedFor(method, side, field, expected), `${method} ${side} ${field}`);
  }
});

test('a LookupPks reply whose id or version is not a decimal is refused at decode, not handed to BigInt (which throws a plain SyntaxError, or reads hex, blanks and whitespace as numbers)', () => {
  const bad = ['x1', '1.5', '-1', '1e3', '', '0x10', ' 12', '123456789012345678901'];
  for (const v of bad) {
    for (const [entry, at] of [[[v, '5'], 'id'], [['5', v], 'version']] as const) {
      assert.throws(() => decodeReply('LookupPks', encodeMessage({ entries: [['7', '8'], entry] })), refusedFor('LookupPks', 'reply', 'entries[1]', /\[id: decimal, version: decimal\] or nil/), `${at} ${JSON.stringify(v)}`);
    }
  }
  assert.deepEqual(decodeReply('LookupPks', encodeMessage({ entries: [['18446744073709551615', '0'], null] })), { entries: [['18446744073709551615', '0'], null] });
});

test('a LeafEntries reply whose version is not a decimal is refused at decode; a decimal past 2^64 - 1 is no uint64 anywhere', () => {
  const key = Buffer.from('k');
  for (const v of ['x1', '', '0x10', ' 12', '-1', '18446744073709551616', '99999999999999999999']) {
    assert.throws(() => decodeReply('LeafEntries', encodeMessage({ entries: [[key, '5'], [key, v]] })), refusedFor('LeafEntries', 'reply', 'entries[1]', /\[key: bin, version: decimal, extra\?: bin\]/), JSON.stringify(v));
  }
  assert.throws(() => decodeReply('Write', encodeMessage({ lsn: '18446744073709551616' })), refusedFor('Write', 'reply', 'lsn', /a decimal/));
  assert.deepEqual(decodeReply('Write', encodeMessage({ lsn: '18446744073709551615' })), { lsn: '18446744073709551615' });
});

test('the refusal names the field in its details as a path', () => {
  assert.throws(
    () => checkReply('Scan', { records: [[key, value], [key, value], 'x'] }),
    (err: unknown) => isSluiceError(err, 'REPLICA_PROTOCOL') && err.details[0]?.path === '/records/2',
  );
  assert.throws(
    () => checkRequest('Write', { batch: 1 }),
    (err: unknown) => isSluiceError(err, 'REPLICA_PROTOCOL') && err.details[0]?.path === '/batch',
  );
});

test('a batch decoded by another msgpack decoder configuration as a plain array is refused, not handed to the WAL', () => {
  // A peer that encodes bytes as an array of numbers (msgpack without bin) must not reach RecordBatchReader.
  const arrayPackr = new Packr({ useRecords: false });
  const wire = arrayPackr.pack({ batch: [...Buffer.from([0x53, 1])] });
  assert.throws(() => decodeRequest('Write', wire), refusedFor('Write', 'request', 'batch', /bytes/));
});
