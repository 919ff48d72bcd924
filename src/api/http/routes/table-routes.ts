/**
 * Table endpoints: create, list, describe, and schema evolution. The
 * definition is checked by the schema module; the catalog makes it durable
 * before the answer.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { SluiceError } from '../../../core/errors.ts';
import { parseTableDef } from '../../../core/schema/parse-table-def.ts';
import { evolveSchema } from '../../../core/schema/evolve-schema.ts';
import { currentDef, type TableEntry } from '../../../storage/catalog.ts';
import type { ApiContext } from '../api-context.ts';
import { readBody } from '../body-reader.ts';
import { ANY_TOKEN, needs, onSomeTable, onTable } from '../route-auth.ts';
import { authorizeRequest, principalOf } from '../auth-hook.ts';
import { grants, tableNeed, type TableAction } from '../../../security/scopes.ts';

/** Any table scope lets a token see that the table exists. */
const ANY_TABLE_ACTION: TableAction[] = ['read', 'write', 'schema'];

/** Largest table definition body. */
const DEFINITION_BYTES_MAX = 1024 * 1024;

/** Registers the table routes. */
export function registerTableRoutes(app: FastifyInstance, ctx: ApiContext): void {
  app.post('/v1/tables', needs(onSomeTable('schema')), async (request, reply) => {
    const { tables, cluster } = ctx.services();
    // A single node keeps one copy whatever the table says; a cluster's default is the operator's choice.
    const replicationFactorDefault = cluster === undefined ? 1 : ctx.config.replicationFactorDefault;
    const raw = await readJson(request);
    // The scope is checked on the name asked for, before the definition is judged: a denied caller learns nothing of it.
    const name = (raw as { name?: unknown } | null)?.name;
    authorizeRequest(ctx.auth, request, tableNeed('schema', typeof name === 'string' ? name : ''));
    const def = parseTableDef(raw, Date.now(), { aliasTtlMs: ctx.config.aliasTtlMs, replicationFactorDefault });
    const entry = await tables.create(def, Date.now());
    return send(reply, 201, describe(entry));
  });
  app.get('/v1/tables', needs(ANY_TOKEN), async (request, reply) => {
    const { catalog } = ctx.services();
    // Only the tables the token has some scope on: the others' names are not its business.
    const { scopes } = principalOf(request);
    const visible = catalog.list().filter((e) => grants(scopes, tableNeed(ANY_TABLE_ACTION, e.name)));
    return send(reply, 200, { tables: visible.map(describe) });
  });
  app.get<{ Params: { table: string } }>('/v1/tables/:table', needs(onTable(...ANY_TABLE_ACTION)), async (request, reply) => {
    const { catalog } = ctx.services();
    return send(reply, 200, describe(catalog.require(request.params.table)));
  });
  app.patch<{ Params: { table: string } }>('/v1/tables/:table/schema', needs(onTable('schema')), async (request, reply) => {
    const { catalog, tables } = ctx.services();
    catalog.require(request.params.table);
    const patch = await readJson(request);
    const entry = await tables.evolve(request.params.table, (current) => evolveSchema(current, patch, Date.now(), ctx.config.aliasTtlMs));
    return send(reply, 200, describe(entry));
  });
}

/** The public description of a table. */
export function describe(entry: TableEntry): Record<string, unknown> {
  const def = currentDef(entry);
  return { ...def, createdAt: entry.createdAtMs };
}

async function readJson(request: FastifyRequest): Promise<unknown> {
  const body = await readBody(request.raw, { bodyBytesMax: DEFINITION_BYTES_MAX });
  if (body.length === 0) throw new SluiceError('EMPTY_BODY', 'the request body is empty');
  try {
    return JSON.parse(body.toString('utf8')) as unknown;
  } catch (err) {
    throw new SluiceError('INVALID_JSON', `the body is not valid JSON: ${(err as Error).message}`);
  }
}

function send(reply: FastifyReply, status: number, body: unknown): FastifyReply {
  return reply.code(status).type('application/json').send(JSON.stringify(body));
}
