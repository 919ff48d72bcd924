/**
 * `GET /v1/tx/{id}`: what became of an atomic batch across shards, by the
 * `tx_id` its write answered with (or a TX_IN_DOUBT error named):
 * `committed` (every record will be visible), `aborted` (none ever will),
 * or `unknown` (no decision recorded and no node holds an outcome: not yet
 * decided, never prepared, or decided so long ago that every trace is
 * swept). A single node runs no two-phase commit and knows no batch by id.
 */
import type { FastifyInstance } from 'fastify';
import { SluiceError } from '../../../core/errors.ts';
import type { ApiContext } from '../api-context.ts';
import { needs, onSomeTable } from '../route-auth.ts';

const ID_MAX = (1n << 64n) - 1n;

/** Registers the transaction routes. */
export function registerTxRoutes(app: FastifyInstance, ctx: ApiContext): void {
  app.get<{ Params: { id: string } }>('/v1/tx/:id', needs(onSomeTable('write')), async (request, reply) => {
    const text = request.params.id;
    if (!/^[0-9]{1,20}$/.test(text) || BigInt(text) > ID_MAX) {
      throw new SluiceError('INVALID_ARGUMENT', 'a transaction id is the decimal tx_id a write answered with', [{ path: 'id', message: `got ${JSON.stringify(text)}` }]);
    }
    const status = await ctx.services().coordinator.txStatus(BigInt(text));
    return reply.type('application/json').send(JSON.stringify({ tx_id: text, status }));
  });
}
