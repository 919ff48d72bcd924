import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import protobuf from 'protobufjs';
import { bindProto, protoDecoder, protoFields } from '../../../src/core/schema/proto-schema.ts';
import { parseTableDef } from '../../../src/core/schema/parse-table-def.ts';
import { isSluiceError } from '../../../src/core/errors.ts';

const SOURCE = readFileSync(new URL('../fixtures/payment.proto', import.meta.url), 'utf8');

/** An encoder independent of the binding under test: protobufjs loading the same text itself. */
function encoder(): protobuf.Type {
  const parsed = protobuf.parse(SOURCE, { keepCase: true });
  parsed.root.addJSON(protobuf.common.get('google/protobuf/timestamp.proto')?.nested ?? {});
  return parsed.root.resolveAll().lookupType('shop.v1.Payment');
}

test('a message maps to table fields in field-number order', () => {
  const fields = protoFields(bindProto(SOURCE, 'shop.v1.Payment'));
  assert.deepEqual(
    fields.map((f) => `${f.name}:${f.type}`),
    ['account_id:string', 'amount_cents:int', 'at:timestamp', 'method:string', 'tags:json', 'receipt:bytes', 'fx_rate:float', 'settled:bool', 'counters:json', 'address:json'],
  );
});

test('decoding gives the record a JSON source would send: exact int64, epoch ms, enum names, base64 bytes', () => {
  const binding = bindProto(SOURCE, 'shop.v1.Payment');
  // The binding survives a round trip through its stored JSON form (the catalog keeps it so).
  const decoder = protoDecoder(JSON.parse(JSON.stringify(binding)));
  const T = encoder();
  const bytes = T.encode(
    T.fromObject({ account_id: 'acct-1', amount_cents: '9007199254740993', at: { seconds: 1_700_000_000, nanos: 123_000_000 }, method: 'CARD', tags: ['a', 'b'], receipt: Buffer.from('ok'), fx_rate: 1.25, settled: true, counters: { x: 2 }, address: { city: 'Oslo' } }),
  ).finish();
  assert.deepEqual(decoder.decode(bytes), {
    account_id: 'acct-1',
    amount_cents: '9007199254740993',
    at: 1_700_000_000_123,
    method: 'CARD',
    tags: ['a', 'b'],
    receipt: Buffer.from('ok').toString('base64'),
    fx_rate: 1.25,
    settled: true,
    counters: { x: 2 },
    address: { city: 'Oslo' },
  });
  // An unset Timestamp is absent, not 0.
  assert.equal('at' in decoder.decode(T.encode(T.fromObject({ account_id: 'a' })).finish()), false);
  assert.throws(() => decoder.decode(Buffer.from('not protobuf at all {"x":1}')), /invalid wire type/);
});

test('a table definition may take its fields from the message; key fields become required', () => {
  const def = parseTableDef({ name: 'payments', shardKey: 'account_id', timeField: 'at', proto: { message: 'shop.v1.Payment', source: SOURCE } }, 0);
  assert.equal(def.fields.length, 10);
  assert.equal(def.fields.find((f) => f.name === 'account_id')?.required, true);
  assert.equal(def.fields.find((f) => f.name === 'amount_cents')?.required, false);
  assert.equal(def.proto?.message, 'shop.v1.Payment');
  // Sent back as described (descriptor instead of source), it parses to the same binding.
  const again = parseTableDef({ name: 'payments', shardKey: 'account_id', timeField: 'at', proto: def.proto }, 0);
  assert.deepEqual(again.proto, def.proto);
});

test('bad protos are INVALID_TABLE_DEFINITION naming the problem', () => {
  const cases: [unknown, RegExp][] = [
    [{ message: 'shop.v1.Nope', source: SOURCE }, /no message "shop.v1.Nope"/],
    [{ message: 'a.B', source: 'syntax = "proto3"; message B { strin x = 1; }' }, /does not parse|illegal|unresolvable/i],
    [{ message: 'a.B', source: 'syntax = "proto3"; package a; import "other/thing.proto"; message B { string x = 1; }' }, /not a well-known type/],
    [{ message: 'a.B' }, /proto must be/],
  ];
  for (const [proto, re] of cases) {
    assert.throws(
      () => parseTableDef({ name: 't', shardKey: 'x', proto }, 0),
      (err: unknown) => isSluiceError(err) && err.code === 'INVALID_TABLE_DEFINITION' && re.test(JSON.stringify(err.details) + err.message),
      JSON.stringify(proto),
    );
  }
});
