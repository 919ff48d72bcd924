/**
 * Cluster endpoints: `GET /v1/cluster` (nodes, their state as this node
 * sees it, addresses, placement epoch, shards per node, hints pending) and
 * `POST /v1/cluster/repair[?shard=N]` (Merkle anti-entropy now, on the
 * shards this node holds), `POST /v1/cluster/cleanup` (drop what this
 * node no longer replicates, after handing it to the replicas), and `POST|DELETE
 * /v1/cluster/nodes/{id}/decommission` (ask for a node to leave the ring,
 * or withdraw the request). A single node answers with itself alone.
 */
import type { FastifyInstance, FastifyReply } from 'fastify';
import { SluiceError } from '../../../core/errors.ts';
import type { ApiContext } from '../api-context.ts';
import { needs, scope } from '../route-auth.ts';
import { queryParams } from '../query-params.ts';

/** Registers the cluster routes. */
export function registerClusterRoutes(app: FastifyInstance, ctx: ApiContext): void {
  app.get('/v1/cluster', needs(scope('ops')), async (request, reply) => {
    const { cluster } = ctx.services();
    const body =
      cluster === undefined
        ? {
            mode: 'single',
            nodeId: ctx.config.nodeId,
            leader: true,
            live: true,
            shardCount: ctx.config.shards,
            placement: { epoch: 0, nodes: [ctx.config.nodeId] },
            decommissioned: [],
            nodes: [{ id: ctx.config.nodeId, state: 'alive', registered: false, http: `${request.protocol}://${request.host}`, shards: ctx.config.shards, hintsPending: 0 }],
            hintsPending: 0,
            hintsDropped: 0,
            hintsExpired: 0,
            hintsRefused: 0,
            // One WAL frame per atomic batch: nothing is ever pending on a single node.
            transactions: { pending: 0, pendingBytes: 0, oldestPendingMs: 0, running: 0, undecided: [] },
          }
        : await cluster.status();
    return reply.type('application/json').send(JSON.stringify(body));
  });

  app.post('/v1/cluster/repair', needs(scope('cluster')), async (request, reply) => {
    const { cluster } = ctx.services();
    if (cluster === undefined) throw new SluiceError('INVALID_ARGUMENT', 'this node runs alone (no --etcd): there are no replicas to repair');
    const q = queryParams(request);
    const text = q['shard'];
    if (text !== undefined && (!/^[0-9]{1,5}$/.test(text) || Number(text) >= ctx.config.shards)) {
      throw new SluiceError('INVALID_ARGUMENT', `shard must be an integer 0..${ctx.config.shards - 1}`, [{ path: 'shard', message: `got ${JSON.stringify(text)}` }]);
    }
    const shard = text === undefined ? undefined : Number(text);
    const report = await cluster.repair(shard);
    return reply.type('application/json').send(JSON.stringify(report));
  });

  app.post('/v1/cluster/cleanup', needs(scope('cluster')), async (_request, reply) => {
    const { cluster } = ctx.services();
    if (cluster === undefined) throw new SluiceError('INVALID_ARGUMENT', 'this node runs alone (no --etcd): it replicates every shard');
    const report = await cluster.cleanup();
    return reply.type('application/json').send(JSON.stringify(report));
  });

  const decommission = (cancel: boolean) => async (request: { params: { id: string } }, reply: FastifyReply): Promise<FastifyReply> => {
    const { cluster } = ctx.services();
    if (cluster === undefined) throw new SluiceError('INVALID_ARGUMENT', 'this node runs alone (no --etcd): there is no ring to leave');
    await cluster.decommission(request.params.id, cancel);
    return reply.code(202).type('application/json').send(JSON.stringify({ node: request.params.id, decommission: !cancel }));
  };
  app.post<{ Params: { id: string } }>('/v1/cluster/nodes/:id/decommission', needs(scope('cluster')), decommission(false));
  app.delete<{ Params: { id: string } }>('/v1/cluster/nodes/:id/decommission', needs(scope('cluster')), decommission(true));
}
