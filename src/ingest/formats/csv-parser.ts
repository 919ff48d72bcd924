/**
 * An RFC 4180 CSV parser over text holding whole records:
 *
 *   file    = record *(EOL record) [EOL]        EOL = CRLF | LF
 *   record  = field *("," field)
 *   field   = quoted | unquoted
 *   quoted  = DQUOTE *(any char except DQUOTE | 2DQUOTE) DQUOTE   (may span lines)
 *   unquoted= *(any char except "," CR LF DQUOTE)
 *
 * Departures, each for a reason:
 * - an unquoted empty field is `null` and a quoted one (`""`) is the empty
 *   string, as PostgreSQL's COPY … CSV reads them, so a CSV can say "absent"
 *   and "empty" apart;
 * - an empty line is no record (RFC 4180 would make it one empty field,
 *   which no header of two or more columns accepts);
 * - a lone CR inside an unquoted field is data.
 * A quote inside an unquoted field, text after a closing quote, and an
 * unterminated quote are errors naming the line: guessing there would
 * silently shift columns.
 */

const QUOTE = 34;
const COMMA = 44;
const LF = 10;
const CR = 13;

/** One field: text, or null for an unquoted empty field. */
export type CsvField = string | null;

/** A syntax error in a record (0-based within the parsed text) starting on a line (0-based within the text). */
export class CsvSyntaxError extends Error {
  readonly record: number;
  readonly line: number;
  /** 0-based field index within the record. */
  readonly field: number;
  constructor(message: string, record: number, line: number, field: number) {
    super(message);
    this.name = 'CsvSyntaxError';
    this.record = record;
    this.line = line;
    this.field = field;
  }
}

/** Called per record with its fields and the 0-based line it starts on; return false to stop. */
export type CsvVisitor = (fields: CsvField[], line: number) => boolean | void;

/** What a parse consumed. */
export interface CsvParseEnd {
  /** Records visited. */
  readonly records: number;
  /** Line breaks consumed (the line the next record would start on). */
  readonly lines: number;
  /** Index in the text after the last consumed record. */
  readonly end: number;
}

/** Parses records from `text[start..]`, visiting each; throws CsvSyntaxError. */
export function parseCsv(text: string, visit: CsvVisitor, start = 0): CsvParseEnd {
  const n = text.length;
  let i = start;
  let line = 0;
  let records = 0;
  while (i < n) {
    const first = text.charCodeAt(i);
    if (first === LF) {
      i++;
      line++;
      continue;
    }
    if (first === CR && text.charCodeAt(i + 1) === LF) {
      i += 2;
      line++;
      continue;
    }
    const recordLine = line;
    const fields: CsvField[] = [];
    for (;;) {
      if (text.charCodeAt(i) === QUOTE) {
        // Quoted: segments between quotes, `""` is one quote.
        let value = '';
        let j = i + 1;
        for (;;) {
          const q = text.indexOf('"', j);
          if (q === -1) {
            throw new CsvSyntaxError(`unterminated quoted field (opened on this line)`, records, recordLine, fields.length);
          }
          line += countLineFeeds(text, j, q);
          value += text.slice(j, q);
          if (text.charCodeAt(q + 1) === QUOTE) {
            value += '"';
            j = q + 2;
            continue;
          }
          i = q + 1;
          break;
        }
        fields.push(value);
      } else {
        let j = i;
        let c = text.charCodeAt(j);
        while (j < n && c !== COMMA && c !== LF && !(c === CR && text.charCodeAt(j + 1) === LF)) {
          if (c === QUOTE) {
            throw new CsvSyntaxError(`a quote inside an unquoted field (quote the whole field and double the quote: "a ""b"" c")${below(line - recordLine)}`, records, recordLine, fields.length);
          }
          c = text.charCodeAt(++j);
        }
        fields.push(j === i ? null : text.slice(i, j));
        i = j;
      }
      // After a field: a separator, the end of the record, or the end of the text.
      const c = text.charCodeAt(i);
      if (c === COMMA) {
        i++;
        continue;
      }
      if (c === LF) {
        i++;
        line++;
      } else if (c === CR && text.charCodeAt(i + 1) === LF) {
        i += 2;
        line++;
      } else if (i < n) {
        throw new CsvSyntaxError(`unexpected ${JSON.stringify(text[i])} after a closing quote (expected a comma or the end of the line)${below(line - recordLine)}`, records, recordLine, fields.length - 1);
      }
      break;
    }
    records++;
    if (visit(fields, recordLine) === false) return { records, lines: line, end: i };
  }
  return { records, lines: line, end: i };
}

/** Where a problem is when a quoted field made the row span lines: a missing closing quote often reads so. */
function below(lines: number): string {
  if (lines === 0) return '';
  return `, ${lines} line${lines === 1 ? '' : 's'} below the row's first line: a quoted field ran across ${lines === 1 ? 'a line break' : 'line breaks'}; is a closing quote missing?`;
}

function countLineFeeds(text: string, from: number, to: number): number {
  let count = 0;
  for (let k = text.indexOf('\n', from); k !== -1 && k < to; k = text.indexOf('\n', k + 1)) count++;
  return count;
}

/** The header record at the start of `text` (a UTF-8 BOM is dropped), and the index after it; undefined if `text` holds no whole record. */
export function parseCsvHeader(text: string): { names: string[]; end: number; lines: number } | undefined {
  const start = text.charCodeAt(0) === 0xfeff ? 1 : 0;
  let names: string[] | undefined;
  const end = parseCsv(
    text,
    (fields) => {
      names = fields.map((f) => (f ?? '').trim());
      return false;
    },
    start,
  );
  return names === undefined ? undefined : { names, end: end.end, lines: end.lines };
}

/** One field written as CSV: quoted when it must be (tests and tools write files with it). */
export function csvField(value: string | null): string {
  if (value === null) return '';
  if (value === '' || /[",\r\n]/.test(value)) return `"${value.replaceAll('"', '""')}"`;
  return value;
}
