/**
 * The calls Elasticsearch clients and shippers make before (or besides)
 * `_bulk`, answered as an Elasticsearch 8 node would so that they go on
 * to send: the version probe (`GET`/`HEAD /`), cluster health, and the
 * licence, index-template, ILM, ingest-pipeline and node calls Logstash
 * and Filebeat make at start (empty answers: sluice has none of these),
 * and `_refresh` (a no-op: what sluice acknowledged is already readable).
 */
import { prefersHtml } from '../../status/accept.ts';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { ApiContext } from '../../api-context.ts';
import type { RouteAuth } from '../../route-auth.ts';

/** Cluster name the probes report. */
const CLUSTER_NAME = 'sluice';
/** The Lucene version an Elasticsearch 8.17 reports; clients only display it. */
const LUCENE_VERSION = '9.12.0';

/** Route options of every probe. */
type ProbeOptions = { config: { auth: RouteAuth; shipperCredentials: boolean } };

/** Registers the probes with `o` (auth, the product header hook). */
export function registerEsProbes(app: FastifyInstance, ctx: ApiContext, o: ProbeOptions): void {
  // HEAD of each GET comes with it (fastify's exposeHeadRoutes): same headers, no body.
  app.get('/', o, (request, reply) => rootAnswer(ctx, request, reply));
  app.get('/_cluster/health', o, (_request, reply) => json(reply, clusterHealth(ctx)));
  app.get('/_cat/health', o, (_request, reply) => reply.type('text/plain; charset=utf-8').send(catHealth(ctx)));
  app.get('/_license', o, (_request, reply) => json(reply, licence()));
  app.get('/_xpack', o, (_request, reply) => json(reply, { build: {}, license: licence().license, features: {} }));
  app.get('/_nodes/http', o, (_request, reply) => json(reply, { _nodes: { total: 0, successful: 0, failed: 0 }, cluster_name: CLUSTER_NAME, nodes: {} }));
  app.get('/_nodes', o, (_request, reply) => json(reply, { _nodes: { total: 0, successful: 0, failed: 0 }, cluster_name: CLUSTER_NAME, nodes: {} }));
  app.get('/_index_template', o, (_request, reply) => json(reply, { index_templates: [] }));
  // A template is "there" (200): Logstash and Filebeat then skip installing one.
  app.get('/_index_template/:name', o, (_request, reply) => json(reply, { index_templates: [] }));
  app.put('/_index_template/:name', o, (request, reply) => acknowledged(request, reply));
  app.get('/_ilm/policy', o, (_request, reply) => json(reply, {}));
  app.get('/_ilm/policy/:name', o, (_request, reply) => json(reply, {}));
  app.put('/_ilm/policy/:name', o, (request, reply) => acknowledged(request, reply));
  app.get('/_ingest/pipeline', o, (_request, reply) => json(reply, {}));
  app.get('/_ingest/pipeline/:name', o, (_request, reply) => json(reply, {}));
  // A write is readable once answered (after the fsync): a refresh has nothing to do (the bulk helper's refreshOnCompletion calls it).
  for (const url of ['/_refresh', '/:index/_refresh']) app.route({ method: ['POST', 'GET'], url, ...o, handler: (request, reply) => refreshed(request, reply) });
}

/** `_refresh`: nothing to make visible; the body (none is expected) is drained. */
function refreshed(request: FastifyRequest, reply: FastifyReply): FastifyReply {
  request.raw.resume();
  return json(reply, { _shards: { total: 1, successful: 1, failed: 0 } });
}

/**
 * `GET /`: the version body, to clients that do not prefer HTML. A
 * browser is sent to the status page instead (`GET /` is the operator's
 * page for browsers; shippers never ask for HTML).
 */
function rootAnswer(ctx: ApiContext, request: FastifyRequest, reply: FastifyReply): FastifyReply {
  if (prefersHtml(request.headers.accept)) return reply.code(303).header('location', '/status').send();
  return json(reply, versionBody(ctx));
}

/** What `GET /` answers: an Elasticsearch 8 node's info. */
export function versionBody(ctx: ApiContext): Record<string, unknown> {
  return {
    name: ctx.config.nodeId,
    cluster_name: CLUSTER_NAME,
    cluster_uuid: '_na_',
    version: {
      number: ctx.config.esVersion,
      build_flavor: 'default',
      build_type: 'sluice',
      build_hash: 'sluice',
      build_date: '2026-01-01T00:00:00.000Z',
      build_snapshot: false,
      lucene_version: LUCENE_VERSION,
      minimum_wire_compatibility_version: '7.17.0',
      minimum_index_compatibility_version: '7.0.0',
    },
    tagline: 'You Know, for Search',
  };
}

/** Green while the node takes writes, red otherwise (starting, stopping). */
function clusterHealth(ctx: ApiContext): Record<string, unknown> {
  return {
    cluster_name: CLUSTER_NAME,
    status: healthColour(ctx),
    timed_out: false,
    number_of_nodes: 1,
    number_of_data_nodes: 1,
    active_primary_shards: 0,
    active_shards: 0,
    relocating_shards: 0,
    initializing_shards: 0,
    unassigned_shards: 0,
    delayed_unassigned_shards: 0,
    number_of_pending_tasks: 0,
    number_of_in_flight_fetch: 0,
    task_max_waiting_in_queue_millis: 0,
    active_shards_percent_as_number: 100,
  };
}

function healthColour(ctx: ApiContext): 'green' | 'red' {
  return ctx.phase() === 'ready' ? 'green' : 'red';
}

/** `_cat/health`'s one line: epoch, time, cluster, status, nodes, data nodes. */
function catHealth(ctx: ApiContext): string {
  const now = new Date();
  return `${Math.floor(now.getTime() / 1000)} ${now.toISOString().slice(11, 19)} ${CLUSTER_NAME} ${healthColour(ctx)} 1 1 0 0 0 0 0 0 - 100.0%\n`;
}

/** An active basic licence (Logstash and Filebeat refuse a server without one). */
function licence(): { license: Record<string, unknown> } {
  return {
    license: {
      status: 'active',
      uid: '00000000-0000-0000-0000-000000000000',
      type: 'basic',
      issue_date: '2026-01-01T00:00:00.000Z',
      issue_date_in_millis: Date.UTC(2026, 0, 1),
      max_nodes: 1000,
      max_resource_units: null,
      issued_to: CLUSTER_NAME,
      issuer: 'elasticsearch',
      start_date_in_millis: -1,
    },
  };
}

/** A PUT that changes nothing: its body is drained unread (Node discards what the handler leaves). */
function acknowledged(request: FastifyRequest, reply: FastifyReply): FastifyReply {
  request.raw.resume();
  return json(reply, { acknowledged: true });
}

function json(reply: FastifyReply, body: unknown): FastifyReply {
  return reply.type('application/json').send(JSON.stringify(body));
}
