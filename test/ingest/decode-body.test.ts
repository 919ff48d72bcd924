import { test } from 'node:test';
import assert from 'node:assert/strict';
import { bodyFormatOf, decodeBody, isDelimitedProtobuf } from '../../src/ingest/decode-body.ts';
import { isSluiceError } from '../../src/core/errors.ts';

const b = (s: string): Buffer => Buffer.from(s, 'utf8');

function code(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (err) {
    return isSluiceError(err) ? err.code : `not a SluiceError: ${String(err)}`;
  }
  return undefined;
}

test('content types map to body formats', () => {
  assert.equal(bodyFormatOf('application/json; charset=utf-8'), 'json');
  assert.equal(bodyFormatOf('application/x-ndjson'), 'ndjson');
  assert.equal(bodyFormatOf('Application/JSONL'), 'ndjson');
  assert.equal(bodyFormatOf(undefined), 'auto');
  assert.equal(bodyFormatOf('text/plain'), 'auto');
  // The last header's media type is remembered: the same header again, then others in turn, each read afresh.
  for (const [header, format] of [['text/plain', 'auto'], ['application/json', 'json'], ['application/json', 'json'], [undefined, 'auto'], ['application/ndjson', 'ndjson'], ['', 'auto']] as const) {
    assert.equal(bodyFormatOf(header), format, `${String(header)} after the header before it`);
  }
  assert.equal(isDelimitedProtobuf('application/x-protobuf'), true);
  assert.equal(bodyFormatOf('application/x-protobuf'), 'auto');
  assert.equal(isDelimitedProtobuf('application/json'), false);
  assert.equal(isDelimitedProtobuf('Application/Protobuf; proto=x'), true);
});

test('an object, an array and NDJSON decode to records in order', () => {
  assert.deepEqual(decodeBody(b('{"a":1}'), 'json'), [{ a: 1 }]);
  assert.deepEqual(decodeBody(b('[{"a":1},{"a":2}]'), 'json'), [{ a: 1 }, { a: 2 }]);
  assert.deepEqual(decodeBody(b('{"a":1}\n\n{"a":2}\r\n{"a":3}\n'), 'ndjson'), [{ a: 1 }, { a: 2 }, { a: 3 }]);
  // auto: one JSON value is JSON, several lines are NDJSON
  assert.deepEqual(decodeBody(b('{"a":1}\n'), 'auto'), [{ a: 1 }]);
  assert.deepEqual(decodeBody(b('{"a":1}\n{"a":2}'), 'auto'), [{ a: 1 }, { a: 2 }]);
});

test('a bad NDJSON line is named by record index and line number', () => {
  try {
    decodeBody(b('{"a":1}\n\n{"a":\n'), 'ndjson');
    assert.fail('should throw');
  } catch (err) {
    assert.ok(isSluiceError(err, 'INVALID_JSON'));
    assert.equal(err.details[0]?.index, 1);
    assert.match(err.message, /line 3/);
  }
});

test('empty, whitespace-only, empty array and invalid UTF-8 bodies are refused with their codes', () => {
  assert.equal(code(() => decodeBody(b(''), 'json')), 'EMPTY_BODY');
  assert.equal(code(() => decodeBody(b('[]'), 'json')), 'EMPTY_BODY');
  assert.equal(code(() => decodeBody(b('\n\n'), 'ndjson')), 'EMPTY_BODY');
  assert.equal(code(() => decodeBody(Buffer.from([0x7b, 0xc3, 0x28, 0x7d]), 'json')), 'INVALID_ENCODING');
  assert.equal(code(() => decodeBody(b('{"a":NaN}'), 'json')), 'INVALID_JSON');
  assert.equal(code(() => decodeBody(b('{"a":1}{"a":2}'), 'json')), 'INVALID_JSON');
});

test('pathological nesting never crashes the parser', () => {
  const deep = '['.repeat(500_000) + ']'.repeat(500_000);
  const out = code(() => decodeBody(b(deep), 'json'));
  // V8 parses it iteratively (then validation refuses the depth) or refuses it as invalid JSON.
  assert.ok(out === undefined || out === 'INVALID_JSON', String(out));
});
