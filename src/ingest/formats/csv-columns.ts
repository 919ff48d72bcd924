/**
 * CSV columns against a table: which field each header name is, and how a
 * cell's text becomes the JSON value the write path validates for that
 * field's type. Coercion only decides the JSON shape (a number, a boolean,
 * parsed JSON); ranges, formats and lengths are checked by the schema on
 * the node, like any other write, so both paths refuse the same things.
 *
 *   field type  cell text                      JSON value
 *   string      any                            the text ("" only when quoted)
 *   int         [+-]digits                     number when safe, else the digits as a string
 *   float       a decimal or exponent number   number (NaN and ±Infinity are refused)
 *   bool        true/false, t/f, yes/no, 1/0   boolean (case-insensitive)
 *   timestamp   ISO-8601, or [-]digits         the text, or epoch ms as a number
 *   decimal     the exact text                 string (never through a float)
 *   bytes       base64                         string
 *   json        JSON text                      the parsed value
 *
 * An empty cell is an absent value (the field's default applies); for a
 * string field only an unquoted one is, and `""` is the empty string.
 * Text around non-string values is trimmed.
 */
import { SluiceError, type ErrorDetail } from '../../core/errors.ts';
import type { FieldType, TableDef } from '../../core/schema/table-def.ts';
import type { CsvField } from './csv-parser.ts';
import { ValueProblem } from './json-value.ts';
import { taskJsonBudget } from './json-containers.ts';

/** One CSV column: its header name and what its cells become. */
export interface CsvColumn {
  /** The header name, also the key of the value in the record. */
  readonly name: string;
  /** Undefined for an extra column of a table that keeps extra fields (the text is kept). */
  readonly type: FieldType | undefined;
}

/** The columns of a CSV header for `def`; throws SCHEMA_VIOLATION naming every unusable column. */
export function planCsvColumns(header: readonly string[], def: TableDef): CsvColumn[] {
  const byName = new Map<string, FieldType>();
  for (const f of def.fields) {
    byName.set(f.name, f.type);
    for (const a of f.aliases ?? []) byName.set(a.name, f.type);
  }
  const problems: ErrorDetail[] = [];
  const seen = new Set<string>();
  const columns = header.map((name, i): CsvColumn => {
    if (name === '') problems.push({ path: `/${i}`, message: `header column ${i + 1} has no name` });
    else if (seen.has(name)) problems.push({ path: `/${name}`, message: `column "${name}" appears twice in the header` });
    seen.add(name);
    const type = byName.get(name);
    if (type === undefined && name !== '' && def.extraFields !== 'keep') {
      problems.push({ path: `/${name}`, message: `column "${name}" is not a field of table ${def.name}` });
    }
    return { name, type };
  });
  for (const f of def.fields) {
    const named = seen.has(f.name) || (f.aliases ?? []).some((a) => seen.has(a.name));
    if (f.required && f.default === undefined && !named) {
      problems.push({ path: `/${f.name}`, message: `required field "${f.name}" of table ${def.name} has no column in the CSV header` });
    }
  }
  if (problems.length > 0) {
    const more = problems.length > 1 ? ` (and ${problems.length - 1} more)` : '';
    throw new SluiceError('SCHEMA_VIOLATION', `the CSV header does not match table ${def.name}: ${problems[0]?.message}${more}`, problems);
  }
  return columns;
}

const INT_RE = /^[+-]?[0-9]+$/;
const FLOAT_RE = /^[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?$/;
/** Digits that always fit a double exactly (below 2^53). */
const SAFE_DIGITS_MAX = 15;

/** The JSON value of one cell, undefined for an absent value, or a ValueProblem (the cell cannot become its field's type). */
export function coerceCell(type: FieldType | undefined, cell: CsvField): unknown {
  if (cell === null) return undefined;
  if (type === 'string' || type === undefined) return cell;
  const text = cell.trim();
  // An empty non-string cell is absent even when quoted: tools that quote every field write `""` for none.
  if (text === '') return undefined;
  switch (type) {
    case 'int':
      return coerceInt(text);
    case 'float': {
      if (!FLOAT_RE.test(text)) return new ValueProblem(`expected a number, got ${quote(text)}`);
      const n = Number(text);
      return Number.isFinite(n) ? n : new ValueProblem(`${quote(text)} is beyond the range of a double`);
    }
    case 'bool':
      return coerceBool(text);
    case 'timestamp':
      if (INT_RE.test(text)) return coerceInt(text);
      return text;
    case 'decimal':
    case 'bytes':
      return text;
    case 'json': {
      const tooLarge = taskJsonBudget.take(text);
      if (tooLarge !== undefined) return new ValueProblem(tooLarge);
      try {
        return JSON.parse(text) as unknown;
      } catch (err) {
        return new ValueProblem(`expected JSON text: ${(err as Error).message}`);
      }
    }
  }
}

function coerceInt(text: string): number | string | ValueProblem {
  if (!INT_RE.test(text)) return new ValueProblem(`expected an integer, got ${quote(text)}`);
  const digits = text.charCodeAt(0) === 43 /* + */ ? text.slice(1) : text;
  const unsigned = digits.charCodeAt(0) === 45 /* - */ ? digits.length - 1 : digits.length;
  // Past 15 digits a double may round: the decimal string goes on exactly and the schema checks the int64 range.
  return unsigned <= SAFE_DIGITS_MAX ? Number(digits) : digits;
}

const TRUE = new Set(['true', 't', 'yes', 'y', '1']);
const FALSE = new Set(['false', 'f', 'no', 'n', '0']);

function coerceBool(text: string): boolean | ValueProblem {
  const lower = text.toLowerCase();
  if (TRUE.has(lower)) return true;
  if (FALSE.has(lower)) return false;
  return new ValueProblem(`expected a boolean (true/false, t/f, yes/no, 1/0), got ${quote(text)}`);
}

function quote(text: string): string {
  return JSON.stringify(text.length > 40 ? `${text.slice(0, 40)}…` : text);
}
