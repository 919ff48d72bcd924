/**
 * A remote node as a source's door, for `sluice kafka` running in its own
 * process: each batch goes over HTTP as NDJSON with its dedupe keys in the
 * query (`dedupe_prefix`, `dedupe_first`, `dedupe_digits`), so the node
 * fences and resolves them exactly as it does for its in-process source.
 *
 * The query can name only a run of consecutive numbers under one prefix,
 * so a batch is cut into runs (one partition, consecutive offsets) and the
 * runs are posted one after the other. NDJSON frames one record per line,
 * and one bad line fails the whole body, so each message is parsed here
 * first: one that is not JSON is refused locally (INVALID_JSON,
 * dead-lettered by the source) and ends its run; a pretty-printed one is
 * re-serialized on one line.
 *
 * Protobuf values are decoded here under the table's field names as
 * described when the door was set up (a field renamed since takes its new
 * name through its aliases). A schema change after that (a rename whose
 * alias then expires, a removed field) makes the node refuse the names the
 * stale decoder sends, so a batch with a refusal a later version could
 * lift (VERSION_DEPENDENT_CODES) describes the table again and, if its
 * version moved, is decoded and posted once more under the new names: the
 * dedupe keys make the records already written answer with their ids.
 */
import { isUtf8 } from 'node:buffer';
import { SluiceError, type ErrorCode } from '../../core/errors.ts';
import { Admission, type AdmissionTicket } from '../../ingest/admission.ts';
import type { Rejection } from '../../ingest/batch-encoder.ts';
import type { DedupeKeys } from '../../ingest/dedupe-keys.ts';
import { waitForTicket, type DoorWrite, type SourceDoor } from '../../ingest/ingest-door.ts';
import { countWrite, type IngestorProgress } from '../../ingest/ingestor.ts';
import type { WriteResult } from '../../ingest/pipeline.ts';
import { ListedIds } from '../../ingest/request-ids.ts';
import { protoDecoder, type ProtoBinding, type ProtoDecoder } from '../../core/schema/proto-schema.ts';
import type { FieldDef } from '../../core/schema/table-def.ts';
import { VERSION_DEPENDENT_CODES } from '../../core/schema/violation.ts';

/** What `describe` reads of a table. */
export interface DescribedTable {
  readonly primaryKey?: string;
  readonly proto?: ProtoBinding;
  readonly fields?: FieldDef[];
  readonly version?: number;
}

/** Answers that mean "later": retried by the source with back-off. */
const RETRYABLE_STATUS = new Set([429, 502, 503, 504]);

/** One run: consecutive records of one prefix with consecutive numbers. */
interface Run {
  readonly prefix: string;
  readonly first: number;
  /** Request indexes of the run's records, in order. */
  readonly indexes: number[];
  readonly lines: string[];
}

/** Writes a source's batches to a node's HTTP API. */
export class HttpDoor implements SourceDoor {
  private readonly url: string;
  private readonly headers: Readonly<Record<string, string>>;
  private readonly inFlight: Admission;
  private proto: ProtoDecoder | undefined;
  /** The table this door's decoder was built from: its name and schema version. */
  private protoTable: { name: string; version: number | undefined } | undefined;
  /** A describe under way after a refusal: batches refused at once share it. */
  private protoRefresh: Promise<void> | undefined;

  /** `url`: the node's base URL; `inFlightMax`: batches posted at once; `headers`: sent with every request (the bearer token). */
  constructor(url: string, inFlightMax: number, headers: Readonly<Record<string, string>> = {}) {
    this.url = url.replace(/\/$/, '');
    this.headers = headers;
    this.inFlight = new Admission({ inFlightRequestsMax: inFlightMax, inFlightBytesMax: Number.MAX_SAFE_INTEGER });
  }

  admit(_bytes: number, signal: AbortSignal, onWait?: () => void): Promise<AdmissionTicket> {
    // Only a count of batches bounds a remote door: the node's own admission bounds the bytes.
    return waitForTicket(() => this.inFlight.tryAcquire(0), signal, onWait);
  }

  async write(req: DoorWrite, ticket: AdmissionTicket, progress?: IngestorProgress): Promise<WriteResult> {
    try {
      const result = await this.post(req);
      countWrite(progress, result);
      return result;
    } finally {
      ticket.release();
    }
  }

  /** The table's primary key and protobuf message (fails with the node's error when the table is missing). */
  async describe(table: string): Promise<DescribedTable> {
    const res = await fetch(`${this.url}/v1/tables/${encodeURIComponent(table)}`, { headers: this.headers });
    const body = (await res.json()) as DescribedTable & { error?: { code: ErrorCode; message: string } };
    if (!res.ok) throw new SluiceError(body.error?.code ?? 'INTERNAL', body.error?.message ?? `HTTP ${res.status}`);
    return body;
  }

  /** Decodes protobuf frames here, with the table's message, before they go out as NDJSON (under the names of `fields`, as described); `table` is described again after a schema refusal. */
  useProto(binding: ProtoBinding, fields?: readonly FieldDef[], table?: { name: string; version: number | undefined }): void {
    this.proto = protoDecoder(binding, fields);
    this.protoTable = table;
  }

  private async post(req: DoorWrite): Promise<WriteResult> {
    const decoder = this.proto;
    const result = await this.postOnce(req);
    if (req.frameFormat !== 'protobuf' || !result.rejected.some((r) => VERSION_DEPENDENT_CODES.has(r.code))) return result;
    await this.refreshProto(req.table);
    // The same decoder: the schema did not move, and the refusal stands.
    return this.proto === decoder ? result : this.postOnce(req);
  }

  /** Describes the table again and rebuilds the decoder when its schema version moved; shared by batches refused meanwhile. */
  private refreshProto(table: string): Promise<void> {
    const known = this.protoTable;
    if (known === undefined || known.name !== table) return Promise.resolve();
    this.protoRefresh ??= (async () => {
      try {
        const fresh = await this.describe(table);
        if (fresh.proto !== undefined && fresh.version !== known.version) this.useProto(fresh.proto, fresh.fields, { name: table, version: fresh.version });
      } catch {
        // The node is unreachable or the table is gone: the refusal stands, as it would have.
      } finally {
        this.protoRefresh = undefined;
      }
    })();
    return this.protoRefresh;
  }

  private async postOnce(req: DoorWrite): Promise<WriteResult & { rejected: Rejection[] }> {
    if (req.frames === undefined || req.dedupe === undefined || !('prefixes' in req.dedupe)) {
      throw new Error('HttpDoor writes framed batches with per-record dedupe keys only');
    }
    const total = req.frames.length;
    const ids: (string | null)[] = new Array<string | null>(total).fill(null);
    const rejected: Rejection[] = [];
    let rejectedCount = 0;
    let written = 0;
    let token: string | null = null;
    let proto: ProtoDecoder | undefined;
    if (req.frameFormat === 'protobuf') {
      if (this.proto === undefined) throw new SluiceError('UNSUPPORTED_MEDIA_TYPE', `table ${req.table} has no protobuf message`);
      proto = this.proto;
    }
    const { runs, refused } = cutRuns(Buffer.from(req.body.buffer, req.body.byteOffset, req.body.byteLength), req.frames, req.dedupe, proto);
    for (const r of refused) {
      rejected.push(r);
      rejectedCount++;
    }
    for (const run of runs) {
      const answer = await this.postRun(req, run, req.dedupe.digits);
      written += answer.written;
      token = answer.token ?? token;
      answer.ids.forEach((id, i) => {
        ids[run.indexes[i] as number] = id;
      });
      rejectedCount += answer.rejected_count ?? 0;
      for (const r of answer.rejected ?? []) rejected.push({ ...r, index: run.indexes[r.index] as number });
    }
    return { written, ids: new ListedIds(ids), token, rejected, rejectedCount };
  }

  private async postRun(req: DoorWrite, run: Run, digits: number): Promise<{ written: number; ids: (string | null)[]; token: string | null; rejected?: Rejection[]; rejected_count?: number }> {
    const q = new URLSearchParams({ on_invalid: req.onInvalid, dedupe_prefix: run.prefix, dedupe_first: String(run.first), dedupe_digits: String(digits) });
    if (req.consistency !== undefined) q.set('consistency', req.consistency);
    let res: Response;
    try {
      res = await fetch(`${this.url}/v1/tables/${encodeURIComponent(req.table)}/records?${q}`, {
        method: 'POST',
        body: run.lines.join('\n'),
        headers: { ...this.headers, 'content-type': 'application/x-ndjson' },
      });
    } catch (err) {
      // NOT_READY: from the source's side an unreachable node is one that is not ready yet (it retries).
      throw new SluiceError('NOT_READY', `cannot reach ${this.url}: ${err instanceof Error ? err.message : String(err)}`);
    }
    const text = await res.text();
    let body: { error?: { code: ErrorCode; message: string } } & Record<string, unknown>;
    try {
      body = JSON.parse(text) as typeof body;
    } catch {
      throw new SluiceError(RETRYABLE_STATUS.has(res.status) ? 'NOT_READY' : 'INTERNAL', `HTTP ${res.status} from ${this.url}: ${text.slice(0, 200)}`);
    }
    if (!res.ok) {
      const code: ErrorCode = body.error?.code ?? (RETRYABLE_STATUS.has(res.status) ? 'NOT_READY' : 'INTERNAL');
      // RATE_LIMITED carries its Retry-After on, so the source waits the table's pace rather than its own back-off.
      const retryAfterS = Number(res.headers.get('retry-after'));
      const retry = code === 'RATE_LIMITED' && Number.isFinite(retryAfterS) && retryAfterS > 0 ? { retryAfterMs: retryAfterS * 1000 } : undefined;
      throw new SluiceError(code, body.error?.message ?? `HTTP ${res.status}`, [], retry);
    }
    return body as unknown as { written: number; ids: (string | null)[]; token: string | null; rejected?: Rejection[]; rejected_count?: number };
  }
}

/** Cuts the frames into runs of one prefix and consecutive numbers; messages that are not JSON are refused here. */
function cutRuns(body: Buffer, frames: Uint32Array, dedupe: Extract<DedupeKeys, { prefixes: readonly string[] }>, proto: ProtoDecoder | undefined): { runs: Run[]; refused: Rejection[] } {
  const runs: Run[] = [];
  const refused: Rejection[] = [];
  let run: Run | undefined;
  let at = 0;
  for (let i = 0; i < frames.length; i++) {
    const bytes = body.subarray(at, at + (frames[i] as number));
    at += frames[i] as number;
    const line = proto === undefined ? oneLine(bytes) : protoLine(bytes, proto);
    if (typeof line !== 'string') {
      refused.push({ index: i, code: proto === undefined ? 'INVALID_JSON' : 'INVALID_PROTOBUF', path: '', message: line.message });
      run = undefined;
      continue;
    }
    const prefix = dedupe.prefixes[dedupe.prefixIndex[i] as number] as string;
    const n = dedupe.numbers[i] as number;
    if (run === undefined || run.prefix !== prefix || run.first + run.indexes.length !== n) {
      run = { prefix, first: n, indexes: [], lines: [] };
      runs.push(run);
    }
    run.indexes.push(i);
    run.lines.push(line);
  }
  return { runs, refused };
}

/** A protobuf message as one NDJSON line, or why it cannot be one. */
function protoLine(bytes: Buffer, proto: ProtoDecoder): string | { message: string } {
  try {
    return JSON.stringify(proto.decode(bytes));
  } catch (err) {
    return { message: `the message is not a valid protobuf of the table's message: ${err instanceof Error ? err.message : String(err)}` };
  }
}

/** The message as one NDJSON line, or why it cannot be one. */
function oneLine(bytes: Buffer): string | { message: string } {
  if (bytes.length === 0) return { message: 'the message is empty' };
  if (!isUtf8(bytes)) return { message: 'the message is not valid UTF-8' };
  const text = bytes.toString('utf8');
  // One bad line would fail the node's parse of the whole body, so each message is parsed here too.
  try {
    const value: unknown = JSON.parse(text);
    return text.includes('\n') || text.includes('\r') ? JSON.stringify(value) : text;
  } catch (err) {
    return { message: `the message is not valid JSON: ${err instanceof Error ? err.message : String(err)}` };
  }
}
