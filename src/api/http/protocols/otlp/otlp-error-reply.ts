/**
 * Error answers of the OTLP routes: a google.rpc.Status in the request's
 * encoding (what OTLP/HTTP clients read) instead of sluice's JSON error
 * body, with the same status codes and the same Retry-After rule. A
 * retryable refusal (429, 503) always carries Retry-After, since OTLP
 * exporters wait that long before they send the batch again.
 */
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { ApiContext } from '../../api-context.ts';
import { knownTableName, retryAfterOf, toSluiceError } from '../../error-reply.ts';
import { otlpContentType, statusResponse, type OtlpEncoding } from './otlp-response.ts';

/** Sends `err` as an OTLP Status answer to a write into `table`. */
export function sendOtlpError(ctx: ApiContext, request: FastifyRequest, reply: FastifyReply, err: unknown, encoding: OtlpEncoding, table: string): FastifyReply {
  const e = toSluiceError(err);
  ctx.metrics.refusals.inc({ route: request.routeOptions.url ?? 'unmatched', table: knownTableName(ctx, table), code: e.code });
  if (e.status >= 500 && !e.canRetry) {
    ctx.log.error({ err: e.cause ?? err, url: request.url, method: request.method, code: e.code }, 'request failed');
  }
  if (e.code === 'OVERLOADED') ctx.metrics.overloaded.inc({ reason: 'admission' });
  const retryAfter = retryAfterOf(ctx, e);
  if (retryAfter !== undefined) void reply.header('retry-after', String(retryAfter));
  return reply.code(e.status).type(otlpContentType(encoding)).send(statusResponse(encoding, e));
}
