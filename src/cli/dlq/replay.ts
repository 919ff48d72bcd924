/**
 * `sluice dlq replay`: sends each pending letter's raw record to its table
 * again, through the ordinary write route (same validation, admission and
 * WAL), then marks the letter replayed by writing it back under its own id.
 *
 * Never twice: the record goes under the dedupe key it was first sent
 * with (the letter's `dedupe_key`: an import's row key, a client's
 * `dedupe_prefix` + number), or `dlq-<letter id>-0` when it had none. So a
 * replay that dies between storing a record and marking its letter stores
 * nothing new when run again (the node answers the id it kept, and the
 * letter is marked then), and a replay and a re-sent source row (a file
 * imported again) are one record whichever comes first (decision 50).
 * (A table with a primary key is keyed by it instead: the replay writes
 * the same key again, last writer wins.) A letter still refused stays
 * pending, with the reason printed.
 */
import { replayDedupe, replayedRecord } from '../../ingest/dead-letters/dead-letter-record.ts';
import { CliError } from '../cli-error.ts';
import { authHeaders } from '../client-auth.ts';
import { describeError, parseAnswer, retryPause } from '../http-client.ts';
import { lettersTableOf, storedLetters, type StoredLetter } from './stored-letters.ts';

/** Waits for a busy node (429, 503) this many times per request before giving up. */
const BUSY_RETRIES_MAX = 60;

/** What a replay did. */
export interface ReplayReport {
  /** Letters re-sent and now in the table (marked replayed). */
  replayed: number;
  /** Letters the table still refuses (left pending). */
  refused: number;
  /** Letters already replayed before this run. */
  skipped: number;
  /** Dry run: letters that would be re-sent. */
  pending: number;
}

/** Options of one replay. */
export interface ReplayOptions {
  readonly url: string;
  readonly table: string;
  readonly dryRun: boolean;
  /** Called for each letter the table still refuses. */
  readonly onRefused?: (letter: StoredLetter, reason: string) => void;
}

/** Replays every pending letter of `table`, one at a time, in the export's order. */
export async function replayLetters(o: ReplayOptions): Promise<ReplayReport> {
  const report: ReplayReport = { replayed: 0, refused: 0, skipped: 0, pending: 0 };
  for await (const letter of storedLetters(o.url, o.table)) {
    if (letter.status !== 'pending') {
      report.skipped++;
      continue;
    }
    report.pending++;
    if (o.dryRun) continue;
    const sent = await send(`${o.url}/v1/tables/${encodeURIComponent(o.table)}/records?${resendParams(letter)}`, bodyOf(letter), contentTypeOf(letter));
    if (sent.ok) {
      const id = (sent.body as { ids?: (string | null)[] }).ids?.[0];
      if (typeof id !== 'string') throw new CliError(`the node stored letter ${letter.id} but answered no id: ${JSON.stringify(sent.body).slice(0, 200)}`);
      await mark(o.url, o.table, letter, id);
      report.replayed++;
    } else {
      report.refused++;
      o.onRefused?.(letter, describeError(sent.status, sent.body));
    }
  }
  return report;
}

function resendParams(letter: StoredLetter): URLSearchParams {
  const key = replayDedupe(letter.id, letter.dedupeKey);
  // reject: a letter that is still invalid stays a letter, never a second one.
  const q = new URLSearchParams({ on_invalid: 'reject', dedupe_prefix: key.prefix, dedupe_first: String(key.first), source: 'dlq-replay' });
  if (key.digits !== undefined) q.set('dedupe_digits', String(key.digits));
  return q;
}

async function mark(url: string, table: string, letter: StoredLetter, replayedId: string): Promise<void> {
  const body = JSON.stringify(replayedRecord(letter.record, replayedId, Date.now()));
  const sent = await send(`${url}/v1/tables/${encodeURIComponent(lettersTableOf(table))}/records?on_invalid=reject`, Buffer.from(body), 'application/json');
  if (!sent.ok) throw new CliError(`letter ${letter.id} is replayed (record ${replayedId}) but could not be marked; run the replay again: ${describeError(sent.status, sent.body)}`);
}

/**
 * The letter's record as a body of exactly one record. JSON goes inside an
 * array of one: sent bare, a record that is itself an array (refused: not
 * an object) would be read as a body of its elements, and stored as them.
 * Text that is not one JSON value goes bare, for the node to refuse:
 * bracketed, `{…},{…}` would become two records. A protobuf letter goes as
 * one length-delimited message, the form the write route reads.
 */
function bodyOf(letter: StoredLetter): Buffer {
  if (letter.rawFormat === 'json') return isOneJsonValue(letter.raw) ? Buffer.concat([OPEN, letter.raw, CLOSE]) : letter.raw;
  return Buffer.concat([varint(letter.raw.length), letter.raw]);
}

function isOneJsonValue(raw: Buffer): boolean {
  try {
    JSON.parse(raw.toString('utf8'));
    return true;
  } catch {
    return false;
  }
}

const OPEN = Buffer.from('[');
const CLOSE = Buffer.from(']');

function contentTypeOf(letter: StoredLetter): string {
  return letter.rawFormat === 'json' ? 'application/json' : 'application/x-protobuf';
}

function varint(n: number): Buffer {
  const out: number[] = [];
  let v = n;
  while (v >= 0x80) {
    out.push((v & 0x7f) | 0x80);
    v = Math.floor(v / 128);
  }
  out.push(v);
  return Buffer.from(out);
}

/**
 * POSTs a body; busy answers (429, 503) are waited out. A 4xx other than
 * those is the record's refusal (ok false); anything else is an error.
 */
async function send(url: string, body: Buffer, contentType: string): Promise<{ ok: boolean; status: number; body: unknown }> {
  for (let attempt = 0; ; attempt++) {
    let res: Response;
    try {
      res = await fetch(url, { method: 'POST', body: body as Uint8Array<ArrayBuffer>, headers: { ...authHeaders(), 'content-type': contentType } });
    } catch (err) {
      throw new CliError(`cannot reach ${new URL(url).origin}: ${(err as Error).message}; run the replay again (it stores nothing twice)`);
    }
    const answer = parseAnswer(await res.text());
    if (res.ok) return { ok: true, status: res.status, body: answer };
    if ((res.status === 429 || res.status === 503) && attempt < BUSY_RETRIES_MAX) {
      await retryPause(attempt, res.headers.get('retry-after'));
      continue;
    }
    // The record itself is refused (still invalid, too large, binary for a table without a message): it stays a letter.
    if (res.status === 400 || res.status === 413 || res.status === 415) return { ok: false, status: res.status, body: answer };
    throw new CliError(describeError(res.status, answer) + (res.status === 401 ? '\n  (give a token with --token-file, --token or $SLUICE_TOKEN)' : ''));
  }
}
