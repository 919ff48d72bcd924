/**
 * Token administration (`admin`): `POST /v1/auth/tokens` makes a token and
 * answers with its secret once; `GET` lists them (never a hash or a
 * secret); `DELETE /v1/auth/tokens/{id}` revokes; `POST …/{id}/rotate`
 * issues a successor and ends the old one after a grace period. And
 * `GET /v1/auth/whoami` (any token) says who the caller is.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { SluiceError } from '../../../core/errors.ts';
import { parseDuration } from '../../../security/duration.ts';
import { infoOf, type IssuedToken } from '../../../security/token-registry.ts';
import type { ApiContext } from '../api-context.ts';
import { factsOf, principalOf } from '../auth-hook.ts';
import { readBody } from '../body-reader.ts';
import { ANY_TOKEN, needs, scope } from '../route-auth.ts';

/** Largest token request body. */
const TOKEN_BODY_BYTES_MAX = 16 * 1024;

/** Registers the token routes. */
export function registerAuthRoutes(app: FastifyInstance, ctx: ApiContext): void {
  const registry = ctx.auth.auth.registry;
  const audit = ctx.auth.auth.audit;
  app.get('/v1/auth/whoami', needs(ANY_TOKEN), async (request, reply) => {
    const p = principalOf(request);
    const record = registry.get(p.id);
    return send(reply, 200, record === undefined ? { id: p.id, name: p.name, scopes: p.scopes } : infoOf(record));
  });
  app.get('/v1/auth/tokens', needs(scope('admin')), async (_request, reply) => send(reply, 200, { tokens: registry.list() }));
  app.post('/v1/auth/tokens', needs(scope('admin')), async (request, reply) => {
    const body = await readJson(request);
    const name = body['name'];
    const scopes = body['scopes'];
    if (typeof name !== 'string') throw new SluiceError('INVALID_ARGUMENT', 'name is required', [{ path: 'name', message: 'a string' }]);
    if (!Array.isArray(scopes) || !scopes.every((s) => typeof s === 'string')) throw new SluiceError('INVALID_ARGUMENT', 'scopes must be an array of strings', [{ path: 'scopes', message: 'an array' }]);
    const expires = body['expires'];
    if (expires !== undefined && typeof expires !== 'string') throw new SluiceError('INVALID_ARGUMENT', 'expires is a duration like 90d', [{ path: 'expires', message: 'a string' }]);
    const issued = await registry.create({ name, scopes, ...(expires === undefined ? {} : { expiresAtMs: Date.now() + parseDuration(expires, 'expires') }) }, by(request));
    audit.write('token_created', { ...factsOf(request), principal: principalOf(request).name, tokenId: issued.record.id, name, scopes: issued.record.scopes });
    return send(reply, 201, issuedBody(issued));
  });
  app.delete<{ Params: { id: string } }>('/v1/auth/tokens/:id', needs(scope('admin')), async (request, reply) => {
    const revoked = await registry.revoke(request.params.id);
    audit.write('token_revoked', { ...factsOf(request), principal: principalOf(request).name, tokenId: revoked.id, name: revoked.name });
    return send(reply, 200, infoOf(revoked));
  });
  app.post<{ Params: { id: string } }>('/v1/auth/tokens/:id/rotate', needs(scope('admin')), async (request, reply) => {
    const body = await readJson(request, true);
    const grace = body['grace'];
    if (grace !== undefined && typeof grace !== 'string') throw new SluiceError('INVALID_ARGUMENT', 'grace is a duration like 24h', [{ path: 'grace', message: 'a string' }]);
    const issued = await registry.rotate(request.params.id, grace === undefined ? 0 : parseDuration(grace, 'grace'), by(request));
    audit.write('token_rotated', { ...factsOf(request), principal: principalOf(request).name, tokenId: request.params.id, successor: issued.record.id });
    return send(reply, 201, issuedBody(issued));
  });
}

function issuedBody(issued: IssuedToken): Record<string, unknown> {
  // The secret is in this answer and nowhere else: it is not stored, logged or audited.
  return { token: issued.token, ...infoOf(issued.record) };
}

function by(request: FastifyRequest): string {
  const p = principalOf(request);
  return `${p.id} (${p.name})`;
}

async function readJson(request: FastifyRequest, emptyAllowed = false): Promise<Record<string, unknown>> {
  const body = await readBody(request.raw, { bodyBytesMax: TOKEN_BODY_BYTES_MAX });
  if (body.length === 0) {
    if (emptyAllowed) return {};
    throw new SluiceError('EMPTY_BODY', 'the request body is empty');
  }
  let value: unknown;
  try {
    value = JSON.parse(body.toString('utf8'));
  } catch (err) {
    throw new SluiceError('INVALID_JSON', `the body is not valid JSON: ${(err as Error).message}`);
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new SluiceError('INVALID_ARGUMENT', 'the body must be a JSON object');
  return value as Record<string, unknown>;
}

function send(reply: FastifyReply, status: number, body: unknown): FastifyReply {
  return reply.code(status).type('application/json').send(JSON.stringify(body));
}
