/**
 * The Loki routes before the node is ready and while it stops: `GET /ready`
 * and a push both answer 503 with Retry-After (retryable for Promtail and
 * Vector), never a 500, and nothing is admitted. The node's phase is a
 * stand-in here: reaching it in a real process needs a long WAL replay
 * (test/process/readiness.test.ts does that for /readyz).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import Fastify from 'fastify';
import { resolveConfig } from '../../../../src/config.ts';
import { SluiceError } from '../../../../src/core/errors.ts';
import type { ApiContext, NodePhase } from '../../../../src/api/http/api-context.ts';
import { sendError } from '../../../../src/api/http/error-reply.ts';
import { registerLokiRoutes } from '../../../../src/api/http/protocols/loki/loki-routes.ts';

function appIn(phase: NodePhase, admitted: number[]) {
  const ctx = {
    config: resolveConfig({ retryAfterSeconds: 3 }),
    phase: () => phase,
    metrics: { refusals: { inc: () => undefined }, overloaded: { inc: () => undefined } },
    services: () => {
      throw new SluiceError(phase === 'stopping' ? 'SHUTTING_DOWN' : 'NOT_READY', `node is ${phase}`);
    },
    door: {
      tryAdmit: (bytes: number) => {
        admitted.push(bytes);
        return undefined;
      },
    },
  } as unknown as ApiContext;
  const app = Fastify({ logger: false });
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', (_request, _payload, done) => done(null, undefined));
  app.setErrorHandler((err, request, reply) => sendError(ctx, request, reply, err));
  registerLokiRoutes(app, ctx);
  return app;
}

for (const [phase, code] of [['starting', 'NOT_READY'], ['stopping', 'SHUTTING_DOWN']] as const) {
  test(`${phase}: /ready and a push answer 503 ${code} with Retry-After, and nothing is admitted`, async (t) => {
    const admitted: number[] = [];
    const app = appIn(phase, admitted);
    t.after(() => app.close());
    const ready = await app.inject({ method: 'GET', url: '/ready' });
    assert.equal(ready.statusCode, 503);
    assert.equal(ready.headers['retry-after'], '3');
    assert.equal(ready.body, `node is ${phase}\n`);
    const push = await app.inject({ method: 'POST', url: '/loki/api/v1/push', headers: { 'content-type': 'application/json' }, payload: '{"streams":[]}' });
    assert.equal(push.statusCode, 503);
    assert.equal(push.headers['retry-after'], '3');
    assert.equal(JSON.parse(push.body).error.code, code);
    assert.deepEqual(admitted, []);
  });
}
