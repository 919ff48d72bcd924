/**
 * The Elasticsearch-compatible surface: `_bulk` and the probes shippers
 * make. Every answer of these routes, errors included (a 401, a 429),
 * carries `X-Elastic-Product: Elasticsearch`: the official clients since
 * 7.14 refuse a server without it, and Logstash checks it at start.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { ApiContext } from '../../api-context.ts';
import { ANY_TOKEN } from '../../route-auth.ts';
import { registerBulkRoutes } from './bulk-route.ts';
import { registerEsProbes } from './es-probes.ts';
import { withEsErrorFields } from './es-error-body.ts';

/** Registers the Elasticsearch routes. */
export function registerElasticsearchRoutes(app: FastifyInstance, ctx: ApiContext): void {
  // A plugin scope: its onSend hook runs for these routes only, after every handler and error handler.
  void app.register(async (scope) => {
    scope.addHook('onSend', elasticProduct);
    // Probes need a token like every route; the token may also come as a basic-auth password or API key.
    const options = { config: { auth: ANY_TOKEN, shipperCredentials: true } };
    registerEsProbes(scope, ctx, options);
    registerBulkRoutes(scope, ctx, options);
  });
}

/** The product header on every answer, and Elasticsearch's error fields beside sluice's on error answers. */
function elasticProduct(_request: FastifyRequest, reply: FastifyReply, payload: unknown, done: (err: null, payload: unknown) => void): void {
  void reply.header('x-elastic-product', 'Elasticsearch');
  done(null, withEsErrorFields(payload, reply.statusCode));
}
