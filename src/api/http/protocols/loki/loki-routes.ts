/**
 * Loki's push API, so Promtail, Grafana Alloy, Vector, Fluent Bit,
 * winston-loki or pino-loki can ship logs to sluice by changing a URL:
 *
 * - `POST /loki/api/v1/push`: a snappy block of protobuf (`application/x-protobuf`
 *   or no Content-Type, as Loki reads it; `Content-Encoding` none or `snappy`),
 *   or JSON (`application/json`, optionally gzip). 204 once the records are
 *   durable (after the fsync), like every sluice write; 400 with a coded
 *   error and nothing written when any part of the push is malformed (Loki
 *   refuses the whole push too); 429 with Retry-After when the node is
 *   full, 503 with Retry-After when it is not ready: both retryable.
 * - `GET /ready`: 200 `ready` once the node serves, 503 before (the probe
 *   Promtail and Vector make).
 *
 * Records land in `--loki-table` (loki-table.ts), created on the first push.
 */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { SluiceError, isSluiceError } from '../../../../core/errors.ts';
import type { AdmissionTicket } from '../../../../ingest/admission.ts';
import type { ApiContext } from '../../api-context.ts';
import { readBody } from '../../body-reader.ts';
import { PUBLIC, needs, onFixedTable } from '../../route-auth.ts';
import { ensureTable } from '../ensure-table.ts';
import type { LokiStream } from './loki-push.ts';
import { decodeJsonPush } from './loki-push-json.ts';
import { decodeProtoPush } from './loki-push-proto.ts';
import { lokiRecordsBody } from './loki-records.ts';
import { lokiTableDefinition } from './loki-table.ts';

/** How a push body is encoded. */
type PushEncoding = 'protobuf' | 'json';

/** Registers `POST /loki/api/v1/push` and `GET /ready`. */
export function registerLokiRoutes(app: FastifyInstance, ctx: ApiContext): void {
  const table = ctx.config.lokiTable;
  app.post('/loki/api/v1/push', needs(onFixedTable(table, 'write')), async (request, reply) => {
    try {
      await push(ctx, request, table);
      return await reply.code(204).send();
    } catch (err) {
      // Loki clients retry 429 and 5xx; Retry-After tells them when (OVERLOADED gets it from the error reply).
      if (isSluiceError(err) && err.canRetry && err.status === 503) void reply.header('retry-after', String(ctx.config.retryAfterSeconds));
      throw err;
    }
  });
  app.get('/ready', needs(PUBLIC), async (_request, reply) => {
    const phase = ctx.phase();
    if (phase === 'ready') return reply.type('text/plain; charset=utf-8').send('ready\n');
    return reply.code(503).header('retry-after', String(ctx.config.retryAfterSeconds)).type('text/plain; charset=utf-8').send(`node is ${phase}\n`);
  });
}

async function push(ctx: ApiContext, request: FastifyRequest, table: string): Promise<void> {
  const encoding = pushEncodingOf(request);
  // NOT_READY / SHUTTING_DOWN before a byte is read.
  ctx.services();
  const declared = Number(request.headers['content-length'] ?? 0);
  const ticket = ctx.door.tryAdmit(Number.isFinite(declared) ? Math.min(declared, ctx.config.bodyBytesMax) : 0);
  if (ticket === undefined) throw new SluiceError('OVERLOADED', 'too many writes in flight; retry after the Retry-After delay');
  let body: Buffer;
  let records: number;
  try {
    const raw = await readBody(request.raw, { bodyBytesMax: ctx.config.bodyBytesMax, ticket, rawEncodings: encoding === 'protobuf' ? ['snappy'] : [] });
    const streams = decodePush(raw, encoding, ctx.config.bodyBytesMax, ticket);
    ({ body, records } = lokiRecordsBody(streams, ctx.config.bodyBytesMax));
    holdAtLeast(ticket, body.length);
    if (records > 0) await ensureTable(ctx, lokiTableDefinition(table));
  } catch (err) {
    ticket.release();
    throw err;
  }
  if (records === 0) {
    ticket.release();
    return;
  }
  await ctx.door.write({ table, body, format: 'json', onInvalid: 'reject', requestId: String(request.id) }, ticket, ctx.endpoints.http.progress);
}

/** The push's streams; the decompressed protobuf is counted against admission while it is held. */
function decodePush(raw: Buffer, encoding: PushEncoding, bytesMax: number, ticket: AdmissionTicket): LokiStream[] {
  if (encoding === 'json') return decodeJsonPush(raw);
  const { streams, decodedBytes } = decodeProtoPush(raw, bytesMax);
  holdAtLeast(ticket, raw.length + decodedBytes);
  return streams;
}

/** Protobuf unless the Content-Type says JSON (Loki reads a push without one as protobuf); 415 for anything else. */
function pushEncodingOf(request: FastifyRequest): PushEncoding {
  const mime = (request.headers['content-type'] ?? '').split(';', 1)[0]?.trim().toLowerCase() ?? '';
  const contentEncoding = (request.headers['content-encoding'] ?? 'identity').toLowerCase().trim();
  if (mime === 'application/json') {
    if (contentEncoding === 'snappy') throw new SluiceError('UNSUPPORTED_MEDIA_TYPE', 'a JSON push may be gzip-compressed or not; snappy goes with application/x-protobuf');
    return 'json';
  }
  if (mime === '' || mime === 'application/x-protobuf' || mime === 'application/protobuf') return 'protobuf';
  throw new SluiceError('UNSUPPORTED_MEDIA_TYPE', `a Loki push is application/x-protobuf (a snappy block) or application/json, not ${mime}`);
}

/** Grows `ticket` to at least `bytes`; OVERLOADED when admission has no room for it. */
function holdAtLeast(ticket: AdmissionTicket, bytes: number): void {
  if (bytes > ticket.bytes && !ticket.grow(bytes - ticket.bytes)) throw new SluiceError('OVERLOADED', 'too many bytes in flight; retry later');
}
