/**
 * The letters of a dead-letter table as `sluice dlq` reads them: the
 * table's NDJSON export, streamed line by line (never held whole), with
 * the stored form checked before anything acts on it.
 */
import { createInterface } from 'node:readline';
import { Readable } from 'node:stream';
import type { JsonValue } from '../../core/schema/table-def.ts';
import { CliError } from '../cli-error.ts';
import { authHeaders } from '../client-auth.ts';
import { describeError, parseAnswer, retryPause } from '../http-client.ts';

/** Waits for a busy node (429, 503) this many times before giving up. */
const BUSY_RETRIES_MAX = 60;

/** One stored letter: the fields `sluice dlq` uses, plus the whole record to write back when marking it. */
export interface StoredLetter {
  readonly id: string;
  readonly raw: Buffer;
  readonly rawFormat: 'json' | 'protobuf';
  readonly status: string;
  /** The dedupe key its record was sent with; absent for letters of records sent without one, and in letters older than the field. */
  readonly dedupeKey?: string;
  readonly record: Readonly<Record<string, JsonValue>>;
}

/** The dead-letter table of `table` (the node's naming rule: `<table>__dead_letters`). */
export function lettersTableOf(table: string): string {
  return `${table}__dead_letters`;
}

/** Streams every letter of `table`'s dead-letter table; none when the table does not exist yet. */
export async function* storedLetters(url: string, table: string): AsyncGenerator<StoredLetter> {
  const res = await openExport(url, lettersTableOf(table));
  if (res === undefined) return;
  const lines = createInterface({ input: Readable.fromWeb(res as import('node:stream/web').ReadableStream), crlfDelay: Infinity });
  for await (const line of lines) {
    if (line.trim() === '') continue;
    yield letterOf(JSON.parse(line) as Record<string, JsonValue>);
  }
}

function letterOf(record: Record<string, JsonValue>): StoredLetter {
  const { dead_letter_id: id, raw, raw_format: rawFormat, status, dedupe_key: dedupeKey } = record;
  if (typeof id !== 'string' || typeof raw !== 'string' || (rawFormat !== 'json' && rawFormat !== 'protobuf') || typeof status !== 'string') {
    throw new CliError(`not a dead letter (missing dead_letter_id, raw, raw_format or status): ${JSON.stringify(record).slice(0, 200)}`);
  }
  // An empty key is no key (the write route refuses an empty dedupe_prefix); null: a letter without one.
  const keyed = typeof dedupeKey === 'string' && dedupeKey !== '' ? { dedupeKey } : {};
  return { id, raw: Buffer.from(raw, 'base64'), rawFormat, status, ...keyed, record };
}

/** The export's body, or undefined for a table that does not exist (nothing was ever dead-lettered). */
async function openExport(url: string, lettersTable: string): Promise<ReadableStream<Uint8Array> | undefined> {
  const target = `${url}/v1/tables/${encodeURIComponent(lettersTable)}/export?format=ndjson`;
  for (let attempt = 0; ; attempt++) {
    let res: Response;
    try {
      res = await fetch(target, { headers: authHeaders() });
    } catch (err) {
      throw new CliError(`cannot reach ${url}: ${(err as Error).message}`);
    }
    if (res.ok && res.body !== null) return res.body;
    const text = await res.text();
    const answer = parseAnswer(text) as { error?: { code?: string } } | string;
    if (res.status === 404 && typeof answer === 'object' && answer.error?.code === 'TABLE_NOT_FOUND') return undefined;
    if ((res.status === 429 || res.status === 503) && attempt < BUSY_RETRIES_MAX) {
      await retryPause(attempt, res.headers.get('retry-after'));
      continue;
    }
    throw new CliError(describeError(res.status, answer));
  }
}
