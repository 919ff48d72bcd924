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
import type { OnInvalid } from '../../../../ingest/batch-encoder.ts';
import { protocolOnInvalid } from '../protocol-on-invalid.ts';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { LOKI_DECODE_IDLE_MS } from '../../../../config.ts';
import { SluiceError } from '../../../../core/errors.ts';
import type { AdmissionTicket } from '../../../../ingest/admission.ts';
import type { ApiContext } from '../../api-context.ts';
import { readBody } from '../../body-reader.ts';
import { PUBLIC, needs, onFixedTable } from '../../route-auth.ts';
import { ensureTable } from '../ensure-table.ts';
import type { PushEncoding } from './loki-decode.ts';
import { LokiDecodePool } from './loki-decode-pool.ts';
import { lokiTableDefinition } from './loki-table.ts';

const MiB = 1024 * 1024;

/** Registers `POST /loki/api/v1/push` and `GET /ready`. */
export function registerLokiRoutes(app: FastifyInstance, ctx: ApiContext): void {
  const table = ctx.config.lokiTable;
  const pool = new LokiDecodePool({
    threads: ctx.config.decodeThreads,
    workerBodyBytesMin: ctx.config.workerBodyBytesMin,
    // As the decode pool's workers (sluice-node.ts): the objects of one largest body, several times its bytes.
    workerHeapMbMax: Math.ceil((ctx.config.bodyBytesMax * 12) / MiB) + 64,
    idleTimeoutMs: LOKI_DECODE_IDLE_MS,
  });
  app.addHook('onClose', async () => {
    await pool.close();
  });
  // Loki clients retry 429 and 5xx: the error reply gives every retryable one its Retry-After.
  app.post('/loki/api/v1/push', needs(onFixedTable(table, 'write')), async (request, reply) => {
    await push(ctx, pool, request, table);
    return reply.code(204).send();
  });
  app.get('/ready', needs(PUBLIC), async (_request, reply) => {
    const phase = ctx.phase();
    if (phase === 'ready') return reply.type('text/plain; charset=utf-8').send('ready\n');
    return reply.code(503).header('retry-after', String(ctx.config.retryAfterSeconds)).type('text/plain; charset=utf-8').send(`node is ${phase}\n`);
  });
}

async function push(ctx: ApiContext, pool: LokiDecodePool, request: FastifyRequest, table: string): Promise<void> {
  const encoding = pushEncodingOf(request);
  // NOT_READY / SHUTTING_DOWN before a byte is read.
  ctx.services();
  const declared = Number(request.headers['content-length'] ?? 0);
  const ticket = ctx.door.tryAdmit(Number.isFinite(declared) ? Math.min(declared, ctx.config.bodyBytesMax) : 0);
  if (ticket === undefined) throw new SluiceError('OVERLOADED', 'too many writes in flight; retry after the Retry-After delay');
  let records: Uint8Array;
  let onInvalid: OnInvalid;
  try {
    const raw = await readBody(request.raw, { bodyBytesMax: ctx.config.bodyBytesMax, ticket, rawEncodings: encoding === 'protobuf' ? ['snappy'] : [] });
    const rawBytes = raw.length;
    const decoded = await pool.decode({ body: raw, encoding, bytesMax: ctx.config.bodyBytesMax });
    // Held at once: the body and what it decompressed to, then the records built from them.
    holdAtLeast(ticket, Math.max(rawBytes + decoded.decodedBytes, decoded.records.length));
    if (decoded.count === 0) {
      ticket.release();
      return;
    }
    records = decoded.records;
    onInvalid = protocolOnInvalid(request, await ensureTable(ctx, lokiTableDefinition(table)), 'reject');
  } catch (err) {
    ticket.release();
    throw err;
  }
  const result = await ctx.door.write({ table, body: records, format: 'json', onInvalid, source: 'loki', requestId: String(request.id) }, ticket, ctx.endpoints.http.progress);
  // Loki's own answer to a push it took only part of: 400 (not retried), the rest stored.
  const letters = result.deadLettered;
  if (letters !== undefined && letters.count > 0) {
    const first = result.rejected?.[0];
    throw new SluiceError('SCHEMA_VIOLATION', `${letters.count} of the push's entries were refused and stored in ${letters.table}; the other ${result.written} were written`, first === undefined ? [] : [first]);
  }
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
