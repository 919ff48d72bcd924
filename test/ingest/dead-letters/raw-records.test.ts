/**
 * raw-records: the bytes of record i of a body are exactly what its sender
 * sent, counted as decodeBody counts records (property-checked against it).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { decodeBody } from '../../../src/ingest/decode-body.ts';
import { rawRecordsAt, textSpans } from '../../../src/ingest/dead-letters/raw-records.ts';

const text = (b: Uint8Array): string => Buffer.from(b).toString('utf8');
const all = (body: string, format: 'json' | 'ndjson' | 'auto'): string[] => {
  const buf = Buffer.from(body);
  return rawRecordsAt({ body: buf, format }, textSpans(buf, format).map((_, i) => i)).map(text);
};

test('NDJSON: the i-th non-blank line, as sent (blank lines and CRLF are framing)', () => {
  const lines = ['{"a":1}', '  { "b" : [1, 2] }', '{"c":"é\\n"}'];
  assert.deepEqual(all(`${lines[0]}\r\n\n${lines[1]}\n   \n${lines[2]}`, 'ndjson'), ['{"a":1}', '{ "b" : [1, 2] }', '{"c":"é\\n"}']);
  assert.deepEqual(all(`${lines[0]}\n${lines[2]}\n`, 'auto'), [lines[0], lines[2]]);
});

test('a JSON array: each element cut at the top level, strings with brackets, commas and escaped quotes intact', () => {
  const elements = ['{"a":"x,]}"}', '{"b":"say \\"hi\\", [ok]"}', '{"c":[{"d":1},{"e":[2,3]}]}', '"not an object"', '17'];
  assert.deepEqual(all(`  [ ${elements.join(' ,\n ')} ]  `, 'auto'), elements);
  assert.deepEqual(all(`[${elements.join(',')}]`, 'json'), elements);
});

test('one object is the whole body, trimmed; lines of arrays are NDJSON, not one array', () => {
  assert.deepEqual(all(' \n{"a": {"b": "}"}}\n', 'auto'), ['{"a": {"b": "}"}}']);
  assert.deepEqual(all('[1,2]\n[3]', 'auto'), ['[1,2]', '[3]']);
  assert.deepEqual(all('[{"a":1},{"b":2}]', 'ndjson'), ['[{"a":1},{"b":2}]']);
});

test('framed bodies: frame i', () => {
  const frames = [Buffer.from('{"a":1}'), Buffer.from([0x08, 0x96, 0x01]), Buffer.from('{}')];
  const body = Buffer.concat(frames);
  const got = rawRecordsAt({ body, format: 'json', frames: Uint32Array.from(frames, (f) => f.length) }, [2, 1]);
  assert.deepEqual(got.map((b) => Buffer.from(b)), [frames[2], frames[1]]);
});

test('the record count matches decodeBody on generated bodies', () => {
  let seed = 7;
  const rand = (n: number): number => {
    seed = (seed * 1103515245 + 12345) % 2 ** 31;
    return seed % n;
  };
  const pieces = ['{"s":"a,b]"}', '{"n":[1,{"x":"}"}]}', '{"q":"\\"[\\""}', '{}', '{"u":"ü€"}'];
  for (let round = 0; round < 200; round++) {
    const records = Array.from({ length: 1 + rand(6) }, () => pieces[rand(pieces.length)] as string);
    const asArray = `[${records.join(rand(2) === 0 ? ',' : ' , ')}]`;
    const asLines = records.join(rand(2) === 0 ? '\n' : '\n\n');
    for (const [body, format] of [[asArray, 'auto'], [asLines, 'ndjson'], [asLines, 'auto']] as const) {
      const expected = decodeBody(Buffer.from(body), format).map((r) => JSON.stringify(r));
      assert.deepEqual(all(body, format).map((r) => JSON.stringify(JSON.parse(r))), expected, body);
    }
  }
});

test('NDJSON: a line of Unicode whitespace only is blank, as decodeBody counts it, so later records keep their own bytes', () => {
  for (const blank of ['\u00a0', '\ufeff', '\u2028', '\u3000', ' \u00a0\t']) {
    const body = `{"k":"a"}\n${blank}\n{"k":"b","v":"BAD"}\n{"k":"c"}\n`;
    assert.deepEqual(all(body, 'ndjson'), ['{"k":"a"}', '{"k":"b","v":"BAD"}', '{"k":"c"}'], JSON.stringify(blank));
    assert.equal(decodeBody(Buffer.from(body), 'ndjson').length, 3, 'decodeBody counts three records');
  }
});
