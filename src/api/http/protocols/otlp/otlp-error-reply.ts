/**
 * Error answers of the OTLP routes: a google.rpc.Status in the request's
 * encoding (what OTLP/HTTP clients read) instead of sluice's JSON error
 * body, with the same status codes and the same Retry-After rule. A
 * retryable refusal (429, 503) always carries Retry-After, since OTLP
 * exporters wait that long before they send the batch again.
 */
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { ApiContext } from '../../api-context.ts';
import { retryAfterSeconds, toSluiceError } from '../../error-reply.ts';
import { otlpContentType, statusResponse, type OtlpEncoding } from './otlp-response.ts';

/** Sends `err` as an OTLP Status answer to a write into `table`. */
export function sendOtlpError(ctx: ApiContext, request: FastifyRequest, reply: FastifyReply, err: unknown, encoding: OtlpEncoding, table: string): FastifyReply {
  const e = toSluiceError(err);
  ctx.metrics.refusals.inc({ route: request.routeOptions.url ?? 'unmatched', table: knownTable(ctx, table), code: e.code });
  if (e.status >= 500 && !e.canRetry) {
    ctx.log.error({ err: e.cause ?? err, url: request.url, method: request.method, code: e.code }, 'request failed');
  }
  if (e.code === 'OVERLOADED') ctx.metrics.overloaded.inc({ reason: 'admission' });
  if (e.canRetry && (e.status === 429 || e.status === 503)) {
    // A table's rate limit says when the request fits; other refusals get the node's delay.
    void reply.header('retry-after', String(e.retryAfterMs !== undefined ? retryAfterSeconds(e.retryAfterMs) : ctx.config.retryAfterSeconds));
  }
  return reply.code(e.status).type(otlpContentType(encoding)).send(statusResponse(encoding, e));
}

/** `table` when this node has it, else '' (a label from any URL would let a client grow /metrics without bound). */
function knownTable(ctx: ApiContext, table: string): string {
  if (ctx.phase() !== 'ready') return '';
  return ctx.services().catalog.get(table) === undefined ? '' : table;
}
