/**
 * `POST /v1/tables/{t}/import`: a whole Parquet or CSV file as the body.
 * The body is spooled to a file under the data dir (bounded by
 * `importBodyBytesMax`, 1 GiB by default), then read like `sluice ingest`
 * reads a file: the Parquet footer is checked against the table before
 * anything is written, row ranges and CSV chunks are converted in worker
 * threads (Parquet rows straight into record batches, decision 31; CSV
 * into JSON bodies), and these go through the node's one door (admission,
 * then the shared pipeline), waiting for room instead of failing when the
 * node is busy. Rows are written in file order, in batches; an error
 * stops the import at its row and the answer says how many rows are
 * written. With `dedupe_prefix`, row i is written under the dedupe key
 * prefix + i, so sending the same file again after a failure stores no
 * row twice.
 */
import { rm } from 'node:fs/promises';
import path from 'node:path';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { SluiceError, isSluiceError, type ErrorDetail } from '../../../core/errors.ts';
import type { TableDef } from '../../../core/schema/table-def.ts';
import type { Consistency } from '../../../cluster/coordinator/coordinator.ts';
import type { OnInvalid, Rejection } from '../../../ingest/batch-encoder.ts';
import { ConvertPool } from '../../../ingest/formats/convert-pool.ts';
import { ROW_KEY_DIGITS, listInRowOrder, type FileBatch, type FileFormat } from '../../../ingest/formats/file-batch.ts';
import { readFileBatches } from '../../../ingest/formats/read-file-batches.ts';
import type { WriteResult } from '../../../ingest/pipeline.ts';
import type { DoorWrite } from '../../../ingest/ingest-door.ts';
import { currentDef } from '../../../storage/catalog.ts';
import type { ApiContext } from '../api-context.ts';
import { needs, onTable } from '../route-auth.ts';
import { BodySpool } from '../body-spool.ts';
import { dedupePrefixParam, oneOf, queryParams, sourceParam } from '../query-params.ts';
import { INVALID_POLICIES } from '../../../core/schema/table-def.ts';
import { deadLetterRows } from './import-dead-letters.ts';

/** Rows per pipeline write: large batches amortize the WAL frame and the decode hop. */
const BATCH_ROWS_MAX = 5_000;
/** Young generation of the import's conversion threads, MiB: a Parquet task's columns then die young (convert-pool.ts). */
const CONVERT_YOUNG_MB = 64;
/** Pipeline writes in flight per import: enough to overlap decode, fsync and index. */
const WRITES_IN_FLIGHT_MAX = 4;

const FORMAT_OF_MIME: Readonly<Record<string, FileFormat>> = {
  'application/vnd.apache.parquet': 'parquet',
  'application/x-parquet': 'parquet',
  'application/parquet': 'parquet',
  'text/csv': 'csv',
  'application/csv': 'csv',
};

/** Registers the import route; its conversion threads start at the first import and stop when idle or when the server closes. */
export function registerImportRoutes(app: FastifyInstance, ctx: ApiContext): void {
  let pool: ConvertPool | undefined;
  const spool = new BodySpool(path.join(ctx.config.dataDir, 'import-spool'));
  app.addHook('onClose', async () => {
    await pool?.close();
  });
  app.post<{ Params: { table: string } }>('/v1/tables/:table/import', { bodyLimit: importBodyBytesMax(ctx), ...needs(onTable('write')) }, (request, reply) => {
    // As many threads as the decode pool (0: convert on the main thread, as the operator asked of decoding).
    pool ??= new ConvertPool({ threads: ctx.config.decodeThreads, idleTimeoutMs: 10_000, workerYoungMbMax: CONVERT_YOUNG_MB });
    return importBody(ctx, pool, spool, request, reply, request.params.table);
  });
}

/** The node's import body limit (`--import-body-bytes-max`). */
function importBodyBytesMax(ctx: ApiContext): number {
  return ctx.config.importBodyBytesMax;
}

function formatOf(request: FastifyRequest, q: Record<string, string | undefined>): FileFormat {
  const given = q['format'];
  if (given !== undefined && given !== '') return oneOf<FileFormat>(q, 'format', ['parquet', 'csv'], 'csv');
  const mime = (request.headers['content-type'] ?? '').split(';', 1)[0]?.trim().toLowerCase() ?? '';
  const format = FORMAT_OF_MIME[mime];
  if (format === undefined) {
    throw new SluiceError('UNSUPPORTED_MEDIA_TYPE', `an import body is Parquet (Content-Type: application/vnd.apache.parquet) or CSV (text/csv), or says so with ?format=parquet|csv; got ${JSON.stringify(mime)}`);
  }
  return format;
}

interface ImportTally {
  rows: number;
  written: number;
  rejectedCount: number;
  readonly rejected: ErrorDetail[];
  token: string | null;
  deadLettered: number;
  deadLetterTable?: string;
}

async function importBody(ctx: ApiContext, pool: ConvertPool, spool: BodySpool, request: FastifyRequest, reply: FastifyReply, table: string): Promise<FastifyReply> {
  const q = queryParams(request);
  const format = formatOf(request, q);
  const consistency = oneOf<Consistency>(q, 'consistency', ['one', 'quorum', 'all'], 'quorum');
  const prefix = dedupePrefixParam(q, false);
  const { catalog } = ctx.services();
  const def = currentDef(catalog.require(table));
  // Without on_invalid the table's default applies. In dead_letter mode rows the conversion refuses (a CSV cell that is
  // not of its column's type, a row with too few cells) are answered in `rejected` as in skip mode and kept as letters
  // (import-dead-letters.ts); the node's own refusals of converted rows are dead-lettered with the row as JSON.
  const onInvalid = oneOf<OnInvalid>(q, 'on_invalid', INVALID_POLICIES, def.onInvalid ?? 'reject');
  const source = sourceParam(q, `import:${format}`);
  // An overloaded node refuses at once rather than taking a large body it cannot write soon.
  const gate = ctx.door.tryAdmit(0);
  if (gate === undefined) throw new SluiceError('OVERLOADED', 'too many writes in flight; retry after the Retry-After delay');
  gate.release();
  // Parquet rows are validated and encoded in the conversion threads (decision 31): no JSON text, no decode thread.
  const encode = format === 'parquet' ? ctx.door.encodeParams(table, onInvalid, prefix === undefined ? undefined : { prefix, digits: ROW_KEY_DIGITS }) : undefined;

  const started = performance.now();
  const body = await spool.write(request.raw, importBodyBytesMax(ctx), `.${format}`);
  const aborted = new AbortController();
  reply.raw.once('close', () => aborted.abort());
  const tally: ImportTally = { rows: 0, written: 0, rejectedCount: 0, rejected: [], token: null, deadLettered: 0 };
  try {
    const batches = readFileBatches(
      body.path,
      { format, gzip: false, def, onInvalid, limits: { rowsMax: BATCH_ROWS_MAX, bytesMax: Math.min(ctx.config.bodyBytesMax, 8 * 1024 * 1024) }, ...(encode === undefined ? {} : { encode }) },
      pool,
    );
    const w: WriteContext = { table, def, onInvalid, consistency, prefix, source, requestId: String(request.id), signal: aborted.signal, ...(encode === undefined ? {} : { tableId: encode.tableId }) };
    await writeAll(ctx, batches, w, tally);
  } finally {
    await rm(body.path, { force: true });
  }
  const seconds = (performance.now() - started) / 1000;
  ctx.log.info({ event: 'import', table, format, bytes: body.bytes, rows: tally.rows, written: tally.written, rejected: tally.rejectedCount, seconds });
  const rejected = onInvalid !== 'reject' ? `,"rejected":${JSON.stringify(tally.rejected)},"rejected_count":${tally.rejectedCount}` : '';
  const letters = tally.deadLetterTable === undefined ? '' : `,"dead_lettered":{"table":${JSON.stringify(tally.deadLetterTable)},"count":${tally.deadLettered}}`;
  return reply
    .code(200)
    .type('application/json')
    .send(`{"written":${tally.written},"rows":${tally.rows}${rejected}${letters},"token":${tally.token === null ? 'null' : JSON.stringify(tally.token)}}`);
}

interface WriteContext {
  readonly table: string;
  readonly def: TableDef;
  readonly onInvalid: OnInvalid;
  readonly consistency: Consistency;
  readonly prefix: string | undefined;
  readonly source: string;
  readonly requestId: string;
  readonly signal: AbortSignal;
  /** Set when the reader encodes the rows itself (Parquet): the table its batches are for. */
  readonly tableId?: number;
}

/** Writes every batch through the door, a few at a time; stops at the first error, naming its row. */
async function writeAll(ctx: ApiContext, batches: AsyncIterable<FileBatch>, w: WriteContext, tally: ImportTally): Promise<void> {
  const inFlight = new Set<Promise<void>>();
  let failure: unknown;
  const limit = ctx.config.errorDetailsMax;
  try {
    for await (const batch of batches) {
      tally.rows = batch.firstRow + batch.rows;
      tally.rejectedCount += batch.problemCount;
      for (const p of batch.problems) listInRowOrder(tally.rejected, rowDetail(p.row, p.column, p.code, p.message, p.line), limit, rowIndex);
      if (w.onInvalid === 'dead_letter' && batch.problems.length > 0) {
        const letters = await deadLetterRows(ctx, w.table, w.source, batch.problems, { ...(w.prefix === undefined ? {} : { prefix: w.prefix }), requestId: w.requestId });
        if (letters !== undefined) {
          tally.deadLettered += letters.count;
          tally.deadLetterTable = letters.table;
        }
      }
      const body = batch.encoded?.batch ?? batch.body;
      if (body === null) continue;
      if (w.signal.aborted) throw new SluiceError('BAD_REQUEST', 'the client closed the connection; the import stopped');
      const ticket = await ctx.door.admit(body.length, w.signal);
      const p = ctx.door
        .write(writeOf(w, batch, body), ticket, ctx.endpoints.http.progress)
        .then((result) => count(result, batch, tally, limit))
        .catch((err: unknown) => {
          failure ??= inFile(err, batch);
        })
        .finally(() => inFlight.delete(p));
      inFlight.add(p);
      while (inFlight.size >= WRITES_IN_FLIGHT_MAX) await Promise.race(inFlight);
      if (failure !== undefined) break;
    }
  } catch (err) {
    failure ??= err;
  }
  await Promise.allSettled(inFlight);
  if (failure === undefined) return;
  const e = isSluiceError(failure) ? failure : new SluiceError('INTERNAL', `import failed: ${(failure as Error).message}`, [], { cause: failure });
  // The answer must say what is durable: rows are written in file order, but a few batches run at once.
  const written = `${tally.written} rows were written before the import stopped (in file order, up to the batches in flight)`;
  throw new SluiceError(e.code, `${e.message}; ${written}`, [...e.details, { message: written }]);
}

/** The pipeline request of one batch: a JSON body, or the conversion thread's record batch. */
function writeOf(w: WriteContext, batch: FileBatch, body: Uint8Array): DoorWrite {
  if (batch.encoded !== undefined && w.tableId === undefined) throw new SluiceError('INTERNAL', 'a record batch came without the table it was encoded for');
  return {
    table: w.table,
    body,
    format: 'json',
    ...(batch.encoded === undefined || w.tableId === undefined ? {} : { preEncoded: { batch: batch.encoded, tableId: w.tableId } }),
    onInvalid: w.onInvalid,
    consistency: w.consistency,
    source: w.source,
    // Letters of refused rows name their row in the file, as the conversion's own letters do.
    recordIndexBase: batch.firstRow,
    // Row numbers zero-padded to 16 digits, like `sluice ingest`: the node fences them (decision 13).
    ...(w.prefix === undefined ? {} : { dedupe: { prefix: w.prefix, first: batch.firstRow, digits: ROW_KEY_DIGITS } }),
    // The file is already here: its batches wait for the table's rate instead of failing the import.
    rateLimit: 'wait',
    signal: w.signal,
  };
}

function count(result: WriteResult, batch: FileBatch, tally: ImportTally, limit: number): void {
  tally.written += result.written;
  tally.rejectedCount += result.rejectedCount;
  tally.token = result.token ?? tally.token;
  if (result.deadLettered !== undefined) {
    tally.deadLettered += result.deadLettered.count;
    tally.deadLetterTable = result.deadLettered.table;
  }
  for (const r of result.rejected ?? []) listInRowOrder(tally.rejected, rejectionDetail(r, batch), limit, rowIndex);
}

/** A detail's file row (rowDetail's index). */
function rowIndex(d: ErrorDetail): number {
  return d.index ?? 0;
}

function rowDetail(row: number, column: string | undefined, code: string, message: string, line?: number): ErrorDetail {
  const where = `row ${row + 1}${line === undefined ? '' : ` (line ${line})`}${column === undefined ? '' : `, column "${column}"`}`;
  return { index: row, ...(column === undefined ? {} : { path: `/${column}` }), code, message: `${where}: ${message}` };
}

function rejectionDetail(r: Rejection, batch: FileBatch): ErrorDetail {
  const column = r.path.replace(/^\//, '').split('/')[0];
  return rowDetail(batch.firstRow + r.index, column === '' ? undefined : column, r.code, r.message, batch.lineOf(r.index));
}

/** A pipeline error with its record indexes turned into the file's rows. */
function inFile(err: unknown, batch: FileBatch): unknown {
  if (!isSluiceError(err)) return err;
  const details = err.details.map((d) => (d.index === undefined ? d : rejectionDetail({ index: d.index, path: d.path ?? '', code: d.code ?? err.code, message: d.message }, batch)));
  const first = details.find((d) => d.index !== undefined);
  const message = first === undefined ? err.message : `${first.message} (${err.message})`;
  return new SluiceError(err.code, message, details);
}
