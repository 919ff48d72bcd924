/**
 * Write endpoints: `POST /v1/tables/{t}/records` and the seed-compatible
 * `POST /ingest` (into `events`). Bodies are JSON or NDJSON, or, as
 * `application/x-protobuf`, length-delimited messages of the table's
 * protobuf message. Admission is taken before the body is read, so an
 * overloaded node refuses at once instead of buffering.
 */
import { DEDUPE_NUMBER_CHARS_MAX } from '../../../config.ts';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { SluiceError } from '../../../core/errors.ts';
import { bodyFormatOf, isDelimitedProtobuf } from '../../../ingest/decode-body.ts';
import { splitDelimited } from '../../../ingest/delimited-frames.ts';
import type { OnInvalid } from '../../../ingest/batch-encoder.ts';
import type { DedupeKeys } from '../../../ingest/dedupe-keys.ts';
import type { WriteResult } from '../../../ingest/pipeline.ts';
import type { Consistency } from '../../../cluster/coordinator/coordinator.ts';
import type { ApiContext } from '../api-context.ts';
import { needs, onFixedTable, onTable } from '../route-auth.ts';
import { readBody } from '../body-reader.ts';
import { queryParams, oneOf, dedupePrefixParam, nonNegativeIntParam, sourceParam } from '../query-params.ts';
import { INVALID_POLICIES } from '../../../core/schema/table-def.ts';
import { currentDef } from '../../../storage/catalog.ts';

/** Registers the write routes. */
export function registerWriteRoutes(app: FastifyInstance, ctx: ApiContext): void {
  app.post<{ Params: { table: string } }>('/v1/tables/:table/records', needs(onTable('write')), (request, reply) => write(ctx, request, reply, request.params.table));
  app.post('/ingest', needs(onFixedTable('events', 'write')), (request, reply) => write(ctx, request, reply, 'events'));
}

async function write(ctx: ApiContext, request: FastifyRequest, reply: FastifyReply, table: string): Promise<FastifyReply> {
  const q = queryParams(request);
  // A single node is W = R = 1 whatever is asked; a cluster coordinator counts replica acks.
  const consistency = oneOf<Consistency>(q, 'consistency', ['one', 'quorum', 'all'], 'quorum');
  // One WAL frame on a single node or inside one shard; two-phase commit across shards in a cluster.
  const atomic = oneOf(q, 'atomic', ['true', 'false'], 'false') === 'true';
  const services = ctx.services();
  const entry = services.catalog.require(table);
  // Without on_invalid the table's default applies; an atomic write is all or nothing whatever the default.
  const onInvalid = oneOf<OnInvalid>(q, 'on_invalid', INVALID_POLICIES, atomic ? 'reject' : (currentDef(entry).onInvalid ?? 'reject'));
  if (atomic && onInvalid !== 'reject') {
    throw new SluiceError('INVALID_ARGUMENT', `atomic=true cannot be combined with on_invalid=${onInvalid}: a request that stores only its valid records is not all or nothing`, [{ path: 'on_invalid', message: 'use reject with atomic' }]);
  }
  const source = sourceParam(q, 'http');
  dedupeParams(q);
  // Where the body's first record sits in what its sender writes as one whole (`sluice ingest` sends a
  // file's rows in slices), so dead letters' `record_index` names the record in that whole.
  const recordIndexBase = nonNegativeIntParam(q, 'record_index_base');
  const declared = Number(request.headers['content-length'] ?? 0);
  const ticket = ctx.door.tryAdmit(Number.isFinite(declared) ? Math.min(declared, ctx.config.bodyBytesMax) : 0);
  if (ticket === undefined) throw new SluiceError('OVERLOADED', 'too many writes in flight; retry after the Retry-After delay');
  let input: { body: Buffer; frames?: Uint32Array; frameFormat?: 'protobuf' };
  try {
    const body = await readBody(request.raw, { bodyBytesMax: ctx.config.bodyBytesMax, ticket });
    input = isDelimitedProtobuf(request.headers['content-type']) ? { ...splitDelimited(body), frameFormat: 'protobuf' } : { body };
  } catch (err) {
    ticket.release();
    throw err;
  }
  const dedupe = dedupeParams(q);
  const result = await ctx.door.write(
    {
      table,
      ...input,
      format: bodyFormatOf(request.headers['content-type']),
      onInvalid,
      consistency,
      ...(atomic ? { atomic: true } : {}),
      requestId: String(request.id),
      source,
      ...(recordIndexBase === undefined ? {} : { recordIndexBase }),
      ...(dedupe === undefined ? {} : { dedupe }),
    },
    ticket,
    ctx.endpoints.http.progress,
  );
  // 202: accepted durably on this node, but not yet on W replicas (partition buffer mode).
  return reply.code(result.degraded === true ? 202 : 200).type('application/json').send(writeResultJson(result));
}

/** Widest zero padding of a dedupe number (an int64 has 19 digits). */
const DEDUPE_DIGITS_MAX = DEDUPE_NUMBER_CHARS_MAX;

/**
 * `dedupe_prefix` + `dedupe_first` [+ `dedupe_digits`]: record i of the
 * body gets the key prefix + (first + i), zero-padded to `dedupe_digits`,
 * so a client that re-sends a batch after a crash (an importer resuming
 * from its checkpoint, `sluice kafka` after a restart) writes nothing twice.
 */
function dedupeParams(q: Record<string, string | undefined>): DedupeKeys | undefined {
  const first = q['dedupe_first'];
  const digits = q['dedupe_digits'];
  const prefix = dedupePrefixParam(q, first !== undefined || digits !== undefined);
  if (prefix === undefined) return undefined;
  const n = nonNegativeIntParam(q, 'dedupe_first') ?? 0;
  if (digits === undefined) return { prefix, first: n };
  if (!/^[0-9]{1,2}$/.test(digits) || Number(digits) > DEDUPE_DIGITS_MAX) {
    throw new SluiceError('INVALID_ARGUMENT', `dedupe_digits must be an integer from 0 to ${DEDUPE_DIGITS_MAX}, got ${digits}`);
  }
  return { prefix, first: n, digits: Number(digits) };
}

/** The answer body, built by hand: this runs per request, and the ids are written as bytes (request-ids.ts). */
export function writeResultJson(result: WriteResult): Buffer {
  const token = result.token === null ? 'null' : JSON.stringify(result.token);
  const rejected = result.rejected === undefined ? '' : `,"rejected":${JSON.stringify(result.rejected)},"rejected_count":${result.rejectedCount}`;
  const degraded = result.degraded === true ? ',"degraded":true' : '';
  const txId = result.txId === undefined ? '' : `,"tx_id":"${result.txId}"`;
  const head = Buffer.from(`{"written":${result.written},"ids":`);
  const tail = Buffer.from(`,"token":${token}${rejected}${degraded}${txId}${deadLetteredJson(result)}}`);
  return Buffer.concat([head, result.ids.jsonBytes(), tail]);
}

/** `"dead_lettered":{table, count, letters:[{index, id}]}` when the write dead-lettered records. */
function deadLetteredJson(result: WriteResult): string {
  const d = result.deadLettered;
  if (d === undefined) return '';
  return `,"dead_lettered":${JSON.stringify({ table: d.table, count: d.count, letters: d.letters })}`;
}
