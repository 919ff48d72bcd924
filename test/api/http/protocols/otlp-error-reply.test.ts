/**
 * The OTLP routes' error answers: every retryable refusal (429 OVERLOADED,
 * 503 NOT_READY / SHUTTING_DOWN / NO_QUORUM) carries Retry-After, which
 * OTLP exporters wait for before they retry; a 4xx or 500 does not. And
 * sluice's own error reply now says the same for 503s (the auth layer
 * answers NOT_READY with it before an OTLP handler runs). Both count the
 * refusal in sluice_http_refusals_total.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import Fastify from 'fastify';
import { pino } from 'pino';
import { SluiceError, type ErrorCode } from '../../../../src/core/errors.ts';
import type { ApiContext } from '../../../../src/api/http/api-context.ts';
import { sendError } from '../../../../src/api/http/error-reply.ts';
import { sendOtlpError } from '../../../../src/api/http/protocols/otlp/otlp-error-reply.ts';

const overloaded: string[] = [];
const ctx = {
  config: { retryAfterSeconds: 7 },
  log: pino({ level: 'silent' }),
  metrics: {
    overloaded: { inc: (labels: { reason: string }) => overloaded.push(labels.reason) },
    refusals: { inc: (labels: { route: string; table: string; code: string }) => refusals.push(`${labels.route} ${labels.table} ${labels.code}`) },
  },
  phase: () => 'ready',
  services: () => ({ catalog: { get: (name: string) => (name === 'otel_logs' ? {} : undefined) } }),
} as unknown as ApiContext;
const refusals: string[] = [];

const CASES: [ErrorCode, number, boolean][] = [
  ['OVERLOADED', 429, true],
  ['NOT_READY', 503, true],
  ['SHUTTING_DOWN', 503, true],
  ['NO_QUORUM', 503, true],
  ['INVALID_OTLP', 400, false],
  ['SCHEMA_INCOMPATIBLE', 409, false],
  ['WAL_IO', 500, false],
];

test('OTLP error answers: status, Retry-After on the retryable ones, a Status body in the request encoding', async (t) => {
  const app = Fastify();
  app.post<{ Params: { code: ErrorCode } }>('/otlp/:code', (request, reply) => sendOtlpError(ctx, request, reply, new SluiceError(request.params.code, 'x'), 'json', 'otel_logs'));
  app.post<{ Params: { code: ErrorCode } }>('/plain/:code', (request, reply) => sendError(ctx, request, reply, new SluiceError(request.params.code, 'x')));
  t.after(() => app.close());
  for (const [code, status, retry] of CASES) {
    for (const prefix of ['otlp', 'plain']) {
      const res = await app.inject({ method: 'POST', url: `/${prefix}/${code}` });
      assert.equal(res.statusCode, status, `${prefix} ${code}`);
      assert.equal(res.headers['retry-after'], retry ? '7' : undefined, `${prefix} ${code} Retry-After`);
      if (prefix === 'otlp') assert.equal(res.json().details[0].reason, code);
      else assert.equal(res.json().error.code, code);
    }
  }
  assert.deepEqual(overloaded, ['admission', 'admission']);
  assert.ok(refusals.includes('/otlp/:code otel_logs INVALID_OTLP'), 'counted in sluice_http_refusals_total, with the table it names');
  assert.equal(refusals.length, CASES.length * 2);
});
