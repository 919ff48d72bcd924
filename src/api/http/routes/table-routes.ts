/**
 * Table endpoints: create, list, describe, schema evolution, and settings
 * (`PATCH /v1/tables/{t}`: the table's limits, never a schema change). The
 * definition is checked by the schema module; the catalog makes it durable
 * before the answer.
 */
import { isDeepStrictEqual } from 'node:util';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { SluiceError } from '../../../core/errors.ts';
import { parseTableDef, throwIfProblems, withOnInvalid } from '../../../core/schema/parse-table-def.ts';
import { evolveSchema } from '../../../core/schema/evolve-schema.ts';
import { DefinitionProblems } from '../../../core/schema/parse-field-specs.ts';
import { describeLimits, parseTableLimits, patchTableLimits, type TableLimits } from '../../../core/schema/table-limits.ts';
import { TABLE_LIMIT_BOUNDS } from '../../../config.ts';
import { currentDef, type TableEntry } from '../../../storage/catalog.ts';
import type { TableDef } from '../../../core/schema/table-def.ts';
import { isDeadLetterTable, letterTableProblems } from '../../../ingest/dead-letters/dead-letter-table.ts';
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
    const { limits: rawLimits, rest } = splitLimits(raw);
    const def = parseTableDef(rest, Date.now(), { aliasTtlMs: ctx.config.aliasTtlMs, replicationFactorDefault });
    const limits = checkLimits(rawLimits);
    // Created ahead of its first letter, a dead-letter table must still take them.
    const letterProblems = isDeadLetterTable(def.name) ? letterTableProblems(def) : [];
    if (letterProblems.length > 0) throw new SluiceError('INVALID_TABLE_DEFINITION', `a dead-letter table must take the node's letters: ${letterProblems[0]?.path} ${letterProblems[0]?.message}`, letterProblems);
    const entry = await tables.create(def, Date.now(), limits);
    return send(reply, 201, { ...describe(entry, ctx.config.eventTimeAheadMsMax), ...(await agreement(ctx, entry)) });
  });
  app.get('/v1/tables', needs(ANY_TOKEN), async (request, reply) => {
    const { catalog } = ctx.services();
    // Only the tables the token has some scope on: the others' names are not its business.
    const { scopes } = principalOf(request);
    const visible = catalog.list().filter((e) => grants(scopes, tableNeed(ANY_TABLE_ACTION, e.name)));
    return send(reply, 200, { tables: visible.map((e) => describe(e, ctx.config.eventTimeAheadMsMax)) });
  });
  app.get<{ Params: { table: string } }>('/v1/tables/:table', needs(onTable(...ANY_TABLE_ACTION)), async (request, reply) => {
    const { catalog } = ctx.services();
    return send(reply, 200, describe(catalog.require(request.params.table), ctx.config.eventTimeAheadMsMax));
  });
  // Settings, not schema: the same scope as a schema change (both are the table owner's), no new schema version.
  app.patch<{ Params: { table: string } }>('/v1/tables/:table', needs(onTable('schema')), async (request, reply) => {
    const { catalog, tables } = ctx.services();
    let entry = catalog.require(request.params.table);
    const patch = settingsPatch(await readJson(request));
    // Both parts are judged before either is stored: they are two durable changes, and a request
    // refused for its limits must not leave its onInvalid applied (nor the reverse).
    if ('onInvalid' in patch) withOnInvalid(currentDef(entry), patch.onInvalid);
    if ('limits' in patch) patchTableLimits(entry.limits ?? {}, patch.limits, TABLE_LIMIT_BOUNDS);
    // onInvalid is a field of the definition (a new schema version); limits are kept beside it.
    if ('onInvalid' in patch) entry = await tables.evolve(request.params.table, (current) => withOnInvalid(current, patch.onInvalid));
    if ('limits' in patch) entry = await tables.setLimits(request.params.table, (current) => patchTableLimits(current, patch.limits, TABLE_LIMIT_BOUNDS));
    return send(reply, 200, describe(entry, ctx.config.eventTimeAheadMsMax));
  });
  app.patch<{ Params: { table: string } }>('/v1/tables/:table/schema', needs(onTable('schema')), async (request, reply) => {
    const { catalog, tables } = ctx.services();
    const table = catalog.require(request.params.table);
    // The version the patch was written against, when it does not name one (evolveSchema checks one it names): the one current when it arrived.
    const seenVersion = currentDef(table).version;
    const patch = schemaPart(await readJson(request), describeLimits(table.limits, ctx.config.eventTimeAheadMsMax));
    const namesVersion = typeof patch === 'object' && patch !== null && 'version' in patch;
    const entry = await tables.evolve(request.params.table, (current) => keepsLetterFields(notOvertaken(current, evolveSchema(current, patch, Date.now(), ctx.config.aliasTtlMs), namesVersion ? current.version : seenVersion)));
    return send(reply, 200, { ...describe(entry, ctx.config.eventTimeAheadMsMax), ...(await agreement(ctx, entry)) });
  });
}

/**
 * Whether every live node has loaded `entry`, waited for up to
 * `schemaAgreementWaitMsMax` (schema-agreement.ts): the change is stored
 * whatever this says, so it never turns the answer into an error.
 */
async function agreement(ctx: ApiContext, entry: TableEntry): Promise<{ acknowledged: boolean; pendingNodes: string[] }> {
  const { tables } = ctx.services();
  if (tables.agreement === undefined) return { acknowledged: true, pendingNodes: [] };
  return tables.agreement(entry.name, entry, ctx.config.schemaAgreementWaitMsMax);
}

/**
 * `next`, unless another change was stored since the patch arrived: a
 * patch is a full field list, so applied to that newer version it would
 * silently undo it (a field another operator just added, not in this list,
 * removed). Then SCHEMA_INCOMPATIBLE (409), as a stale `version` is; a
 * patch that changes nothing (it asks for what is already there) is no
 * conflict.
 */
function notOvertaken(current: TableDef, next: TableDef, seenVersion: number): TableDef {
  if (next === current || current.version === seenVersion) return next;
  const message = `the table changed to schema version ${current.version} while this patch (against version ${seenVersion}) waited: describe it again and retry`;
  throw new SluiceError('SCHEMA_INCOMPATIBLE', `incompatible schema change: /version ${message}`, [{ path: '/version', message }]);
}

/** `next` when it is no dead-letter table, or one that still takes letters; SCHEMA_INCOMPATIBLE otherwise. */
function keepsLetterFields(next: TableDef): TableDef {
  const problems = isDeadLetterTable(next.name) ? letterTableProblems(next) : [];
  if (problems.length === 0) return next;
  throw new SluiceError('SCHEMA_INCOMPATIBLE', `incompatible schema change: ${problems[0]?.path} ${problems[0]?.message}`, problems);
}

/** The public description of a table: its current definition and the limits that apply (defaults filled in). */
export function describe(entry: TableEntry, eventTimeAheadMsMaxDefault: number): Record<string, unknown> {
  const def = currentDef(entry);
  return { ...def, limits: describeLimits(entry.limits, eventTimeAheadMsMaxDefault), createdAt: entry.createdAtMs };
}

/**
 * A schema patch without what a described table adds beside the schema
 * (`createdAt`, `limits`), so the output of GET can be sent back with new
 * fields. Limits that differ from the current ones are refused: they are
 * changed with PATCH /v1/tables/{t}, and ignoring them would lose the change.
 */
function schemaPart(body: unknown, currentLimits: TableLimits): unknown {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) return body;
  const { createdAt: _createdAt, limits, ...rest } = body as Record<string, unknown>;
  if (limits !== undefined && !isDeepStrictEqual(limits, currentLimits)) {
    throw new SluiceError('INVALID_TABLE_DEFINITION', 'limits are not part of the schema: change them with PATCH /v1/tables/{t} {"limits": {...}}', [{ path: '/limits', message: 'differs from the current limits' }]);
  }
  return rest;
}

/** A definition's `limits` apart from the rest (which `parseTableDef` checks). */
function splitLimits(raw: unknown): { limits: unknown; rest: unknown } {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw) || !('limits' in raw)) return { limits: undefined, rest: raw };
  const { limits, ...rest } = raw as Record<string, unknown>;
  return { limits, rest };
}

/** Checks a definition's limits; throws INVALID_TABLE_DEFINITION. */
function checkLimits(raw: unknown): TableLimits {
  const problems = new DefinitionProblems();
  const limits = parseTableLimits(raw, '/limits', TABLE_LIMIT_BOUNDS, problems);
  throwIfProblems(problems);
  return limits;
}

/** The settings a `PATCH /v1/tables/{t}` body may change: `limits` only (the schema has its own route). */
function settingsPatch(body: unknown): { limits?: unknown; onInvalid?: unknown } {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    throw new SluiceError('INVALID_TABLE_DEFINITION', 'a table settings patch is a JSON object: {"limits": {...}}', [{ path: '', message: 'expected an object' }]);
  }
  const unknown = Object.keys(body).filter((k) => k !== 'limits' && k !== 'onInvalid');
  if (unknown.length > 0 || !('limits' in body || 'onInvalid' in body)) {
    const schemaKey = unknown.some((k) => ['fields', 'shardKey', 'primaryKey', 'timeField', 'extraFields', 'proto'].includes(k));
    const hint = schemaKey ? `; a schema change goes to PATCH /v1/tables/{t}/schema` : '';
    throw new SluiceError('INVALID_TABLE_DEFINITION', `a table settings patch takes {"limits": {...}} and/or {"onInvalid": "reject"|"skip"|"dead_letter"}${unknown.length > 0 ? `, not ${unknown.map((k) => JSON.stringify(k)).join(', ')}` : ''}${hint}`, unknown.map((k) => ({ path: `/${k}`, message: 'not a table setting' })));
  }
  return body as { limits?: unknown; onInvalid?: unknown };
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
