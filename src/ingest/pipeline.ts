/**
 * The shared write pipeline every source goes through:
 * decode → validate + normalize → route + encode → stamp ids → durable
 * write → answer. Sources (HTTP today) only bring bytes and an admission
 * ticket; they never re-implement validation or batching.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { SluiceError, type ErrorDetail } from '../core/errors.ts';
import type { Catalog, TableEntry } from '../storage/catalog.ts';
import { currentDef } from '../storage/catalog.ts';
import type { Consistency, Coordinator } from '../cluster/coordinator/coordinator.ts';
import type { BodyFormat } from './decode-body.ts';
import type { FrameFormat } from './decode-frames.ts';
import type { FrameEnvelope } from './frame-envelope.ts';
import type { DecodePool } from './decode-pool.ts';
import type { DecodedRefusals, OnInvalid, Rejection } from './batch-encoder.ts';
import type { DedupeKeys } from './dedupe-keys.ts';
import type { OtlpBodyOptions } from './formats/otlp/encode-otlp.ts';
import type { RowEncodeParams } from './formats/encode-rows.ts';
import type { AdmissionTicket } from './admission.ts';
import { DedupeFence, type FenceClaim } from './dedupe-fence.ts';
import { stoppedError } from './stopped-error.ts';
import { DEAD_LETTER_VIOLATIONS_MAX } from '../config.ts';
import { VERSION_DEPENDENT_CODES } from '../core/schema/violation.ts';
import { BATCH_FENCED_DIGITS_MAX } from '../core/codec/record-batch-v1.ts';
import type { TableAdmin } from '../cluster/metadata/cluster-tables.ts';
import type { EncodedBatch } from './batch-encoder.ts';
import { collectDeadLetters } from './dead-letters/collect-dead-letters.ts';
import { newRequestTag, type DeadLetter } from './dead-letters/dead-letter-record.ts';
import { deadLetterTableName } from './dead-letters/dead-letter-table.ts';
import { DeadLetterWriter, type DeadLetterAck, type DeadLetterWriteOptions } from './dead-letters/dead-letter-writer.ts';
import type { TableRateLimiter } from './table-rate-limiter.ts';
import { ListedIds, StampedIds, type RequestIds } from './request-ids.ts';

/** How often a source waiting for a table's rate asks again: a limit raised or removed meanwhile ends its wait. */
const RATE_WAIT_RECHECK_MS = 1_000;

/** One write request from any source. */
export interface WriteRequest {
  readonly table: string;
  readonly body: Uint8Array;
  readonly format: BodyFormat;
  /**
   * Byte length of each record when the body is a concatenation of separate
   * JSON texts (Kafka message values); a text that does not parse is
   * rejected on its own instead of failing the request.
   */
  readonly frames?: Uint32Array;
  /** How each frame is encoded: JSON, or the table's protobuf message. @default 'json' */
  readonly frameFormat?: FrameFormat;
  /** Each JSON frame is a protocol's document, wrapped into a record where it is parsed (frame-envelope.ts). */
  readonly envelope?: FrameEnvelope;
  /** Keys that make a re-send idempotent in a table without a primary key. */
  readonly dedupe?: DedupeKeys;
  /**
   * The caller made every record's primary key up, unique by construction
   * (an Elasticsearch document sent without `_id`: doc-ids.ts): none can be
   * stored or in flight, so the keys are written without lookups. Never for keys a
   * sender chose (a re-send must find them).
   */
  readonly keysMinted?: boolean;
  /**
   * The body is an OTLP/HTTP logs request, decoded and mapped to records in
   * the decode task itself (`format` is then ignored). The result's
   * `decoded` has the decoder's own refusals and the request's numbering.
   * `workingSetBytes`: what the ticket must hold while the task runs
   * (OVERLOADED when it cannot grow to that); afterwards it holds the batch.
   */
  readonly otlp?: Omit<OtlpBodyOptions, 'letters'> & { readonly workingSetBytes: number };
  /**
   * The records are validated and encoded already, by a source that took
   * `encodeParams` of table `tableId` (a node's own Parquet import,
   * decision 31): the decode step is skipped. `body` is then the batch
   * (its bytes count for the table's bytes rate); in dead_letter mode the
   * batch carries each refused record's raw bytes (`refusedRaw`).
   */
  readonly preEncoded?: { readonly batch: EncodedBatch; readonly tableId: number };
  readonly onInvalid: OnInvalid;
  /**
   * The caller reads `body` after the write (the Kafka source sends it
   * again on a retry and cuts its dead letters from it): a decode thread
   * gets a copy, never the body's memory, which a transfer would leave
   * empty here. Implied by `onInvalid: 'dead_letter'`.
   */
  readonly keepBody?: boolean;
  /** Held until the records are in the index; released on every path. */
  readonly ticket: AdmissionTicket;
  /** Replicas that must acknowledge (default quorum). */
  readonly consistency?: Consistency;
  /**
   * All of the request's records become visible or none (two-phase commit
   * across shards in a cluster). Refused with `onInvalid: 'skip'`: a
   * request that stores part of itself is not all or nothing.
   */
  readonly atomic?: boolean;
  /** The caller's request id (HTTP), sent on to the replicas so their audit lines name it. */
  readonly requestId?: string;
  /** Where the request's first record sits in what its sender sees as one (an import's file row): stored dead letters' `record_index` counts from it. @default 0 */
  readonly recordIndexBase?: number;
  /** Where the records come from (http, grpc, import:<file>, otlp…): kept with their dead letters. @default 'unknown' */
  readonly source?: string;
  /**
   * Past the table's rate: `refuse` (RATE_LIMITED, for a client that can
   * retry: HTTP, gRPC) or `wait` until the tokens are there (a streaming
   * source: the Kafka source, file imports). @default 'refuse'
   */
  readonly rateLimit?: 'refuse' | 'wait';
  /** Ends a rate wait early (SHUTTING_DOWN) when the source stops. */
  readonly signal?: AbortSignal;
}

/** The records a write stored as dead letters. */
export interface DeadLettered {
  /** The dead-letter table (`<table>__dead_letters`). */
  readonly table: string;
  readonly count: number;
  /** Request index and letter id of each, the first `errorDetailsMax` of them. */
  readonly letters: readonly { readonly index: number; readonly id: string }[];
}

/** The answer to a write. */
export interface WriteResult {
  readonly written: number;
  /** Ids in request order; none where a record was rejected (skip mode). */
  readonly ids: RequestIds;
  readonly token: string | null;
  readonly rejected?: readonly Rejection[];
  readonly rejectedCount: number;
  /** Accepted into the coordinator's hint queue without W replicas (partition buffer mode). */
  readonly degraded?: boolean;
  /** The two-phase commit that made an atomic request across shards durable. */
  readonly txId?: string;
  /** With `onInvalid: 'dead_letter'`, where the refused records went. */
  readonly deadLettered?: DeadLettered;
  /** An OTLP request's decoder refusals; `ids` and `rejected` count only the records that reached validation (see DecodedRefusals). */
  readonly decoded?: DecodedRefusals;
}

/** Observers for metrics. */
export interface PipelineObserver {
  readonly onWritten?: (table: string, records: number) => void;
  readonly onRejected?: (table: string, records: number) => void;
  /** Refused records stored as dead letters. */
  readonly onDeadLettered?: (table: string, records: number) => void;
  /** Records written with source dedupe keys: `fresh` past the fence (no lookups), else looked up. */
  readonly onDeduped?: (table: string, fresh: boolean, records: number) => void;
  /** Records refused for an event time too far ahead of the clock (either mode). */
  readonly onFutureTime?: (table: string, records: number) => void;
  /** A waiting source slept this long for the table's rate. */
  readonly onRateWait?: (table: string, ms: number) => void;
}

/** Limits the pipeline applies to every write. */
export interface PipelineOptions {
  readonly shards: number;
  readonly keyBytesMax: number;
  readonly errorDetailsMax: number;
  readonly jsonDepthMax: number;
}

/** The write pipeline shared by all sources. */
export class IngestPipeline {
  private readonly catalog: Catalog;
  private readonly coordinator: Coordinator;
  private readonly pool: DecodePool;
  private readonly options: PipelineOptions;
  private readonly observer: PipelineObserver;
  private readonly fence: DedupeFence;
  private readonly limiter: TableRateLimiter;
  private readonly letters: DeadLetterWriter | undefined;
  private readonly tables: TableAdmin | undefined;

  /** `tables` creates dead-letter tables; without it `onInvalid: 'dead_letter'` is refused. */
  constructor(deps: { catalog: Catalog; coordinator: Coordinator; pool: DecodePool; options: PipelineOptions; limiter: TableRateLimiter; observer?: PipelineObserver; tables?: TableAdmin }) {
    this.catalog = deps.catalog;
    this.limiter = deps.limiter;
    this.coordinator = deps.coordinator;
    this.pool = deps.pool;
    this.options = deps.options;
    this.observer = deps.observer ?? {};
    this.tables = deps.tables;
    const coordinator = deps.coordinator;
    this.letters = deps.tables === undefined ? undefined : new DeadLetterWriter({ catalog: deps.catalog, tables: deps.tables, coordinator, pool: deps.pool, options: deps.options });
    this.fence = new DedupeFence(
      coordinator.highestDedupeKey === undefined ? undefined : (table, low, high) => (coordinator.highestDedupeKey as NonNullable<Coordinator['highestDedupeKey']>)(this.catalog.require(table), low, high),
    );
  }

  /** Writes one request's records; all-or-nothing unless `onInvalid` is skip. */
  async write(req: WriteRequest): Promise<WriteResult> {
    let claim: FenceClaim | undefined;
    try {
      if (req.atomic === true && req.onInvalid !== 'reject') {
        throw new SluiceError('INVALID_ARGUMENT', `atomic=true cannot be combined with on_invalid=${req.onInvalid}: a request that stores only its valid records is not all or nothing`, [{ path: 'on_invalid', message: 'use reject with atomic' }]);
      }
      const known = this.catalog.require(req.table);
      // Before any work: a dead-letter table cannot dead-letter, nor a table whose letters' table name would be too long.
      if (req.onInvalid === 'dead_letter') deadLetterTableName(known.name);
      // A body over the bytes rate is refused before it costs a decode.
      if (req.rateLimit !== 'wait') this.limiter.precheckBytes(known, req.body.byteLength);
      // Dedupe keys above their fence are new: written without lookups (a table's own primary key never is, in any version).
      const dedupe = currentDef(known).primaryKey === undefined ? req.dedupe : undefined;
      // Framed input (a source's batch) knows its count before decoding: claim in arrival order, so that
      // batches decoded out of order by the worker pool still find their keys above the fence.
      if (dedupe !== undefined && req.frames !== undefined) claim = await this.fence.claim(known.name, dedupe, req.frames.length);
      const nowMs = Date.now();
      // Read before decoding: a body transferred to a worker thread is detached (0 bytes) afterwards.
      const bodyBytes = req.body.byteLength;
      let body: Uint8Array | undefined;
      let entry = known;
      let encoded = req.preEncoded === undefined ? await this.decode(req, known, nowMs, (back) => (body = back)) : preEncodedBatch(req, known);
      if (encoded.rejectedCount > 0 && req.preEncoded === undefined) {
        // Refused for a reason a later schema version could lift: validated again under it (decision 57).
        const later = await this.laterVersion(known, encoded);
        if (later !== undefined) {
          entry = later;
          encoded = await this.decode(body === undefined ? req : { ...req, body }, later, nowMs);
        }
      }
      if (encoded.rejectedCount > 0) {
        this.observer.onRejected?.(req.table, encoded.rejectedCount);
        if (encoded.futureCount > 0) this.observer.onFutureTime?.(req.table, encoded.futureCount);
        if (req.onInvalid === 'reject') throw rejectionError(encoded.rejected, encoded.rejectedCount, encoded.total);
      }
      // After validation (only records that would be stored count), before anything is written: a write
      // refused for the rate leaves no dead letters behind either.
      if (encoded.count > 0) await this.admitRate(entry, req, encoded.count, bodyBytes);
      // The letters are durable before the valid records are written: a crash in between leaves every refused record stored.
      const deadLettered = req.onInvalid === 'dead_letter' && encoded.rejectedCount > 0 ? await this.deadLetter(req, entry, encoded, nowMs) : undefined;
      const rejected = encoded.rejected.length > this.options.errorDetailsMax ? encoded.rejected.slice(0, this.options.errorDetailsMax) : encoded.rejected;
      const letters = { ...(deadLettered === undefined ? {} : { deadLettered }), ...(encoded.decoded === undefined ? {} : { decoded: encoded.decoded }) };
      if (encoded.count === 0) {
        req.ticket.release();
        return { written: 0, ids: ListedIds.none(encoded.total), token: null, rejected, rejectedCount: encoded.rejectedCount, ...letters };
      }
      if (dedupe !== undefined && claim === undefined) claim = await this.fence.claim(entry.name, dedupe, encoded.total);
      const ack = await this.coordinator.write(entry, encoded.batch, encoded.count, () => req.ticket.release(), {
        keyed: encoded.keyed,
        ...(claim?.fresh === true ? { freshKeys: true, ...fencedDigitsOf(dedupe) } : {}),
        ...(req.keysMinted === true ? { freshKeys: true, keysMinted: true } : {}),
        ...(req.consistency === undefined ? {} : { consistency: req.consistency }),
        ...(req.atomic === true ? { atomic: true } : {}),
        ...(req.requestId === undefined ? {} : { requestId: req.requestId }),
      });
      this.observer.onWritten?.(req.table, encoded.count);
      if (claim !== undefined) this.observer.onDeduped?.(req.table, claim.fresh, encoded.count);
      const ids = new StampedIds(ack.ids, encoded.total, encoded.positions);
      const degraded = { ...(ack.degraded === true ? { degraded: true } : {}), ...(ack.txId === undefined ? {} : { txId: ack.txId }) };
      return encoded.rejectedCount > 0
        ? { written: encoded.count, ids, token: ack.token, rejected, rejectedCount: encoded.rejectedCount, ...degraded, ...letters }
        : { written: encoded.count, ids, token: ack.token, rejectedCount: 0, ...degraded, ...letters };
    } catch (err) {
      req.ticket.release();
      throw err;
    } finally {
      claim?.release();
    }
  }

  /**
   * Stores `letters`, records of `table` refused before they reached the
   * pipeline (an import row its conversion refused, a client's own letter), in the table's
   * dead-letter table; resolves once they are durable.
   */
  async writeDeadLetters(table: string, letters: readonly DeadLetter[], options: DeadLetterWriteOptions = {}): Promise<DeadLetterAck> {
    const entry = this.catalog.require(table);
    deadLetterTableName(entry.name);
    const ack = await this.deadLetterWriter().write(currentDef(entry), letters, options);
    this.observer.onDeadLettered?.(entry.name, letters.length);
    return ack;
  }

  /**
   * The decode step's context for a source that validates and encodes a
   * table's records itself (`WriteRequest.preEncoded`): the same limits,
   * shards and violation counts; the source reads the clock per batch.
   */
  encodeParams(table: string, onInvalid: OnInvalid, dedupe?: { readonly prefix: string; readonly digits: number }): RowEncodeParams {
    const entry = this.catalog.require(table);
    return {
      tableId: entry.id,
      shards: this.options.shards,
      keyBytesMax: this.options.keyBytesMax,
      errorDetailsMax: this.violationsMax(onInvalid),
      eventTimeAheadMsMax: this.limiter.limitsOf(entry).eventTimeAheadMsMax,
      jsonDepthMax: this.options.jsonDepthMax,
      deadLetters: onInvalid === 'dead_letter',
      ...(dedupe === undefined ? {} : { dedupe }),
    };
  }

  /** Violations an encode collects: dead-lettering needs each refused record's, not only the first errorDetailsMax. */
  private violationsMax(onInvalid: OnInvalid): number {
    return onInvalid === 'dead_letter' ? Math.max(this.options.errorDetailsMax, DEAD_LETTER_VIOLATIONS_MAX) : this.options.errorDetailsMax;
  }

  /**
   * A later schema version of `known` than the one its records were
   * refused under, when some were refused for a reason a later version could
   * lift and the node may be behind (its catalog follows etcd through a
   * watch): the table is read again (one etcd read, shared by concurrent
   * refusals) unless the watch brought one meanwhile. Only refusals ask; the
   * success path never does (decision 57).
   */
  private async laterVersion(known: TableEntry, encoded: EncodedBatch): Promise<TableEntry | undefined> {
    if (this.tables === undefined || !encoded.rejected.some((r) => VERSION_DEPENDENT_CODES.has(r.code))) return undefined;
    // Unreachable etcd: answer under what this node knows.
    if (!isLaterVersion(this.catalog.get(known.name), known)) await this.tables.refreshTable(known.name).catch(() => undefined);
    const later = this.catalog.get(known.name);
    return later !== undefined && isLaterVersion(later, known) ? later : undefined;
  }

  /**
   * Validates and encodes the request's records (inline or in a decode
   * worker). An OTLP body reserves its decoding working set in the ticket
   * while its task runs; afterwards the ticket holds only the batch.
   */
  private async decode(req: WriteRequest, entry: TableEntry, nowMs: number, bodyBack?: (body: Uint8Array) => void): Promise<EncodedBatch> {
    const otlp = req.otlp;
    const encoded = await this.pool.decode(
      {
        body: req.body,
        format: req.format,
        ...(req.frames === undefined ? {} : { frames: req.frames }),
        ...(req.frameFormat === undefined ? {} : { frameFormat: req.frameFormat }),
        ...(req.envelope === undefined ? {} : { envelope: req.envelope }),
        ...(otlp === undefined ? {} : { otlp: { encoding: otlp.encoding, recordsBytesMax: otlp.recordsBytesMax, letters: req.onInvalid === 'dead_letter' } }),
        def: currentDef(entry),
        jsonDepthMax: this.options.jsonDepthMax,
        ctx: {
          tableId: entry.id,
          shards: this.options.shards,
          nowMs,
          eventTimeMaxMs: nowMs + this.limiter.limitsOf(entry).eventTimeAheadMsMax,
          keyBytesMax: this.options.keyBytesMax,
          errorDetailsMax: this.violationsMax(req.onInvalid),
          ...(req.dedupe === undefined ? {} : { dedupe: req.dedupe }),
        },
      },
      {
        ...(req.keepBody === true || (req.onInvalid === 'dead_letter' && otlp === undefined) ? { keepBody: true } : {}),
        ...(otlp === undefined ? {} : { onStart: () => holdAtLeast(req.ticket, otlp.workingSetBytes) }),
        ...(bodyBack === undefined ? {} : { bodyBack }),
      },
    );
    if (otlp !== undefined && req.ticket.bytes > encoded.batch.byteLength) req.ticket.shrink(req.ticket.bytes - encoded.batch.byteLength);
    return encoded;
  }

  /** Dead-letters the refused records of `req` (before its valid ones are written). */
  private async deadLetter(req: WriteRequest, entry: TableEntry, encoded: EncodedBatch, decodedAtMs: number): Promise<DeadLettered> {
    const def = currentDef(entry);
    const letters = collectDeadLetters(encoded, {
      def,
      raw:
        encoded.refusedRaw !== undefined
          ? { cut: encoded.refusedRaw }
          : {
              body: req.body,
              format: req.format,
              ...(req.frames === undefined ? {} : { frames: req.frames }),
              ...(req.envelope === undefined ? {} : { envelope: { env: req.envelope, nowMs: decodedAtMs } }),
            },
      rawFormat: req.frameFormat === 'protobuf' ? 'protobuf' : 'json',
      ...(req.dedupe === undefined ? {} : { dedupe: req.dedupe }),
      source: req.source ?? 'unknown',
      ...(req.requestId === undefined ? {} : { requestId: req.requestId }),
      ...(req.recordIndexBase === undefined ? {} : { indexBase: req.recordIndexBase }),
      requestTag: newRequestTag(),
      nowMs: Date.now(),
      detailsMax: this.options.errorDetailsMax,
    });
    const ack = await this.deadLetterWriter().write(def, letters, {
      ...(req.consistency === undefined ? {} : { consistency: req.consistency }),
      ...(req.requestId === undefined ? {} : { requestId: req.requestId }),
    });
    this.observer.onDeadLettered?.(entry.name, letters.length);
    // The answer names records by their place in this request, as `rejected` does; only the stored letters count from the base.
    const base = req.recordIndexBase ?? 0;
    const listed = letters.slice(0, this.options.errorDetailsMax).map((l) => ({ index: (l.index ?? base) - base, id: l.id }));
    return { table: ack.table, count: letters.length, letters: listed };
  }

  private deadLetterWriter(): DeadLetterWriter {
    if (this.letters === undefined) throw new SluiceError('INVALID_ARGUMENT', 'this node cannot create dead-letter tables; use on_invalid=reject or skip');
    return this.letters;
  }

  /** Takes the request's tokens, or throws RATE_LIMITED; a waiting source sleeps until its tokens are due. */
  private async admitRate(entry: TableEntry, req: WriteRequest, records: number, bytes: number): Promise<void> {
    if (req.rateLimit !== 'wait') {
      this.limiter.take(entry, records, bytes);
      return;
    }
    const turn = this.limiter.reserveTurn(entry, records, bytes);
    let waitMs = this.limiter.remainingMs(entry, turn);
    if (waitMs <= 0) return;
    this.observer.onRateWait?.(entry.name, waitMs);
    // The tokens are taken; a source that stops meanwhile gives up at once (its batch is re-delivered or re-sent).
    const signal = req.signal;
    const stopped = (): SluiceError => stoppedError(signal, `the source stopped while waiting for table ${entry.name}'s rate limit`);
    if (signal?.aborted === true) throw stopped();
    // Asked again every RATE_WAIT_RECHECK_MS under the table's limits of the moment: a limit raised or removed
    // meanwhile ends the wait, which the debt at the old rate could make weeks (and no timer may pass 2^31 - 1 ms).
    while (waitMs > 0) {
      await sleep(Math.min(waitMs, RATE_WAIT_RECHECK_MS), undefined, signal === undefined ? undefined : { signal }).catch((err: unknown) => {
        throw signal?.aborted === true ? stopped() : err;
      });
      waitMs = this.limiter.remainingMs(this.catalog.get(entry.name) ?? entry, turn);
    }
  }
}

/** True when `later` is the same table (same id) with more schema versions than `known`. */
function isLaterVersion(later: TableEntry | undefined, known: TableEntry): boolean {
  return later !== undefined && later.id === known.id && later.versions.length > known.versions.length;
}

/** A source's own batch, checked to be of this table (not of one dropped and created again since its `encodeParams`). */
function preEncodedBatch(req: WriteRequest, entry: TableEntry): EncodedBatch {
  const pre = req.preEncoded as NonNullable<WriteRequest['preEncoded']>;
  if (pre.tableId !== entry.id) throw new SluiceError('TABLE_NOT_FOUND', `table ${entry.name} was dropped and created again during the write`);
  if (req.onInvalid === 'dead_letter' && pre.batch.rejectedCount > 0 && pre.batch.refusedRaw === undefined) {
    throw new SluiceError('INTERNAL', 'a pre-encoded batch in dead_letter mode came without its refused records');
  }
  return pre.batch;
}

/** Grows `ticket` to `bytes` if it holds less; OVERLOADED (429) when that does not fit. */
function holdAtLeast(ticket: AdmissionTicket, bytes: number): void {
  if (bytes > ticket.bytes && !ticket.grow(bytes - ticket.bytes)) throw new SluiceError('OVERLOADED', 'too many bytes in flight; retry later');
}

/** The digit count of numbered dedupe keys, which a fresh claim implies they are (the fence only claims those). */
function fencedDigitsOf(dedupe: DedupeKeys | undefined): { fencedDigits?: number } {
  return dedupe !== undefined && dedupe.digits !== undefined && dedupe.digits > 0 && dedupe.digits <= BATCH_FENCED_DIGITS_MAX ? { fencedDigits: dedupe.digits } : {};
}

function rejectionError(rejected: readonly Rejection[], count: number, total: number): SluiceError {
  const onlyKeys = rejected.every((r) => r.code === 'KEY_TOO_LARGE');
  // Refused only for their event times: the request's code says so (each record's code is in the details either way).
  const onlyFuture = rejected.length > 0 && rejected.every((r) => r.code === 'EVENT_TIME_IN_FUTURE');
  const first = rejected[0];
  const where = first === undefined ? '' : `; first: record ${first.index} ${first.path}: ${first.message}`;
  const details: ErrorDetail[] = rejected.map((r) => ({ index: r.index, path: r.path, code: r.code, message: r.message }));
  return new SluiceError(
    onlyKeys ? 'KEY_TOO_LARGE' : onlyFuture ? 'EVENT_TIME_IN_FUTURE' : 'SCHEMA_VIOLATION',
    `${count} of ${total} records are invalid; nothing was written${where}`,
    details,
  );
}
