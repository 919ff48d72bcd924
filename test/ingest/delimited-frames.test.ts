import assert from 'node:assert/strict';
import { test } from 'node:test';
import protobuf from 'protobufjs';
import { splitDelimited } from '../../src/ingest/delimited-frames.ts';
import { isSluiceError } from '../../src/core/errors.ts';

test('splitDelimited gives back the messages protobufjs wrote delimited, lengths past one varint byte included', () => {
  const messages = [Buffer.alloc(0), Buffer.from('a'), Buffer.alloc(300, 7), Buffer.alloc(70_000, 9)];
  const w = protobuf.Writer.create();
  for (const m of messages) w.bytes(m);
  const { body, frames } = splitDelimited(Buffer.from(w.finish()));
  assert.deepEqual([...frames], messages.map((m) => m.length));
  assert.ok(body.equals(Buffer.concat(messages)));
});

test('splitDelimited refuses a truncated message, a runaway varint and an empty body', () => {
  const code = (input: Buffer): string => {
    try {
      splitDelimited(input);
    } catch (err) {
      assert.ok(isSluiceError(err));
      return err.code;
    }
    return 'accepted';
  };
  assert.equal(code(Buffer.from([5, 1, 2])), 'INVALID_PROTOBUF');
  assert.equal(code(Buffer.from([0x80, 0x80, 0x80, 0x80, 0x80, 0x01])), 'INVALID_PROTOBUF');
  assert.equal(code(Buffer.from([0x80])), 'INVALID_PROTOBUF');
  assert.equal(code(Buffer.alloc(0)), 'EMPTY_BODY');
});
