/**
 * Loki stream labels: the Prometheus-style string of a protobuf push
 * (escapes inside quotes, raw strings, whitespace), the object of a JSON
 * push, the canonical string built from either, and every refusal coded
 * INVALID_LABELS with the stream's path.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { isSluiceError } from '../../../../src/core/errors.ts';
import { canonicalLabels, labelsFromObject, labelsObject, parseLabelString, type LabelSet } from '../../../../src/api/http/protocols/loki/loki-labels.ts';

const P = '/streams/0/labels';

function refused(fn: () => unknown, pattern: RegExp): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(isSluiceError(err, 'INVALID_LABELS'), String(err));
    assert.equal(err.status, 400);
    assert.equal(err.details[0]?.path, P);
    assert.match(err.message, pattern);
    return true;
  });
}

test('a plain label string parses sorted by name, as winston-loki and Promtail send it', () => {
  assert.deepEqual(parseLabelString('{level="info",app="capt"}', P), [['app', 'capt'], ['level', 'info']]);
  assert.deepEqual(parseLabelString('  { job = "a" ,\n\tenv="prod" , }  ', P), [['env', 'prod'], ['job', 'a']], 'whitespace anywhere between tokens, a trailing comma');
  assert.deepEqual(parseLabelString("{a='single', b=`raw \\n \"x\"`}", P), [['a', 'single'], ['b', 'raw \\n "x"']], 'single quotes and raw backtick strings (no escapes in raw)');
});

test('escapes inside quotes are Go\'s: quotes, backslash, control characters, bytes and code points', () => {
  const [[, v]] = parseLabelString(String.raw`{m="say \"hi\"\\ \a\b\f\n\r\t\v \x41\101 \u00e9\U0001F600 \xc3\xa9 it\'s"}`, P) as [[string, string]];
  assert.equal(v, 'say "hi"\\ \x07\b\f\n\r\t\v AA é😀 é it\'s');
  assert.deepEqual(parseLabelString('{a="日本語 ok"}', P), [['a', '日本語 ok']], 'UTF-8 outside escapes passes through');
});

test('an empty value is no label; a set left empty is refused', () => {
  assert.deepEqual(parseLabelString('{a="", b="x"}', P), [['b', 'x']]);
  refused(() => parseLabelString('{}', P), /at least one label/);
  refused(() => parseLabelString('{a=""}', P), /at least one label/);
  refused(() => labelsFromObject({}, P), /at least one label/);
});

test('malformed label strings are refused with INVALID_LABELS and where', () => {
  const cases: [string, RegExp][] = [
    ['', /expected \{ but the labels end/],
    ['app="x"', /expected \{/],
    ['up{a="b"}', /expected \{/],
    ['{a="x"', /expected \} but the labels end/],
    ['{a="x"} extra', /text after the closing/],
    ['{a=x}', /expected a quoted label value/],
    ['{1a="x"}', /expected a label name/],
    ['{a-b="x"}', /expected =/],
    ['{a!="x"}', /only = names a label/],
    ['{a=~"x.*"}', /only = names a label/],
    ['{a="x" b="y"}', /expected \}/],
    ['{a="unterminated}', /not closed/],
    ['{a="x\\"}', /not closed/],
    ['{a="bad \\q escape"}', /unknown escape \\q/],
    ['{a="\\x4"}', /2 hex digits/],
    ['{a="\\400"}', /out of range/],
    ['{a="\\ud800"}', /surrogate/],
    ['{a="\\U00110000"}', /out of range/],
    ['{a="\\xff"}', /not UTF-8/],
    ['{a="line\nbreak"}', /newline inside a quoted value/],
    ['{a="x", a="y"}', /given twice/],
  ];
  for (const [text, pattern] of cases) refused(() => parseLabelString(text, P), pattern);
});

test('JSON stream objects: string values with label names only', () => {
  assert.deepEqual(labelsFromObject({ level: 'info', app: 'capt', empty: '' }, P), [['app', 'capt'], ['level', 'info']]);
  assert.deepEqual(labelsFromObject(JSON.parse('{"__proto__":"p","a":"b"}'), P), [['__proto__', 'p'], ['a', 'b']], '__proto__ is a label like any other');
  assert.throws(() => labelsFromObject({ n: 1 }, P), (e: unknown) => isSluiceError(e, 'INVALID_LABELS') && /number value/.test(e.message));
  assert.throws(() => labelsFromObject({ 'bad-name': 'x' }, P), (e: unknown) => isSluiceError(e, 'INVALID_LABELS') && /not a label name/.test(e.message));
  assert.throws(() => labelsFromObject({ 'a/b~c': 'x' }, P), (e: unknown) => isSluiceError(e, 'INVALID_LABELS') && e.details[0]?.path === `${P}/a~1b~0c`, 'the path is a JSON pointer');
  assert.throws(() => labelsFromObject(['a'], P), (e: unknown) => isSluiceError(e, 'INVALID_LABELS'));
  assert.throws(() => labelsFromObject(null, P), (e: unknown) => isSluiceError(e, 'INVALID_LABELS'));
  assert.throws(() => labelsFromObject({ a: '\ud800' }, P), (e: unknown) => isSluiceError(e, 'INVALID_LABELS') && /lone surrogate/.test(e.message));
});

test('the canonical string is sorted, quoted, and parses back to the same set', () => {
  const set = parseLabelString('{level="info",app="capt"}', P);
  assert.equal(canonicalLabels(set), '{app="capt", level="info"}');
  assert.deepEqual(Object.entries(labelsObject(set)), [['app', 'capt'], ['level', 'info']]);
  assert.equal(canonicalLabels(labelsFromObject({ level: 'info', app: 'capt' }, P)), '{app="capt", level="info"}', 'both encodings give one shard key');
  // Round trip over awkward values: quotes, backslashes, control characters, non-BMP.
  const alphabet = ['a', '"', '\\', '\n', '\t', '\x01', '\x7f', 'é', '😀', ' ', '{', '}', ',', '=', "'", '`'];
  let seed = 7;
  const rand = (n: number): number => {
    seed = (seed * 1103515245 + 12345) % 2 ** 31;
    return seed % n;
  };
  for (let i = 0; i < 300; i++) {
    const pairs: [string, string][] = [];
    const count = 1 + rand(4);
    for (let k = 0; k < count; k++) pairs.push([`l${k}_${rand(3)}`, Array.from({ length: 1 + rand(8) }, () => alphabet[rand(alphabet.length)]).join('')]);
    const unique = [...new Map(pairs).entries()];
    const set: LabelSet = labelsFromObject(Object.fromEntries(unique), P);
    assert.deepEqual(parseLabelString(canonicalLabels(set), P), set, canonicalLabels(set));
  }
});
