/**
 * The RFC 4180 parser and the record splitter: quoting, line endings,
 * null versus empty, errors with their line, and a property test that
 * any records written with `csvField`, cut into chunks at any read sizes,
 * parse back to the same fields.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CsvSyntaxError, csvField, parseCsv, parseCsvHeader, type CsvField } from '../../src/ingest/formats/csv-parser.ts';
import { RecordSplitter } from '../../src/ingest/formats/record-splitter.ts';
import { prng } from '../support/prng.ts';

function parseAll(text: string): { fields: CsvField[]; line: number }[] {
  const out: { fields: CsvField[]; line: number }[] = [];
  parseCsv(text, (fields, line) => {
    out.push({ fields, line });
  });
  return out;
}

function syntaxError(text: string): CsvSyntaxError {
  try {
    parseCsv(text, () => true);
  } catch (err) {
    if (err instanceof CsvSyntaxError) return err;
    throw err;
  }
  assert.fail(`no error for ${JSON.stringify(text)}`);
}

test('RFC 4180: quoted separators, doubled quotes, line breaks in fields, CRLF and LF', () => {
  const text = 'a,"b,c","say ""hi"""\r\n"multi\nline",,""\n\nlast,x,y';
  assert.deepEqual(parseAll(text), [
    { fields: ['a', 'b,c', 'say "hi"'], line: 0 },
    { fields: ['multi\nline', null, ''], line: 1 },
    { fields: ['last', 'x', 'y'], line: 4 },
  ]);
});

test('an unquoted empty field is null, a quoted one the empty string; a trailing comma is one more field', () => {
  assert.deepEqual(parseAll(',"",x,\n'), [{ fields: [null, '', 'x', null], line: 0 }]);
  assert.deepEqual(parseAll('"",\n'), [{ fields: ['', null], line: 0 }]);
});

test('syntax errors name the record, the line and the field', () => {
  const unterminated = syntaxError('a,b\nc,"open\nmore\n');
  assert.equal(unterminated.record, 1);
  assert.equal(unterminated.line, 1);
  assert.equal(unterminated.field, 1);
  assert.match(unterminated.message, /unterminated quoted field/);

  const inner = syntaxError('a,b\nc,d"e\n');
  assert.equal(inner.record, 1);
  assert.equal(inner.line, 1);
  assert.equal(inner.field, 1);
  assert.match(inner.message, /quote inside an unquoted field/);

  const after = syntaxError('"x"\n"a"b,c\n');
  assert.equal(after.record, 1);
  assert.equal(after.field, 0);
  assert.match(after.message, /"b" after a closing quote/);
});

test('the header: a BOM is dropped, names are trimmed, and the index after it is returned', () => {
  const h = parseCsvHeader('\ufeff id ,"name"\r\n1,a\n');
  assert.deepEqual(h?.names, ['id', 'name']);
  assert.equal(h?.lines, 1);
  assert.equal('\ufeff id ,"name"\r\n1,a\n'.slice(h?.end), '1,a\n');
  assert.equal(parseCsvHeader(''), undefined);
});

/** Random fields with everything that needs quoting. */
function randomRecords(rand: () => number, count: number, width: number): CsvField[][] {
  const alphabet = ['a', 'b', ',', '"', '\n', '\r\n', ' ', 'é', '😀', '""', 'x'];
  return Array.from({ length: count }, () =>
    Array.from({ length: width }, () => {
      const r = rand();
      if (r < 0.1) return null;
      if (r < 0.15) return '';
      return Array.from({ length: 1 + Math.floor(rand() * 6) }, () => alphabet[Math.floor(rand() * alphabet.length)]).join('');
    }),
  );
}

test('property: records written with csvField parse back to the same fields', () => {
  for (let seed = 1; seed <= 50; seed++) {
    const rand = prng(seed);
    const width = 1 + Math.floor(rand() * 5);
    const records = randomRecords(rand, 40, width).filter((r) => !(r.length === 1 && r[0] === null));
    const eol = seed % 2 === 0 ? '\r\n' : '\n';
    const text = records.map((r) => r.map(csvField).join(',')).join(eol) + (seed % 3 === 0 ? '' : eol);
    assert.deepEqual(
      parseAll(text).map((r) => r.fields),
      records,
      `seed ${seed}`,
    );
  }
});

test('property: the splitter cuts only between records, whatever the read sizes', () => {
  for (let seed = 1; seed <= 40; seed++) {
    const rand = prng(1000 + seed);
    const records = randomRecords(rand, 200, 3);
    const text = records.map((r) => r.map(csvField).join(',')).join('\n') + '\n';
    const bytes = Buffer.from(text);
    const chunkBytes = 1 + Math.floor(rand() * 300);
    const splitter = new RecordSplitter({ chunkBytes, quotes: true }, 0);
    const chunks: Buffer[] = [];
    let offset = 0;
    for (let at = 0; at < bytes.length; ) {
      const n = 1 + Math.floor(rand() * 97);
      for (const chunk of splitter.push(bytes.subarray(at, at + n))) {
        assert.equal(chunk.offset, offset, 'chunks are contiguous');
        offset += chunk.bytes.length;
        chunks.push(chunk.bytes);
      }
      at += n;
    }
    const last = splitter.end();
    if (last !== undefined) chunks.push(last.bytes);
    assert.ok(chunks.length > 1 || bytes.length < 300, `seed ${seed}: the text was cut`);
    // Cut at the first boundary past chunkBytes: never much longer than a record past it.
    for (const c of chunks.slice(0, -1)) assert.ok(c.length < chunkBytes + 200, `seed ${seed}: chunk of ${c.length} for ${chunkBytes}`);
    assert.equal(Buffer.concat(chunks).toString(), text);
    // Every chunk holds whole records: parsed alone, the chunks give the records in order.
    const parsed = chunks.flatMap((c) => parseAll(c.toString()).map((r) => r.fields));
    assert.deepEqual(parsed, records, `seed ${seed}`);
  }
});

test('the NDJSON splitter cuts after line feeds; its chunks own their memory (transferable)', () => {
  // Under chunkBytes: nothing yet.
  assert.deepEqual(new RecordSplitter({ chunkBytes: 100, quotes: false }).push(Buffer.from('{"a":1}\n{"a"')), []);
  const a = new RecordSplitter({ chunkBytes: 10, quotes: false }, 100);
  // Cut at the first line feed at least 10 bytes in (16), then none until 26: the rest waits.
  const [first, none] = a.push(Buffer.from('{"a":1}\n{"a":2}\n{"a":3}\n{"a"'));
  assert.equal(none, undefined);
  assert.equal(first?.offset, 100);
  assert.equal(first?.bytes.toString(), '{"a":1}\n{"a":2}\n');
  assert.equal(first?.bytes.byteOffset, 0);
  assert.equal(first?.bytes.buffer.byteLength, first?.bytes.length);
  const rest = a.end();
  assert.equal(rest?.offset, 116);
  assert.equal(rest?.bytes.toString(), '{"a":3}\n{"a"');
});
