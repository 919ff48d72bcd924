/**
 * `POST /v1/tables/{t}/dead_letters`: records a client refused before
 * sending them (its own conversion or validation: `sluice ingest`'s CSV and
 * Parquet reader is one) stored as dead letters of table `t`, beside the
 * ones the node refuses itself, so `sluice dlq list|replay` sees them all.
 * The records are kept, not validated; the answer comes once they are
 * durable.
 *
 * Body: one JSON object per letter, as NDJSON or a JSON array:
 * `{"record": <any JSON>, "code": "SCHEMA_VIOLATION", "message": "…",
 * "path": "/col", "index": 12, "dedupe_key": "<the row's dedupe key>"}`
 * (`path`, `index` and `dedupe_key` optional). With a dedupe key the
 * letter's id follows from it, so sending the same letter again rewrites
 * it instead of adding a second one.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { DEAD_LETTER_RAW_BYTES_MAX, DEAD_LETTERS_PER_REQUEST_MAX } from '../../../config.ts';
import { SluiceError, type ErrorDetail } from '../../../core/errors.ts';
import { decodeBody, bodyFormatOf } from '../../../ingest/decode-body.ts';
import type { ApiContext } from '../api-context.ts';
import { readBody } from '../body-reader.ts';
import { deadLetterRefused, type RefusedRecord } from '../dead-letter-refused.ts';
import { queryParams, sourceParam } from '../query-params.ts';
import { needs, onTable } from '../route-auth.ts';

/** A letter's code: an error or violation code as the node's own (upper case, digits, underscores). */
const CODE_RE = /^[A-Z][A-Z0-9_]{0,63}$/;
/** Longest message or path kept, characters. */
const TEXT_CHARS_MAX = 4_096;

/** Registers the route. */
export function registerDeadLetterRoutes(app: FastifyInstance, ctx: ApiContext): void {
  app.post<{ Params: { table: string } }>('/v1/tables/:table/dead_letters', needs(onTable('write')), (request, reply) => store(ctx, request, reply, request.params.table));
}

async function store(ctx: ApiContext, request: FastifyRequest, reply: FastifyReply, table: string): Promise<FastifyReply> {
  const source = sourceParam(queryParams(request), 'http');
  ctx.services().catalog.require(table);
  // Admitted like a write while the body is read; the letters then hold admission of their own (deadLetterRefused).
  const declared = Number(request.headers['content-length'] ?? 0);
  const ticket = ctx.door.tryAdmit(Number.isFinite(declared) ? Math.min(declared, ctx.config.bodyBytesMax) : 0);
  if (ticket === undefined) throw new SluiceError('OVERLOADED', 'too many writes in flight; retry after the Retry-After delay');
  let entries: unknown[];
  try {
    entries = decodeBody(await readBody(request.raw, { bodyBytesMax: ctx.config.bodyBytesMax, ticket }), bodyFormatOf(request.headers['content-type']));
  } finally {
    ticket.release();
  }
  if (entries.length > DEAD_LETTERS_PER_REQUEST_MAX) {
    throw new SluiceError('INVALID_ARGUMENT', `${entries.length} letters in one request, more than ${DEAD_LETTERS_PER_REQUEST_MAX}: send them in parts`);
  }
  const problems: ErrorDetail[] = [];
  const refused = entries.flatMap((e, i) => {
    const r = letterOf(e, i, problems);
    return r === undefined ? [] : [r];
  });
  if (problems.length > 0) throw new SluiceError('INVALID_ARGUMENT', `${problems.length} of ${entries.length} letters are malformed; none was stored`, problems.slice(0, ctx.config.errorDetailsMax));
  const ack = await deadLetterRefused(ctx, table, source, refused, String(request.id));
  return reply.code(200).type('application/json').send(JSON.stringify({ dead_lettered: { table: ack.table, count: refused.length }, token: ack.token }));
}

/** One entry as a refused record, or undefined with its problems noted. */
function letterOf(e: unknown, i: number, problems: ErrorDetail[]): RefusedRecord | undefined {
  const bad = (path: string, message: string): undefined => {
    problems.push({ index: i, path, message });
    return undefined;
  };
  if (typeof e !== 'object' || e === null || Array.isArray(e)) return bad('', 'a letter is a JSON object');
  const o = e as Record<string, unknown>;
  for (const k of Object.keys(o)) if (!['record', 'code', 'message', 'path', 'index', 'dedupe_key'].includes(k)) return bad(`/${k}`, 'not a field of a letter');
  if (!('record' in o)) return bad('/record', 'required: the refused record');
  const raw = Buffer.from(JSON.stringify(o['record']));
  if (raw.byteLength > DEAD_LETTER_RAW_BYTES_MAX) return bad('/record', `${raw.byteLength} bytes, more than a dead letter keeps (${DEAD_LETTER_RAW_BYTES_MAX})`);
  if (typeof o['code'] !== 'string' || !CODE_RE.test(o['code'])) return bad('/code', 'required: an error code such as SCHEMA_VIOLATION (^[A-Z][A-Z0-9_]{0,63}$)');
  if (typeof o['message'] !== 'string' || o['message'].length > TEXT_CHARS_MAX) return bad('/message', `required: why, at most ${TEXT_CHARS_MAX} characters`);
  const path = o['path'] ?? '';
  if (typeof path !== 'string' || path.length > TEXT_CHARS_MAX || (path !== '' && !path.startsWith('/'))) return bad('/path', "a JSON pointer ('' or starting with /)");
  const index = o['index'];
  if (index !== undefined && !(Number.isSafeInteger(index) && (index as number) >= 0)) return bad('/index', 'a record index, an integer >= 0');
  const key = o['dedupe_key'];
  if (key !== undefined && (typeof key !== 'string' || key === '' || key.length > TEXT_CHARS_MAX)) return bad('/dedupe_key', 'a non-empty string');
  return {
    raw,
    code: o['code'],
    message: o['message'],
    path,
    ...(index === undefined ? {} : { index: index as number }),
    ...(key === undefined ? {} : { dedupeKey: key as string }),
  };
}
