/**
 * The one place that turns any error into an HTTP answer. SluiceErrors
 * carry their status; fastify's own errors are mapped to our codes so a
 * client only ever sees `{"error": {"code", "message", "details"}}`.
 */
import type { FastifyReply, FastifyRequest } from 'fastify';
import { SluiceError, type ErrorCode } from '../../core/errors.ts';
import type { ApiContext } from './api-context.ts';
import { closeInsteadOfDraining } from './unread-body.ts';

const FASTIFY_STATUS_CODES: Readonly<Record<number, ErrorCode>> = {
  400: 'BAD_REQUEST',
  404: 'NOT_FOUND',
  405: 'METHOD_NOT_ALLOWED',
  413: 'PAYLOAD_TOO_LARGE',
  415: 'UNSUPPORTED_MEDIA_TYPE',
  429: 'OVERLOADED',
  503: 'NOT_READY',
};

/** Normalizes anything thrown by a handler into a SluiceError. */
export function toSluiceError(err: unknown): SluiceError {
  if (err instanceof SluiceError) return err;
  const status = typeof err === 'object' && err !== null && 'statusCode' in err ? Number(err.statusCode) : 500;
  const code = FASTIFY_STATUS_CODES[status];
  const message = err instanceof Error ? err.message : String(err);
  if (code !== undefined) return new SluiceError(code, message);
  return new SluiceError('INTERNAL', 'internal error', [], { cause: err });
}

/** Sends the error answer; 5xx other than the expected ones are logged with their cause. */
export function sendError(ctx: ApiContext, request: FastifyRequest, reply: FastifyReply, err: unknown): FastifyReply {
  const e = toSluiceError(err);
  ctx.metrics.refusals.inc({ route: request.routeOptions.url ?? 'unmatched', table: knownTable(ctx, request), code: e.code });
  if (e.code === 'INTERNAL' || e.code === 'STORAGE_IO' || e.code === 'WAL_IO') {
    ctx.log.error({ err: e.cause ?? err, url: request.url, method: request.method }, 'request failed');
  }
  // RFC 6750's challenges: what was wrong with the credentials, or which scope is missing.
  if (e.code === 'UNAUTHENTICATED') {
    void reply.header('www-authenticate', request.headers.authorization === undefined ? 'Bearer realm="sluice"' : 'Bearer realm="sluice", error="invalid_token"');
  } else if (e.code === 'PERMISSION_DENIED' && e.details[0]?.path === 'scope') {
    void reply.header('www-authenticate', `Bearer realm="sluice", error="insufficient_scope", scope="${e.details[0].message}"`);
  }
  if (e.code === 'OVERLOADED') ctx.metrics.overloaded.inc({ reason: e.details[0]?.path === 'exports' ? 'exports' : 'admission' });
  const retryAfter = retryAfterOf(ctx, e);
  if (retryAfter !== undefined) void reply.header('retry-after', String(retryAfter));
  if (closeInsteadOfDraining(request.raw, reply)) ctx.metrics.httpConnections.inc({ event: 'unread_body' });
  return reply.code(e.status).type('application/json').send(JSON.stringify(e.toBody()));
}

/**
 * Retry-After of a refusal, seconds: when a table's rate lets the request
 * in, or the node's delay for any other retryable 429 or 503 (OTLP
 * exporters, Promtail and Vector retry those after it; without it some give
 * up); undefined for an answer not to be retried.
 */
export function retryAfterOf(ctx: ApiContext, e: SluiceError): number | undefined {
  if (e.retryAfterMs !== undefined) return retryAfterSeconds(e.retryAfterMs);
  return e.canRetry && (e.status === 429 || e.status === 503) ? ctx.config.retryAfterSeconds : undefined;
}

/** The table a refused request's URL names, if this node has it ('' otherwise). */
function knownTable(ctx: ApiContext, request: FastifyRequest): string {
  const params: unknown = request.params;
  const name = typeof params === 'object' && params !== null && 'table' in params && typeof params.table === 'string' ? params.table : undefined;
  return knownTableName(ctx, name);
}

/** `name` when this node has that table, else '': a metric label taken from any URL would let a client grow /metrics without bound. */
export function knownTableName(ctx: ApiContext, name: string | undefined): string {
  if (name === undefined || ctx.phase() !== 'ready') return '';
  return ctx.services().catalog.get(name) === undefined ? '' : name;
}

/**
 * Retry-After in whole seconds (RFC 9110 allows no fraction), rounded up so
 * a client that waits it finds the request fits: at least 1.
 */
export function retryAfterSeconds(ms: number): number {
  return Math.max(1, Math.ceil(ms / 1000));
}
