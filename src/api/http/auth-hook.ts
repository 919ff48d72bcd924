/**
 * Authentication on the HTTP door, in fastify's `onRequest` hook: it runs
 * before any body is read or admitted, so an anonymous client cannot make
 * the node spool a 1 GiB import. Also here: the Host check against DNS
 * rebinding on a loopback listener, the refusals of `--auth none`, and
 * the audit line of every granted admin, schema and cluster action.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { SluiceError } from '../../core/errors.ts';
import { ANONYMOUS, type Authenticator, type RequestFacts } from '../../security/authenticator.ts';
import type { Principal } from '../../security/token-registry.ts';
import { describeNeed, globalNeed, type Need } from '../../security/scopes.ts';
import type { SessionStore } from '../../security/session-store.ts';
import { needOf, type RouteAuth } from './route-auth.ts';
import { sessionPrincipal } from './status/session-cookie.ts';
import { asBearer, isShipperScheme } from '../../security/shipper-credentials.ts';

/** How the HTTP door checks callers. */
export interface HttpAuthOptions {
  readonly auth: Authenticator;
  /** Host header names this listener answers (undefined: any). */
  readonly allowedHosts: { has(host: string): boolean } | undefined;
  /** Audit every granted data read and write too (volume). */
  readonly auditDataAccess: boolean;
  /** Status-page browser sessions (routes declared `page`); none: only bearer tokens. */
  readonly sessions?: SessionStore;
}

declare module 'fastify' {
  interface FastifyRequest {
    /** The caller, once the onRequest hook has authenticated it (a decoration: a WeakMap set per request cost ~1% of the single-record path). */
    sluicePrincipal: Principal | undefined;
  }
}

const declared = new WeakMap<FastifyInstance, DeclaredRoute[]>();

/** A route and what it needs, as registered. */
export interface DeclaredRoute {
  readonly method: string;
  readonly url: string;
  readonly auth: RouteAuth;
}

/** Every route registered on `app` with its requirement (the route matrix test enumerates them). */
export function declaredRoutes(app: FastifyInstance): readonly DeclaredRoute[] {
  return declared.get(app) ?? [];
}

/** The authenticated caller of a request (set by the hook). */
export function principalOf(request: FastifyRequest): Principal {
  const p = request.sluicePrincipal;
  if (p === undefined) throw new SluiceError('UNAUTHENTICATED', 'missing or invalid bearer token');
  return p;
}

/** The caller of a `page` route: undefined when it sent neither a token nor a live session cookie. */
export function pagePrincipal(request: FastifyRequest): Principal | undefined {
  return request.sluicePrincipal;
}

/** The audit facts of a request (`route`: its route's URL pattern, when the caller has it). */
export function factsOf(request: FastifyRequest, table?: string, route: string | undefined = request.routeOptions.url): RequestFacts {
  return {
    address: request.socket.remoteAddress ?? 'unknown',
    method: request.method,
    route: route ?? 'unmatched',
    requestId: String(request.id),
    ...(table === undefined ? {} : { table }),
  };
}

/** Checks that `request`'s caller holds `need` (for handlers that learn the table from the body). */
export function authorizeRequest(o: HttpAuthOptions, request: FastifyRequest, need: Need): void {
  const facts = factsOf(request, need.kind === 'table' ? need.table : undefined);
  o.auth.authorize(principalOf(request), need, facts);
}

/** Installs the checks on `app`; routes registered afterwards must declare `config.auth`. */
export function registerHttpAuth(app: FastifyInstance, o: HttpAuthOptions): void {
  const routes: DeclaredRoute[] = [];
  declared.set(app, routes);
  app.decorateRequest('sluicePrincipal', undefined);
  const audited = (request: FastifyRequest, reply: FastifyReply, done: () => void): void => {
    auditGranted(o, request, reply.statusCode);
    done();
  };
  app.addHook('onRoute', (route) => {
    const auth = route.config?.auth;
    if (auth === undefined) throw new Error(`route ${String(route.method)} ${route.url} declares no auth requirement (route-auth.ts)`);
    for (const method of [route.method].flat()) routes.push({ method, url: route.url, auth });
    // Only the routes whose grants are audited pay for the hook.
    if (o.auditDataAccess || isPrivileged(auth)) route.onResponse = [...[route.onResponse ?? []].flat(), audited];
  });
  // Callback style, not async: no promise per request on the hottest path.
  app.addHook('onRequest', (request, _reply, done) => {
    try {
      checkRequest(o, request);
      done();
    } catch (err) {
      done(err as Error);
    }
  });
}

/** Authenticates and authorizes one request before its body is read (throws the refusal). */
function checkRequest(o: HttpAuthOptions, request: FastifyRequest): void {
  // fastify builds `routeOptions` afresh at each read: read once.
  const { config, url } = request.routeOptions;
  // Unmatched paths need a valid token before they learn that nothing is there.
  const auth: RouteAuth = config.auth ?? { kind: 'token' };
  if (auth.kind === 'public') return;
  checkHost(o, request);
  if (o.auth.mode === 'none') {
    checkAnonymous(request);
    request.sluicePrincipal = ANONYMOUS;
    return;
  }
  const facts = factsOf(request, tableOf(request, auth), url);
  if (bearerInQuery(request.query as Record<string, unknown>)) {
    throw new SluiceError('UNAUTHENTICATED', 'a token goes in the Authorization header, never in the query string');
  }
  const authorization = credentialsOf(request, config.shipperCredentials === true);
  if (auth.kind === 'page' && authorization.length === 0) {
    checkPageSession(o, request, auth.scope, facts);
    return;
  }
  const principal = o.auth.authenticate(authorization, facts);
  request.sluicePrincipal = principal;
  if (auth.kind === 'some-table') o.auth.authorizeSomeTable(principal, auth.action, facts);
  const need = needOf(auth, request);
  if (need !== undefined) o.auth.authorize(principal, need, facts);
}

/** A browser on a `page` route: its session's principal (which must hold `scope`), or none for the handler to send to sign in. */
function checkPageSession(o: HttpAuthOptions, request: FastifyRequest, scope: Extract<RouteAuth, { kind: 'page' }>['scope'], facts: RequestFacts): void {
  const principal = o.sessions === undefined ? undefined : sessionPrincipal(o.sessions, o.auth.registry, request, Date.now());
  if (principal === undefined) return;
  request.sluicePrincipal = principal;
  o.auth.authorize(principal, globalNeed(scope), facts);
}

function auditGranted(o: HttpAuthOptions, request: FastifyRequest, status: number): void {
  const auth = request.routeOptions.config.auth;
  const principal = request.sluicePrincipal;
  if (auth === undefined || principal === undefined) return;
  o.auth.audit.write('access_granted', { ...factsOf(request, tableOf(request, auth)), principal: principal.name, tokenId: principal.id, scope: scopeOf(auth, request), status });
}

/** The scope a route asked for, as the audit line names it. */
function scopeOf(auth: RouteAuth, request: FastifyRequest): string {
  if (auth.kind === 'some-table') return `${auth.action}:<some table>`;
  if (auth.kind === 'public' || auth.kind === 'token') return auth.kind === 'token' ? 'any token' : 'none';
  return describeNeed(needOf(auth, request) as Need);
}

/** Admin, cluster and schema actions are always audited; data access only when asked. */
function isPrivileged(auth: RouteAuth): boolean {
  if (auth.kind === 'global' || auth.kind === 'page') return auth.scope !== 'ops';
  if (auth.kind === 'table') return auth.actions.length === 1 && auth.actions[0] === 'schema';
  return auth.kind === 'some-table' && auth.action === 'schema';
}

function tableOf(request: FastifyRequest, auth: RouteAuth): string | undefined {
  if (auth.kind !== 'table') return undefined;
  return auth.table ?? (request.params as { table?: string }).table;
}

/** Every Authorization header of the request: Node keeps only the first of duplicates in `headers`. */
function authorizationValues(request: FastifyRequest): string[] {
  const raw = request.raw.rawHeaders;
  const values: string[] = [];
  for (let i = 0; i + 1 < raw.length; i += 2) if ((raw[i] as string).toLowerCase() === 'authorization') values.push(raw[i + 1] as string);
  return values;
}

/**
 * The Authorization values to authenticate. A shipper protocol route also
 * takes the token as a basic-auth password or API key, but never from a
 * browser: a browser replays basic credentials on its own (cross-site
 * requests too), a shipper sends no Origin or Sec-Fetch-Site.
 */
function credentialsOf(request: FastifyRequest, shipperRoute: boolean): string[] {
  const values = authorizationValues(request);
  if (!shipperRoute || !values.some(isShipperScheme)) return values;
  const site = request.headers['sec-fetch-site'];
  if (request.headers.origin !== undefined || (site !== undefined && site !== 'none')) {
    throw new SluiceError('PERMISSION_DENIED', 'a token as a basic-auth password or API key is not accepted from a browser; send Authorization: Bearer');
  }
  return values.map(asBearer);
}

/** `access_token`, or a `token` that is a bearer token (`token` is also the read-your-writes token of reads). */
function bearerInQuery(query: Record<string, unknown>): boolean {
  const token = query['token'];
  return 'access_token' in query || (typeof token === 'string' && token.startsWith('slc_'));
}

/** A page on another site reaches a loopback listener through DNS rebinding; its Host header gives it away. */
function checkHost(o: HttpAuthOptions, request: FastifyRequest): void {
  if (o.allowedHosts === undefined) return;
  const host = hostName(request.headers.host ?? '');
  if (!o.allowedHosts.has(host)) {
    throw new SluiceError('PERMISSION_DENIED', `Host ${JSON.stringify(host)} is not served by this listener; add it with --allowed-hosts`, [{ path: 'host', message: host }]);
  }
}

/** `--auth none` serves only local, same-origin callers: no remote address, no browser cross-site request. */
function checkAnonymous(request: FastifyRequest): void {
  const address = request.socket.remoteAddress ?? '';
  if (!isLoopbackAddress(address)) throw new SluiceError('PERMISSION_DENIED', 'a node started with --auth none serves loopback clients only');
  const site = request.headers['sec-fetch-site'];
  if (request.headers.origin !== undefined || (site !== undefined && site !== 'same-origin' && site !== 'none')) {
    throw new SluiceError('PERMISSION_DENIED', 'a node started with --auth none refuses browser cross-site requests');
  }
}

/** The host name of a Host header, without the port (IPv6 kept in brackets). */
export function hostName(host: string): string {
  const h = host.trim().toLowerCase();
  if (h.startsWith('[')) return h.slice(0, h.indexOf(']') + 1);
  const colon = h.indexOf(':');
  return colon < 0 ? h : h.slice(0, colon);
}

/** True for 127.0.0.0/8, ::1 and their IPv4-mapped forms. */
export function isLoopbackAddress(address: string): boolean {
  const a = address.startsWith('::ffff:') ? address.slice(7) : address;
  return a === '::1' || /^127\./.test(a);
}
