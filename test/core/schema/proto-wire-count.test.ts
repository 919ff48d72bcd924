/**
 * countProtoObjects: the objects a message decodes to, counted on its wire
 * bytes by its type (messages, repeated elements, map entries, packed bytes).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import protobuf from 'protobufjs';
import { countProtoObjects } from '../../../src/core/schema/proto-wire-count.ts';

const root = protobuf.parse(
  `syntax = "proto3"; package t;
   message Sub { string s = 1; repeated Sub kids = 2; }
   message M { string k = 1; int64 n = 2; repeated Sub items = 3; map<string, Sub> by_name = 4; map<int32, Sub> by_id = 7; repeated int32 nums = 5 [packed = true]; repeated string tags = 6; Sub one = 8; }`,
  { keepCase: true },
).root;
const M = root.lookupType('t.M');

test('counts the root, each nested message, repeated element, map entry and packed byte', () => {
  const bytes = M.encode(
    M.fromObject({
      k: 'key',
      n: 5,
      items: [{ s: 'a' }, { s: 'b', kids: [{ s: 'c' }] }],
      by_name: { x: { s: 'x' }, y: {} },
      by_id: { 7: { kids: [{}] } },
      tags: ['p', 'q'],
      one: { s: 'o' },
    }),
  ).finish();
  // root 1; items 2 + 1 kid; by_name 2 entries + 2 values; by_id 1 entry + 1 value + 1 kid; tags 2; one 1.
  assert.equal(countProtoObjects(M, bytes, Number.MAX_SAFE_INTEGER), 1 + 3 + 4 + 3 + 2 + 1);
  // nums packed (field 5, length 4: 1, 2, 300): at most one element per byte; unpacked, one per element.
  assert.equal(countProtoObjects(M, Uint8Array.of(0x2a, 0x04, 0x01, 0x02, 0xac, 0x02), 100), 1 + 4);
  assert.equal(countProtoObjects(M, Uint8Array.of(0x28, 0x01, 0x28, 0x02, 0x28, 0xac, 0x02), 100), 1 + 3);
  // Scalars of singular fields are not counted.
  assert.equal(countProtoObjects(M, M.encode(M.fromObject({ k: 'only', n: 1 })).finish(), 100), 1);
});

test('stops soon after the bound, and at bytes it cannot read', () => {
  const many = M.encode(M.fromObject({ items: Array.from({ length: 10_000 }, () => ({})) })).finish();
  assert.equal(countProtoObjects(M, many, Number.MAX_SAFE_INTEGER), 10_001);
  assert.ok(countProtoObjects(M, many, 100) <= 102);
  // A length past the end: the walk ends there (the decoder refuses the bytes itself).
  assert.equal(countProtoObjects(M, Uint8Array.of(0x1a, 0x7f, 0x00), 100), 1);
});
