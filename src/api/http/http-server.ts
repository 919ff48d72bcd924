/**
 * The HTTP server (fastify). Bodies are not parsed by fastify: handlers
 * read the raw stream themselves so admission, size limits and gzip are
 * enforced while reading (see body-reader.ts).
 */
import { randomUUID } from 'node:crypto';
import type { Server as TlsServer } from 'node:tls';
import Fastify, { type FastifyInstance } from 'fastify';
import { TLS_MIN_VERSION } from '../../config.ts';
import { SluiceError } from '../../core/errors.ts';
import type { ApiContext } from './api-context.ts';
import { sendError } from './error-reply.ts';
import { deferContinue } from './expect-continue.ts';
import { registerWriteRoutes } from './routes/write-routes.ts';
import { registerTableRoutes } from './routes/table-routes.ts';
import { registerReadRoutes } from './routes/read-routes.ts';
import { registerOpsRoutes, sendMetrics } from './routes/ops-routes.ts';
import { registerClusterRoutes } from './routes/cluster-routes.ts';
import { registerImportRoutes } from './routes/import-routes.ts';
import { registerDeadLetterRoutes } from './routes/dead-letter-routes.ts';
import { registerTxRoutes } from './routes/tx-routes.ts';
import { registerAuthRoutes } from './routes/auth-routes.ts';
import { registerHttpAuth } from './auth-hook.ts';
import { registerLokiRoutes } from './protocols/loki/loki-routes.ts';
import { registerOpsStatusRoutes, registerStatusRoutes } from './status/status-routes.ts';
import { registerOtlpLogsRoutes } from './protocols/otlp/otlp-logs-route.ts';
import { registerElasticsearchRoutes } from './protocols/elasticsearch/es-routes.ts';

/** The body types the routes read (records, imports, shippers' protocols), parsed by no one but the handler. */
const BODY_CONTENT_TYPES = [
  'application/json',
  'application/x-ndjson',
  'application/x-protobuf',
  'application/protobuf',
  'application/octet-stream',
  'application/vnd.elasticsearch+x-ndjson',
  'application/vnd.apache.parquet',
  'text/csv',
  'text/plain',
] as const;

/** A certificate (chain) and key, PEM. */
export interface HttpsPair {
  readonly cert: string;
  readonly key: string;
}

/** Builds the fastify app with every route, serving HTTPS with `tls` when given; not yet listening. */
export function buildHttpServer(ctx: ApiContext, tls?: HttpsPair): FastifyInstance {
  const app = Fastify({
    ...(tls === undefined ? {} : { https: { cert: tls.cert, key: tls.key, minVersion: TLS_MIN_VERSION } }),
    logger: false,
    // Our own limit is enforced while reading; fastify never buffers a body here.
    bodyLimit: ctx.config.bodyBytesMax,
    keepAliveTimeout: ctx.config.httpKeepAliveTimeoutMs,
    requestTimeout: ctx.config.httpRequestTimeoutMs,
    // No server-wide socket timeout: an idle connection is closed by the keep-alive timer (connection-gate.ts counts it).
    connectionTimeout: 0,
    // Ids and cursors are long; fastify's default 100-char param limit is plenty but explicit.
    routerOptions: { maxParamLength: 200 },
    return503OnClosing: true,
    // A caller's own request id (a gateway's, say) is kept when it is sane; otherwise a fresh one.
    genReqId: (req) => {
      const given = req.headers['x-request-id'];
      return typeof given === 'string' && /^[A-Za-z0-9._:-]{1,64}$/.test(given) ? given : randomUUID();
    },
  });
  // fastify does not pass it on; Node's own default (60 s) made explicit and configurable.
  app.server.headersTimeout = ctx.config.httpHeadersTimeoutMs;
  // `100 Continue` only once a route reads the body: a refused request is answered before the client sends it.
  deferContinue(app.server);
  registerHttpAuth(app, ctx.auth);
  app.removeAllContentTypeParsers();
  // Leave the body stream untouched for the handler. The types the routes read are named as well: fastify
  // caches the parser of a named type by the header's text, while the catch-all costs a media-type parse per request.
  const untouched = (_request: unknown, _payload: unknown, done: (err: null, body: undefined) => void): void => done(null, undefined);
  app.addContentTypeParser([...BODY_CONTENT_TYPES], untouched);
  app.addContentTypeParser('*', untouched);

  // Callback style, not async: no promise per request.
  app.addHook('onResponse', (request, reply, done) => {
    const route = request.routeOptions.url ?? 'unmatched';
    ctx.metrics.requestDuration.observe({ method: request.method, route, status: String(reply.statusCode) }, reply.elapsedTime / 1000);
    done();
  });
  app.setErrorHandler((err, request, reply) => sendError(ctx, request, reply, err));
  app.setNotFoundHandler((request, reply) =>
    sendError(ctx, request, reply, new SluiceError('NOT_FOUND', `no route ${request.method} ${request.url.split('?')[0] ?? ''}`)),
  );

  registerOpsRoutes(app, ctx);
  registerTableRoutes(app, ctx);
  registerWriteRoutes(app, ctx);
  registerImportRoutes(app, ctx);
  registerDeadLetterRoutes(app, ctx);
  registerTxRoutes(app, ctx);
  registerReadRoutes(app, ctx);
  registerClusterRoutes(app, ctx);
  registerAuthRoutes(app, ctx);
  registerLokiRoutes(app, ctx);
  registerStatusRoutes(app, ctx);
  registerOtlpLogsRoutes(app, ctx);
  registerElasticsearchRoutes(app, ctx);
  return app;
}

/** Serves `pair` on the HTTPS listener of `app` from the next handshake on (connections open keep theirs). */
export function setHttpsPair(app: FastifyInstance, pair: HttpsPair): void {
  // fastify types its server as http.Server whatever it made; with `https` it is a tls.Server.
  (app.server as unknown as TlsServer).setSecureContext({ cert: pair.cert, key: pair.key, minVersion: TLS_MIN_VERSION });
}

/** A listener serving GET /metrics and the status page (/status, /) without a token (--metrics-listen: bind it where only operators and the scraper reach). */
export function buildMetricsServer(ctx: ApiContext): FastifyInstance {
  const app = Fastify({ logger: false });
  app.get('/metrics', (_request, reply) => sendMetrics(ctx, reply));
  registerOpsStatusRoutes(app, ctx);
  return app;
}
