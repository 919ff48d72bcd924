/**
 * The `_bulk` body grammar (Elasticsearch 8), as senders write it:
 *
 *   body    = *( blank / op )
 *   op      = action-line LF source-line LF     ; index, create, update
 *           / action-line LF                    ; delete
 *   action-line = {"<action>": {"_index"?: s, "_id"?: s|n, …}}
 *   blank   = a line of only whitespace (rsyslog puts one between ops)
 *
 * Lines end with LF (a CR before it is dropped). Blank lines are skipped
 * everywhere, also between an action and its source. An action line that
 * is not one JSON object naming a known action, or an action without its
 * source line, breaks the pairing of every line after it: the request is
 * refused whole (400, nothing written). A source line that is not a JSON
 * object spoils only its own op (a per-item error).
 */
import { SluiceError } from '../../../../core/errors.ts';

/** The actions of the `_bulk` grammar; sluice stores `index` and `create`, and answers the others per item. */
export const BULK_ACTIONS = ['index', 'create', 'update', 'delete'] as const;
/** One `_bulk` action. */
export type BulkAction = (typeof BULK_ACTIONS)[number];

/** One op of a `_bulk` body. */
export interface BulkOp {
  readonly action: BulkAction;
  /** `_index` of the action line, if any. */
  readonly index: string | undefined;
  /** `_id` of the action line as a string, if any. */
  readonly id: string | undefined;
  /** 1-based line of the action. */
  readonly line: number;
  /**
   * Where the source line (trimmed) lies in the body, bytes [start, end);
   * absent for `delete`. It is not parsed here: the decode worker parses
   * each document once (frame-envelope.ts), see `sourceProblem`.
   */
  readonly source?: { readonly start: number; readonly end: number };
}

/** An action line's meaning. */
interface ParsedAction {
  readonly action: BulkAction;
  readonly index: string | undefined;
  readonly id: string | undefined;
}

/**
 * Action lines as parsed, by their text, and the last one's bytes: a
 * shipper repeats one line for every document, and a line equal to the
 * previous one is recognised without making a string of it.
 */
interface ActionCache {
  readonly byText: Map<string, ParsedAction>;
  last: { start: number; end: number; parsed: ParsedAction } | undefined;
}

/** Splits and pairs a `_bulk` body; throws BAD_REQUEST when the pairing itself is broken. */
export function parseBulkBody(body: Buffer): BulkOp[] {
  const ops: BulkOp[] = [];
  const lines = new NonBlankLines(body);
  const cache: ActionCache = { byText: new Map(), last: undefined };
  while (lines.next()) {
    const line = lines.line;
    const { action, index, id } = actionOf(body, lines.start, lines.end, line, cache);
    if (action === 'delete') {
      ops.push({ action, index, id, line });
      continue;
    }
    if (!lines.next()) throw malformed(line, `the ${action} action has no source line after it`);
    ops.push({ action, index, id, line, source: { start: lines.start, end: lines.end } });
  }
  return ops;
}

/** A body whose every op is the same `index` or `create` action line without `_id` (what shippers send). */
export interface UniformOps {
  readonly action: 'index' | 'create';
  /** `_index` of the action line, if any. */
  readonly index: string | undefined;
  /** Ops in the body. */
  readonly count: number;
  /** The source lines' byte ranges: start and end of op k at 2k and 2k + 1. */
  readonly sources: number[];
}

/**
 * The body as UniformOps, or undefined when it is not that (any other
 * action, an `_id`, two different action lines, a malformed line): such a
 * body takes `parseBulkBody`, which says what is wrong with it. No object
 * per op: the ranges are one array of numbers.
 */
export function uniformOps(body: Buffer): UniformOps | undefined {
  const lines = new NonBlankLines(body);
  if (!lines.next()) return undefined;
  const first = { start: lines.start, end: lines.end };
  let parsed: ParsedAction;
  try {
    parsed = parseActionLine(body.toString('utf8', first.start, first.end), lines.line);
  } catch {
    return undefined;
  }
  const action = parsed.action;
  if ((action !== 'index' && action !== 'create') || parsed.id !== undefined) return undefined;
  const sources: number[] = [];
  for (;;) {
    if (!lines.next()) return undefined;
    sources.push(lines.start, lines.end);
    if (!lines.next()) break;
    if (!sameBytes(body, first.start, lines.start, lines.end - lines.start, first.end - first.start)) return undefined;
  }
  return { action, index: parsed.index, count: sources.length / 2, sources };
}

/** Why a source line is not a document (not JSON, or not an object), or undefined; parses it. */
export function sourceProblem(body: Buffer, source: { readonly start: number; readonly end: number }): string | undefined {
  let doc: unknown;
  try {
    doc = JSON.parse(body.toString('utf8', source.start, source.end));
  } catch (err) {
    return `the source is not valid JSON: ${(err as Error).message}`;
  }
  return isObject(doc) ? undefined : 'the source must be a JSON object';
}

const LF = 0x0a;

/**
 * A cursor over the lines that hold more than whitespace, trimmed, as
 * byte ranges with their 1-based numbers (no object per line: two per
 * document were garbage on the main thread).
 */
class NonBlankLines {
  private readonly body: Buffer;
  private readonly range = { start: 0, end: 0 };
  /** Where the next line begins (past the end: no more lines). */
  private at = 0;
  private nextLine = 1;
  start = 0;
  end = 0;
  line = 0;

  constructor(body: Buffer) {
    this.body = body;
  }

  /** Moves to the next non-blank line; false when there is none. */
  next(): boolean {
    const body = this.body;
    while (this.at <= body.length) {
      let end = body.indexOf(LF, this.at);
      if (end < 0) end = body.length;
      trimmed(body, this.at, end, this.range);
      const line = this.nextLine;
      this.at = end + 1;
      this.nextLine++;
      if (this.range.start < this.range.end) {
        this.start = this.range.start;
        this.end = this.range.end;
        this.line = line;
        return true;
      }
    }
    return false;
  }
}

/**
 * Sets `out` to [start, end) without the whitespace `String.prototype.trim`
 * removes: ASCII by bytes; a line that begins or ends with a non-ASCII byte
 * is trimmed as text (a BOM, a no-break space), which is rare. (`out` is
 * reused: a tuple per line was garbage on the main thread.)
 */
function trimmed(body: Buffer, start: number, end: number, out: { start: number; end: number }): void {
  let s = start;
  let e = end;
  while (s < e && isAsciiSpace(body[s] as number)) s++;
  while (e > s && isAsciiSpace(body[e - 1] as number)) e--;
  out.start = s;
  out.end = e;
  if (s === e || ((body[s] as number) < 0x80 && (body[e - 1] as number) < 0x80)) return;
  const text = body.toString('utf8', s, e);
  const lead = text.length - text.trimStart().length;
  const trail = text.length - text.trimEnd().length;
  if (lead + trail >= text.length) {
    out.end = s;
    return;
  }
  out.start = s + Buffer.byteLength(text.slice(0, lead));
  out.end = e - Buffer.byteLength(text.slice(text.length - trail));
}

function isAsciiSpace(c: number): boolean {
  return c === 0x20 || (c >= 0x09 && c <= 0x0d);
}

function actionOf(body: Buffer, start: number, end: number, line: number, cache: ActionCache): ParsedAction {
  const last = cache.last;
  if (last !== undefined && sameBytes(body, last.start, start, end - start, last.end - last.start)) return last.parsed;
  const text = body.toString('utf8', start, end);
  let parsed = cache.byText.get(text);
  if (parsed === undefined) {
    parsed = parseActionLine(text, line);
    cache.byText.set(text, parsed);
  }
  cache.last = { start, end, parsed };
  return parsed;
}

/** Whether the `n` bytes at `b` equal the `m` bytes at `a`, compared in JS: a native compare per ~40-byte action line cost more. */
function sameBytes(body: Buffer, a: number, b: number, n: number, m: number): boolean {
  if (n !== m) return false;
  for (let k = 0; k < n; k++) if (body[a + k] !== body[b + k]) return false;
  return true;
}

function parseActionLine(text: string, line: number): ParsedAction {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (err) {
    throw malformed(line, `the action line is not JSON: ${(err as Error).message}`);
  }
  if (!isObject(parsed)) throw malformed(line, 'the action line must be a JSON object');
  const keys = Object.keys(parsed);
  const action = keys[0];
  if (keys.length !== 1 || action === undefined || !(BULK_ACTIONS as readonly string[]).includes(action)) {
    throw malformed(line, `expected one of [${BULK_ACTIONS.join(', ')}] but found [${keys.join(', ')}]`);
  }
  const meta = parsed[action];
  if (!isObject(meta)) throw malformed(line, `the ${action} action's metadata must be a JSON object`);
  return { action: action as BulkAction, index: stringOf(meta['_index'], '_index', line), id: idOf(meta['_id'], line) };
}

/** `_id` may be sent as a number (Elasticsearch turns it into a string). */
function idOf(value: unknown, line: number): string | undefined {
  if (typeof value === 'number' && Number.isFinite(value)) return String(value);
  return stringOf(value, '_id', line);
}

function stringOf(value: unknown, name: string, line: number): string | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'string') throw malformed(line, `${name} must be a string`);
  return value;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function malformed(line: number, message: string): SluiceError {
  return new SluiceError('BAD_REQUEST', `malformed _bulk body at line ${line}: ${message}; nothing was written`, [{ path: `line ${line}`, message }]);
}
