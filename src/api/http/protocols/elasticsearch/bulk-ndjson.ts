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
  /** The source line's text (trimmed) and its parsed object, or why it is not one; absent for `delete`. */
  readonly source?: { readonly text: string; readonly doc: Readonly<Record<string, unknown>> } | { readonly error: string };
}

/** Splits and pairs a `_bulk` body; throws BAD_REQUEST when the pairing itself is broken. */
export function parseBulkBody(body: string): BulkOp[] {
  const ops: BulkOp[] = [];
  const lines = nonBlankLines(body);
  for (let i = 0; i < lines.length; i++) {
    const { text, line } = lines[i] as NumberedLine;
    const { action, index, id } = parseActionLine(text, line);
    if (action === 'delete') {
      ops.push({ action, index, id, line });
      continue;
    }
    const next = lines[++i];
    if (next === undefined) throw malformed(line, `the ${action} action has no source line after it`);
    ops.push({ action, index, id, line, source: parseSource(next.text) });
  }
  return ops;
}

interface NumberedLine {
  readonly text: string;
  readonly line: number;
}

/** The lines that hold more than whitespace, trimmed, with their 1-based numbers. */
function nonBlankLines(body: string): NumberedLine[] {
  const out: NumberedLine[] = [];
  let start = 0;
  let line = 1;
  while (start <= body.length) {
    let end = body.indexOf('\n', start);
    if (end < 0) end = body.length;
    const text = body.slice(start, end).trim();
    if (text !== '') out.push({ text, line });
    start = end + 1;
    line++;
  }
  return out;
}

function parseActionLine(text: string, line: number): { action: BulkAction; index: string | undefined; id: string | undefined } {
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

function parseSource(text: string): NonNullable<BulkOp['source']> {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (err) {
    return { error: `the source is not JSON: ${(err as Error).message}` };
  }
  if (!isObject(doc)) return { error: 'the source must be a JSON object' };
  return { text, doc };
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
