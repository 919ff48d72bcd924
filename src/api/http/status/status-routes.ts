/**
 * `GET /status`: the status page (HTML, or the same snapshot as JSON with
 * `Accept: application/json`), and `GET /` for browsers only (Accept
 * prefers text/html; other clients' `GET /` is left to whichever route
 * serves it, e.g. an Elasticsearch probe). On the main address it needs
 * `ops`: a bearer token, or a session from the sign-in form; a browser
 * without either is sent there (303), a program gets 401. The
 * `--metrics-listen` operations address serves it without a token.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { SluiceError } from '../../../core/errors.ts';
import type { ApiContext } from '../api-context.ts';
import { factsOf, pagePrincipal } from '../auth-hook.ts';
import { needs, page } from '../route-auth.ts';
import { prefersHtml, prefersJson } from './accept.ts';
import { seeOther, sendHtml } from './page-reply.ts';
import { readSessionCookie } from './session-cookie.ts';
import { registerSignInRoutes } from './sign-in-routes.ts';
import { renderStatusPage, type StatusPageOptions } from './status-html.ts';
import { buildStatusSnapshot } from './status-snapshot.ts';

/** The route constraint that gives `GET /` to browsers only. */
const ACCEPT_HTML = 'acceptHtml';
/** Route options that match only requests preferring text/html (after `addAcceptStrategy`). */
export const BROWSERS_ONLY = { constraints: { [ACCEPT_HTML]: 'html' } } as const;

const MAIN_LINKS: StatusPageOptions['links'] = [
  { href: '/metrics', label: '/metrics' },
  { href: '/v1/cluster', label: '/v1/cluster' },
  { href: '/v1/sources', label: '/v1/sources' },
  { href: '/healthz', label: '/healthz' },
  { href: '/readyz', label: '/readyz' },
];
const OPS_LINKS: StatusPageOptions['links'] = [{ href: '/metrics', label: '/metrics' }];

/** Registers the status page and its sign-in on the main address. */
export function registerStatusRoutes(app: FastifyInstance, ctx: ApiContext): void {
  addAcceptStrategy(app);
  const handler = (request: FastifyRequest, reply: FastifyReply): Promise<FastifyReply> => mainPage(ctx, request, reply);
  app.get('/status', needs(page('ops')), handler);
  // No HEAD twin: browsers do not HEAD a page, and a HEAD / belongs to whoever serves GET / to programs.
  app.get('/', { ...needs(page('ops')), ...BROWSERS_ONLY, exposeHeadRoute: false }, handler);
  registerSignInRoutes(app, ctx);
}

/** Registers the page, without a token, on the --metrics-listen operations listener. */
export function registerOpsStatusRoutes(app: FastifyInstance, ctx: ApiContext): void {
  const handler = (request: FastifyRequest, reply: FastifyReply): Promise<FastifyReply> => sendStatus(ctx, request, reply, { links: OPS_LINKS, signOut: false });
  app.get('/status', handler);
  app.get('/', handler);
}

async function mainPage(ctx: ApiContext, request: FastifyRequest, reply: FastifyReply): Promise<FastifyReply> {
  if (pagePrincipal(request) === undefined) {
    if (prefersHtml(request.headers.accept)) return seeOther(reply, '/status/sign-in');
    // A program without a token: refused, audited and counted like any other route's.
    ctx.auth.auth.authenticate([], factsOf(request));
    throw new SluiceError('UNAUTHENTICATED', 'missing or invalid bearer token');
  }
  const session = request.headers.authorization === undefined && readSessionCookie(request.headers.cookie, request.protocol === 'https') !== undefined;
  return sendStatus(ctx, request, reply, { links: MAIN_LINKS, signOut: session });
}

async function sendStatus(ctx: ApiContext, request: FastifyRequest, reply: FastifyReply, o: StatusPageOptions): Promise<FastifyReply> {
  const snapshot = await buildStatusSnapshot(ctx, ctx.status);
  if (prefersJson(request.headers.accept)) return reply.header('cache-control', 'no-store').type('application/json').send(JSON.stringify(snapshot));
  return sendHtml(reply, 200, renderStatusPage(snapshot, o));
}

/** Routes `GET /` by whether the client prefers HTML; a non-browser request falls through to an unconstrained `/`. */
export function addAcceptStrategy(app: FastifyInstance): void {
  if (app.hasConstraintStrategy(ACCEPT_HTML)) return;
  app.addConstraintStrategy({
    name: ACCEPT_HTML,
    storage() {
      const handlers = new Map<unknown, unknown>();
      return { get: (value: unknown) => (handlers.get(value) ?? null) as never, set: (value: unknown, store: unknown) => void handlers.set(value, store) };
    },
    // find-my-way derives a strategy's value for every request once any route uses it: the write path pays only for the `includes`.
    deriveConstraint: (req: { headers: Record<string, string | string[] | undefined> }) => {
      const accept = stringHeader(req.headers['accept']);
      return accept !== undefined && accept.includes('html') && prefersHtml(accept) ? 'html' : 'other';
    },
    mustMatchWhenDerived: false,
  });
}

function stringHeader(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value.join(',') : value;
}

