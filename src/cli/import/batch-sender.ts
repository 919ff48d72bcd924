/**
 * Sends a file's batches to a node, several requests in flight, each with
 * the file's dedupe prefix and its first row (`dedupe_first`), so that any
 * request may be sent again — after a 429, a lost answer, or a crash of
 * this process — without storing a row twice. Tracks the longest prefix of
 * rows whose batches are all acknowledged: that, and no more, is what the
 * checkpoint may claim.
 */
import { authHeaders } from '../client-auth.ts';
import { ROW_KEY_DIGITS, listInRowOrder, rowLetters, type FileBatch, type FileRowProblem, type ResumePoint } from '../../ingest/formats/file-batch.ts';
import type { OnInvalid } from '../../ingest/batch-encoder.ts';
import { CliError } from '../cli-error.ts';
import { describeError, parseAnswer, retryPause, type ErrorBody } from '../http-client.ts';
import { RATE_LIMITED_PAUSE_MS_MAX } from '../../config.ts';


/** Retries of one request on 429/503 before giving up. */
const BUSY_RETRIES_MAX = 50;
/** Retries of one request whose connection failed (the node restarting, a lost answer). */
const NETWORK_RETRIES_MAX = 5;
/** Refused rows kept for the report; the rest are counted. */
const REJECTED_LISTED_MAX = 20;
/**
 * Batches between the oldest unanswered one and the newest sent, per
 * request in flight: past it `send` waits, so one request slow to be
 * answered (429s retried, a lost connection) stops the reading instead of
 * the other slots running the file on ahead of the checkpoint.
 */
const WINDOW_BATCHES_PER_REQUEST = 2;

/** Where the sender is. */
export interface SendState {
  /** Rows [0, rowsDone) are durable (or refused and reported). */
  rowsDone: number;
  /** Text formats: where to read again for rows ≥ rowsDone. */
  at: ResumePoint | undefined;
  /** Reader progress at rowsDone (bytes or rows). */
  progress: number;
  written: number;
  rejected: number;
  /** Of the rejected rows, those the node kept as dead letters (this run). */
  deadLettered?: number;
  requests: number;
  /** The first refused rows, numbered in the file. */
  readonly rejectedRows: FileRowProblem[];
}

/** Options of a sender. */
export interface SenderOptions {
  /** `${node}/v1/tables/${table}/records`. */
  readonly target: string;
  readonly prefix: string;
  readonly onInvalid: OnInvalid;
  /** The records' source, kept with their dead letters (import:<file name>). */
  readonly source?: string;
  readonly concurrency: number;
  /** Called whenever `rowsDone` moves. */
  readonly onAdvance?: (state: Readonly<SendState>) => void;
}

/** What the window keeps of a batch: where it ends and where to read again, not its body (freed once it is answered). */
interface Slot {
  readonly end: number;
  readonly restart: ResumePoint | undefined;
  readonly progress: number;
  done: boolean;
}

/** Sends batches in order with bounded concurrency; `send` waits for a free slot, and while the window of batches is full. */
export class BatchSender {
  readonly state: SendState;
  private readonly o: SenderOptions;
  /** Batches sent and not yet folded into rowsDone, in file order. */
  private readonly window: Slot[] = [];
  private readonly inFlight = new Set<Promise<void>>();
  private failure: unknown;

  constructor(options: SenderOptions, start: { rowsDone: number; at: ResumePoint | undefined; progress: number }) {
    this.o = options;
    this.state = { ...start, written: 0, rejected: 0, requests: 0, rejectedRows: [] };
  }

  /** The first failure, if any (sending stops once there is one). */
  get failed(): unknown {
    return this.failure;
  }

  /** Sends one batch once a slot is free; throws the first failure of any request. */
  async send(batch: FileBatch): Promise<void> {
    if (this.failure !== undefined) throw this.failure;
    for (const p of batch.problems) this.noteRejected(p);
    this.state.rejected += batch.problemCount;
    const slot: Slot = { end: batch.firstRow + batch.rows, restart: batch.restart, progress: batch.progress, done: batch.body === null && lettersOf(batch, this.o.onInvalid).length === 0 };
    this.window.push(slot);
    if (slot.done) {
      this.advance();
      return;
    }
    const p = this.post(batch)
      .then(() => {
        slot.done = true;
        this.advance();
      })
      .catch((err: unknown) => {
        this.failure ??= err;
      })
      .finally(() => this.inFlight.delete(p));
    this.inFlight.add(p);
    const windowMax = WINDOW_BATCHES_PER_REQUEST * this.o.concurrency;
    while (this.failure === undefined && this.inFlight.size > 0 && (this.inFlight.size >= this.o.concurrency || this.window.length >= windowMax)) await Promise.race(this.inFlight);
    if (this.failure !== undefined) throw this.failure;
  }

  /** Waits for every request in flight; throws the first failure. */
  async drain(): Promise<void> {
    await Promise.all(this.inFlight);
    if (this.failure !== undefined) throw this.failure;
  }

  /** Waits for every request in flight, ignoring failures (after one, to save a checkpoint). */
  async settle(): Promise<void> {
    await Promise.allSettled(this.inFlight);
  }

  private advance(): void {
    let moved = false;
    while (this.window.length > 0 && (this.window[0] as Slot).done) {
      const { end, restart, progress } = this.window.shift() as Slot;
      if (end > this.state.rowsDone) this.state.rowsDone = end;
      if (restart !== undefined) this.state.at = restart;
      this.state.progress = progress;
      moved = true;
    }
    if (moved) this.o.onAdvance?.(this.state);
  }

  private noteRejected(p: FileRowProblem): void {
    listInRowOrder(this.state.rejectedRows, p, REJECTED_LISTED_MAX, (r) => r.row);
  }

  /** The batch's rows the conversion refused, as dead letters (dead_letter mode), then its records. */
  private async post(batch: FileBatch): Promise<void> {
    const letters = lettersOf(batch, this.o.onInvalid);
    if (letters.length > 0) await this.postLetters(batch, letters);
    if (batch.body !== null) await this.postRecords(batch);
  }

  /**
   * Rows this process's reader refused never reach the records route: they
   * go to the table's dead letters as records, each keyed by its row's
   * dedupe key, so a rerun rewrites the same letters instead of adding.
   */
  private async postLetters(batch: FileBatch, letters: readonly FileRowProblem[]): Promise<void> {
    const source = this.o.source === undefined ? '' : `?source=${encodeURIComponent(sourceLabel(this.o.source))}`;
    const url = `${this.o.target.replace(/\/records$/, '/dead_letters')}${source}`;
    const body = JSON.stringify(rowLetters(letters, this.o.prefix).map(({ dedupeKey, ...letter }) => ({ ...letter, dedupe_key: dedupeKey })));
    const text = await this.request(url, Buffer.from(body), 'application/json', batch);
    const answer = JSON.parse(text) as { dead_lettered: { count: number } };
    this.state.deadLettered = (this.state.deadLettered ?? 0) + answer.dead_lettered.count;
  }

  private async postRecords(batch: FileBatch): Promise<void> {
    // Zero-padded row numbers: the node can fence them and skip the key lookups of rows it has never seen (decision 13).
    // on_invalid always: the node's table default must not differ from what the reader was told.
    // record_index_base: letters of rows the node refuses name their file row, like the reader's own.
    const source = this.o.source === undefined ? '' : `&source=${encodeURIComponent(sourceLabel(this.o.source))}`;
    const url = `${this.o.target}?dedupe_prefix=${encodeURIComponent(this.o.prefix)}&dedupe_first=${batch.firstRow}&dedupe_digits=${ROW_KEY_DIGITS}&on_invalid=${this.o.onInvalid}&record_index_base=${batch.firstRow}${source}`;
    const text = await this.request(url, batch.body as Uint8Array, batch.contentType, batch);
    const answer = JSON.parse(text) as { written: number; rejected_count?: number; rejected?: { index: number; path: string; code: string; message: string }[]; dead_lettered?: { count: number } };
    this.state.written += answer.written;
    if (answer.dead_lettered !== undefined) this.state.deadLettered = (this.state.deadLettered ?? 0) + answer.dead_lettered.count;
    this.state.rejected += answer.rejected_count ?? 0;
    for (const r of answer.rejected ?? []) {
      const line = batch.lineOf(r.index);
      this.noteRejected({
        row: batch.firstRow + r.index,
        ...(line === undefined ? {} : { line }),
        ...(r.path ? { column: r.path.replace(/^\//, '') } : {}),
        code: r.code as FileRowProblem['code'],
        message: r.message,
      });
    }
  }

  /**
   * POSTs `body` until it is answered 2xx (returns the answer's text): 429
   * and 503 are retried after their Retry-After, a table's rate limit as
   * long as it takes, a lost connection a few times (every request here is
   * idempotent by its keys); anything else fails naming the batch's rows.
   */
  private async request(url: string, body: Uint8Array, contentType: string, batch: FileBatch): Promise<string> {
    let networkFailures = 0;
    for (let attempt = 0; ; attempt++) {
      let res: Response;
      try {
        res = await fetch(url, { method: 'POST', body: body as Uint8Array<ArrayBuffer>, headers: { ...authHeaders(), 'content-type': contentType } });
      } catch (err) {
        // The request may or may not have been written: its dedupe keys make sending it again safe.
        if (++networkFailures <= NETWORK_RETRIES_MAX) {
          await retryPause(attempt, null);
          continue;
        }
        const cause = (err as Error).cause instanceof Error ? ((err as Error).cause as Error).message : (err as Error).message;
        throw new CliError(`cannot reach ${new URL(url).origin}: ${cause}`);
      }
      this.state.requests++;
      const text = await res.text();
      if (res.ok) return text;
      // A table's rate limit is its pace, not a node in trouble: a file import waits for it as long as it takes.
      if (res.status === 429 && (parseAnswer(text) as ErrorBody | undefined)?.error?.code === 'RATE_LIMITED') {
        await rateLimitPause(res.headers.get('retry-after'));
        attempt--;
        continue;
      }
      if ((res.status === 429 || res.status === 503) && attempt < BUSY_RETRIES_MAX) {
        await retryPause(attempt, res.headers.get('retry-after'));
        continue;
      }
      throw new CliError(`${whereInFile(batch, parseAnswer(text))}${describeError(res.status, parseAnswer(text))}`);
    }
  }
}

/** In dead_letter mode, the batch's rows the reader refused that carry their record (every one: the reader keeps them all). */
function lettersOf(batch: FileBatch, onInvalid: OnInvalid): FileRowProblem[] {
  return onInvalid === 'dead_letter' ? batch.problems.filter((p) => p.record !== undefined) : [];
}

/**
 * Sleeps a RATE_LIMITED answer's Retry-After (whole seconds, as the node
 * computed from the table's bucket), at most RATE_LIMITED_PAUSE_MS_MAX: a
 * table throttled to its slowest rate answers waits of days, past what a
 * timer holds (2^31 - 1 ms; Node fires a longer one after 1 ms), and a
 * limit raised meanwhile should not wait them out.
 */
function rateLimitPause(retryAfter: string | null): Promise<void> {
  const seconds = Number(retryAfter ?? '1');
  const ms = Math.min((Number.isFinite(seconds) && seconds > 0 ? seconds : 1) * 1000, RATE_LIMITED_PAUSE_MS_MAX);
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** "row R (line L), column C: " for the first record a node's error names, mapped from the request to the file. */
function whereInFile(batch: FileBatch, body: unknown): string {
  const detail = (body as ErrorBody | undefined)?.error?.details?.find((d) => d.index !== undefined);
  if (detail?.index === undefined) return `rows ${batch.firstRow + 1}–${batch.firstRow + batch.rows}: `;
  const line = batch.lineOf(detail.index);
  const column = detail.path !== undefined && detail.path !== '' ? `, column "${detail.path.replace(/^\//, '')}"` : '';
  return `row ${batch.firstRow + detail.index + 1}${line === undefined ? '' : ` (line ${line})`}${column}: `;
}

/** A source label the node accepts (1 to 128 of letters, digits and `_.:/@+-`): other characters become `_`. */
function sourceLabel(source: string): string {
  return source.replace(/[^A-Za-z0-9_.:/@+-]/g, '_').slice(0, 128);
}
