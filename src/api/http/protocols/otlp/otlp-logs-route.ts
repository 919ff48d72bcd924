/**
 * OTLP/HTTP logs: `POST /v1/logs` into the configured table (default
 * `otel_logs`), and `POST /otlp/{table}/v1/logs` into another one (an
 * exporter's base endpoint `…/otlp/{table}` gets `/v1/logs` appended).
 * Protobuf or JSON bodies, gzip or not, chunked or with a Content-Length.
 *
 * The records take the same door as every write: admission before the
 * body is read (a chunked body grows its reservation as it arrives, and is
 * refused with 429 when it cannot), one decode task of the pipeline that
 * decodes, maps, validates and encodes the body (in a worker thread when
 * it is large; src/ingest/formats/otlp/), skip mode (refused records come
 * back as `partialSuccess`, the rest are written), and the answer after
 * the WAL fsync. Overload is 429, not ready or stopping 503, both with
 * Retry-After: the statuses OTLP exporters retry.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { SluiceError } from '../../../../core/errors.ts';
import { TABLE_NAME_RE } from '../../../../core/schema/parse-table-def.ts';
import { OTLP_DECODE_HEAP_BYTES_PER_BODY_BYTE } from '../../../../config.ts';
import type { DecodedRefusals, OnInvalid, Rejection } from '../../../../ingest/batch-encoder.ts';
import type { WriteResult } from '../../../../ingest/pipeline.ts';
import { currentDef } from '../../../../storage/catalog.ts';
import type { ApiContext } from '../../api-context.ts';
import { readBody } from '../../body-reader.ts';
import { needs, onFixedTable, onTable } from '../../route-auth.ts';
import { ensureTable } from '../ensure-table.ts';
import { protocolOnInvalid } from '../protocol-on-invalid.ts';
import { checkOtelLogsTable, otelLogsTableDefinition } from './otel-logs-table.ts';
import { sendOtlpError } from './otlp-error-reply.ts';
import { exportResponse, otlpContentType, otlpEncodingOf, type OtlpEncoding } from './otlp-response.ts';

/** Refusals named in `partialSuccess.errorMessage`; the count covers all of them. */
const REJECTIONS_IN_MESSAGE_MAX = 3;

/** Registers the OTLP logs routes. */
export function registerOtlpLogsRoutes(app: FastifyInstance, ctx: ApiContext): void {
  const table = ctx.config.otlpLogsTable;
  app.post('/v1/logs', needs(onFixedTable(table, 'write')), (request, reply) => handle(ctx, request, reply, table));
  app.post<{ Params: { table: string } }>('/otlp/:table/v1/logs', needs(onTable('write')), (request, reply) => handle(ctx, request, reply, request.params.table));
}

async function handle(ctx: ApiContext, request: FastifyRequest, reply: FastifyReply, table: string): Promise<FastifyReply> {
  const encoding = otlpEncodingOf(request.headers['content-type']);
  try {
    if (encoding === undefined) {
      throw new SluiceError('UNSUPPORTED_MEDIA_TYPE', `OTLP/HTTP takes application/x-protobuf or application/json, not ${request.headers['content-type'] ?? 'no Content-Type'}`);
    }
    if (!TABLE_NAME_RE.test(table)) throw new SluiceError('INVALID_ARGUMENT', `${JSON.stringify(table)} is not a table name (^[A-Za-z][A-Za-z0-9_]{0,62}$)`, [{ path: 'table', message: table }]);
    const answer = await exportLogs(ctx, request, table, encoding);
    return await reply.code(200).type(otlpContentType(encoding)).send(answer);
  } catch (err) {
    // Drain what the client still sends, so it reads the answer instead of a reset connection.
    request.raw.resume();
    return sendOtlpError(ctx, request, reply, err, encoding ?? 'json', table);
  }
}

/** Reads and writes one export request (the pipeline decodes and maps it); returns the success answer's body. */
async function exportLogs(ctx: ApiContext, request: FastifyRequest, table: string, encoding: OtlpEncoding): Promise<Buffer | string> {
  ctx.services();
  const declared = Number(request.headers['content-length'] ?? 0);
  // A chunked body has no length: it is admitted at 0 bytes and body-reader grows the ticket as bytes arrive.
  const ticket = ctx.door.tryAdmit(Number.isFinite(declared) ? Math.min(declared, ctx.config.bodyBytesMax) : 0);
  if (ticket === undefined) throw new SluiceError('OVERLOADED', 'too many writes in flight; retry after the Retry-After delay');
  let raw: Buffer;
  let onInvalid: OnInvalid;
  try {
    raw = await readBody(request.raw, { bodyBytesMax: ctx.config.bodyBytesMax, ticket });
    const entry = await ensureTable(ctx, otelLogsTableDefinition(table));
    checkOtelLogsTable(currentDef(entry));
    onInvalid = protocolOnInvalid(request, entry, 'skip');
  } catch (err) {
    ticket.release();
    throw err;
  }
  // The decode task's working set is held while the task runs, not while it waits for a thread; then only the batch.
  const otlp = { encoding, recordsBytesMax: ctx.config.bodyBytesMax, workingSetBytes: raw.length * OTLP_DECODE_HEAP_BYTES_PER_BODY_BYTE[encoding] };
  const result = await ctx.door.write({ table, body: raw, format: 'json', otlp, onInvalid, source: 'otlp', requestId: String(request.id) }, ticket, ctx.endpoints.http.progress);
  const decoded = result.decoded;
  if (decoded === undefined) throw new Error('an OTLP write answered without its decoder refusals');
  const rejected = allRejections(decoded, result);
  return exportResponse(encoding, rejected.count, rejected.count === 0 ? '' : rejectionMessage(rejected.list, rejected.count, decoded.total));
}

/** The decoder's refusals and the table's, with the table's indexes turned back into the request's. */
function allRejections(decoded: DecodedRefusals, result: WriteResult): { list: Rejection[]; count: number } {
  const fromTable = (result.rejected ?? []).map((r) => ({ ...r, index: decoded.positions[r.index] ?? r.index }));
  const list = [...decoded.rejected, ...fromTable].sort((a, b) => a.index - b.index);
  return { list, count: decoded.rejected.length + result.rejectedCount };
}

/** `partialSuccess.errorMessage`: how many, and the first few with where and why. */
function rejectionMessage(list: readonly Rejection[], count: number, total: number): string {
  const named = list.slice(0, REJECTIONS_IN_MESSAGE_MAX).map((r) => `log record ${r.index}${r.path === '' ? '' : ` ${r.path}`}: ${r.code} ${r.message}`);
  const more = count > named.length ? `; and ${count - named.length} more` : '';
  return `${count} of ${total} log records rejected: ${named.join('; ')}${more}`;
}
