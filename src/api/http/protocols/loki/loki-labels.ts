/**
 * Loki stream labels: the Prometheus-style string a protobuf push carries
 * (`{level="info", app="capt"}`), or the object a JSON push carries, turned
 * into one sorted label set and its canonical string, the table's shard key.
 *
 * Grammar of the string (PromQL's label set, `=` matchers only):
 *
 *   labels := ws '{' ws [ pair ( ws ',' ws pair )* [ ws ',' ] ] ws '}' ws
 *   pair   := name ws '=' ws quoted
 *   name   := [A-Za-z_][A-Za-z0-9_]*
 *   quoted := '"' chars '"' | "'" chars "'" | '`' raw '`'
 *
 * Inside `"…"` and `'…'` the escapes are Go's (strconv.Unquote, which Loki
 * and Prometheus use): \a \b \f \n \r \t \v \\ \" \' , \xHH and \OOO (a
 * byte), \uHHHH and \UHHHHHHHH (a code point); the bytes must form UTF-8.
 * A backtick string is raw (Go drops its carriage returns). A label with an
 * empty value is the same as no label (Prometheus's data model; Loki trims
 * them too); a set left with no label, a repeated name, or another matcher
 * (`!=`, `=~`) is refused.
 */
import { SluiceError } from '../../../../core/errors.ts';
import { pointerToken } from '../../../../core/schema/violation.ts';

/** Labels sorted by name, each name once, no empty values. */
export type LabelSet = readonly (readonly [name: string, value: string])[];

const NAME_RE = /[A-Za-z_][A-Za-z0-9_]*/y;
const SPACE_RE = /[ \t\r\n]*/y;
const SIMPLE_ESCAPES: Readonly<Record<string, number>> = { a: 7, b: 8, f: 12, n: 10, r: 13, t: 9, v: 11, '\\': 92, '"': 34, "'": 39 };
const utf8 = new TextDecoder('utf-8', { fatal: true });

/** A label problem: 400 INVALID_LABELS naming where (`path`) and what. */
function bad(path: string, message: string): SluiceError {
  return new SluiceError('INVALID_LABELS', `invalid stream labels at ${path}: ${message}`, [{ path, message }]);
}

/** Parses a Loki label string into a sorted label set; `path` names the stream in errors. */
export function parseLabelString(text: string, path: string): LabelSet {
  const p = new Cursor(text, path);
  p.space();
  p.expect('{');
  const pairs: [string, string][] = [];
  p.space();
  while (!p.peek('}')) {
    const name = p.name();
    p.space();
    if (p.peek('!') || p.peek('=~')) throw p.fail(`label ${name}: only = names a label in a push, not a matcher like != or =~`);
    p.expect('=');
    p.space();
    pairs.push([name, p.quoted()]);
    p.space();
    if (!p.peek(',')) break;
    p.expect(',');
    p.space();
  }
  p.expect('}');
  p.space();
  if (!p.atEnd()) throw p.fail('text after the closing }');
  return labelSet(pairs, path);
}

/** Checks a JSON push's `stream` object (names to string values) and returns its sorted label set. */
export function labelsFromObject(value: unknown, path: string): LabelSet {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw bad(path, 'stream labels are a JSON object of names to string values');
  const pairs: [string, string][] = [];
  for (const [name, v] of Object.entries(value)) {
    if (typeof v !== 'string') throw bad(`${path}/${pointerToken(name)}`, `label ${name} has a ${v === null ? 'null' : typeof v} value; label values are strings`);
    if (!isLabelName(name)) throw bad(`${path}/${pointerToken(name)}`, `${JSON.stringify(name)} is not a label name ([A-Za-z_][A-Za-z0-9_]*)`);
    pairs.push([name, v]);
  }
  return labelSet(pairs, path);
}

/** The canonical string of a label set: `{a="x", b="y"}`, sorted, values quoted so that parseLabelString reads them back. */
export function canonicalLabels(labels: LabelSet): string {
  let out = '{';
  for (let i = 0; i < labels.length; i++) {
    const [name, value] = labels[i] as readonly [string, string];
    // JSON's quoting is a subset of Go's: \" \\ \n \r \t \b \f \uHHHH (values are well-formed, so no lone surrogates).
    out += `${i === 0 ? '' : ', '}${name}=${JSON.stringify(value)}`;
  }
  return `${out}}`;
}

/** The label set as an object (JSON `labels` field), in name order. */
export function labelsObject(labels: LabelSet): Record<string, string> {
  // No prototype: a label named __proto__ is a label like any other.
  const out = Object.create(null) as Record<string, string>;
  for (const [name, value] of labels) out[name] = value;
  return out;
}

function isLabelName(name: string): boolean {
  NAME_RE.lastIndex = 0;
  return NAME_RE.test(name) && NAME_RE.lastIndex === name.length;
}

/** Sorts, drops empty values, refuses repeats, ill-formed Unicode and an empty set. */
function labelSet(pairs: [string, string][], path: string): LabelSet {
  const kept = pairs.filter(([, v]) => v !== '');
  kept.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
  for (let i = 0; i < kept.length; i++) {
    const [name, value] = kept[i] as [string, string];
    if (i > 0 && kept[i - 1]?.[0] === name) throw bad(path, `label ${name} is given twice`);
    if (!value.isWellFormed()) throw bad(path, `label ${name} is not well-formed Unicode (a lone surrogate)`);
  }
  if (kept.length === 0) throw bad(path, 'a stream needs at least one label with a non-empty value');
  return kept;
}

/** A reading position in a label string. */
class Cursor {
  private pos = 0;
  private readonly text: string;
  private readonly path: string;

  constructor(text: string, path: string) {
    this.text = text;
    this.path = path;
  }

  fail(message: string): SluiceError {
    return bad(this.path, `${message} (character ${this.pos} of ${JSON.stringify(this.text.length > 200 ? `${this.text.slice(0, 200)}…` : this.text)})`);
  }

  atEnd(): boolean {
    return this.pos >= this.text.length;
  }

  peek(token: string): boolean {
    return this.text.startsWith(token, this.pos);
  }

  expect(token: string): void {
    if (!this.peek(token)) throw this.fail(this.atEnd() ? `expected ${token} but the labels end` : `expected ${token}`);
    this.pos += token.length;
  }

  space(): void {
    SPACE_RE.lastIndex = this.pos;
    SPACE_RE.test(this.text);
    this.pos = SPACE_RE.lastIndex;
  }

  name(): string {
    NAME_RE.lastIndex = this.pos;
    if (!NAME_RE.test(this.text)) throw this.fail('expected a label name ([A-Za-z_][A-Za-z0-9_]*)');
    const name = this.text.slice(this.pos, NAME_RE.lastIndex);
    this.pos = NAME_RE.lastIndex;
    return name;
  }

  quoted(): string {
    const quote = this.text[this.pos];
    if (quote !== '"' && quote !== "'" && quote !== '`') throw this.fail('expected a quoted label value');
    const start = ++this.pos;
    const end = this.text.indexOf(quote, start);
    if (quote === '`') {
      if (end < 0) throw this.fail('the raw string is not closed');
      this.pos = end + 1;
      return this.text.slice(start, end).replaceAll('\r', '');
    }
    // Fast path: no escape before the closing quote.
    if (end >= 0 && !this.text.slice(start, end).includes('\\')) return this.plain(start, end);
    return this.escaped(quote);
  }

  private plain(start: number, end: number): string {
    const value = this.text.slice(start, end);
    if (value.includes('\n')) throw this.fail('a newline inside a quoted value (write \\n)');
    this.pos = end + 1;
    return value;
  }

  /** A quoted value with escapes, read as bytes (\x and octal escapes are bytes, as in Go) and decoded as UTF-8. */
  private escaped(quote: string): string {
    const bytes: number[] = [];
    for (;;) {
      const c = this.text[this.pos];
      if (c === undefined) throw this.fail('the quoted value is not closed');
      if (c === quote) break;
      if (c === '\n') throw this.fail('a newline inside a quoted value (write \\n)');
      if (c !== '\\') {
        const cp = this.text.codePointAt(this.pos) as number;
        pushUtf8(bytes, cp);
        this.pos += cp > 0xffff ? 2 : 1;
        continue;
      }
      this.pos++;
      this.escape(bytes);
    }
    this.pos++;
    try {
      return utf8.decode(Uint8Array.from(bytes));
    } catch {
      throw this.fail('the escaped bytes of a value are not UTF-8');
    }
  }

  private escape(bytes: number[]): void {
    const e = this.text[this.pos];
    if (e === undefined) throw this.fail('the labels end inside an escape');
    const simple = SIMPLE_ESCAPES[e];
    if (simple !== undefined) {
      bytes.push(simple);
      this.pos++;
      return;
    }
    if (e === 'x') return void bytes.push(this.digits(1, 2, 16, 0xff));
    if (e >= '0' && e <= '7') return void bytes.push(this.digits(0, 3, 8, 0xff));
    if (e === 'u' || e === 'U') {
      const cp = this.digits(1, e === 'u' ? 4 : 8, 16, 0x10ffff);
      if (cp >= 0xd800 && cp <= 0xdfff) throw this.fail(`\\${e} escape of a surrogate code point`);
      return void pushUtf8(bytes, cp);
    }
    throw this.fail(`unknown escape \\${e}`);
  }

  /** `count` digits of `radix` after skipping `skip` characters; their value, at most `max`. */
  private digits(skip: number, count: number, radix: number, max: number): number {
    const start = this.pos + skip;
    const text = this.text.slice(start, start + count);
    const re = radix === 16 ? /^[0-9A-Fa-f]+$/ : /^[0-7]+$/;
    if (text.length !== count || !re.test(text)) throw this.fail(`an escape needs ${count} ${radix === 16 ? 'hex' : 'octal'} digits`);
    const value = Number.parseInt(text, radix);
    if (value > max) throw this.fail(`escape value ${text} is out of range`);
    this.pos = start + count;
    return value;
  }
}

/** Appends the UTF-8 bytes of code point `cp`. */
function pushUtf8(bytes: number[], cp: number): void {
  if (cp < 0x80) bytes.push(cp);
  else if (cp < 0x800) bytes.push(0xc0 | (cp >> 6), 0x80 | (cp & 0x3f));
  else if (cp < 0x10000) bytes.push(0xe0 | (cp >> 12), 0x80 | ((cp >> 6) & 0x3f), 0x80 | (cp & 0x3f));
  else bytes.push(0xf0 | (cp >> 18), 0x80 | ((cp >> 12) & 0x3f), 0x80 | ((cp >> 6) & 0x3f), 0x80 | (cp & 0x3f));
}
