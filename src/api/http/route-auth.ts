/**
 * What each HTTP route needs, declared beside the route as
 * `{ config: { auth } }`. Deny by default: a route registered without one
 * makes the server refuse to build (so the node refuses to start), and a
 * path no route matches needs a valid token before it gets its 404.
 */
import type { FastifyRequest } from 'fastify';
import { globalNeed, tableNeed, type GlobalScope, type Need, type TableAction } from '../../security/scopes.ts';

/** The requirement of one route. */
export type RouteAuth =
  /** No credentials: liveness and readiness only. */
  | { readonly kind: 'public' }
  /** Any valid token (what the token may see is decided by the handler). */
  | { readonly kind: 'token' }
  | { readonly kind: 'global'; readonly scope: GlobalScope }
  /** One of `actions` on the table in the path (`:table`), or on a fixed table. */
  | { readonly kind: 'table'; readonly actions: readonly TableAction[]; readonly table?: string }
  /**
   * `action` on some table: the table is named in the body (a new table's
   * definition, checked exactly by the handler once read) or not at all (a
   * batch's outcome by tx id). Checked before the body is read.
   */
  | { readonly kind: 'some-table'; readonly action: TableAction }
  /**
   * A page for browsers, which cannot send a bearer header: `scope` from a
   * bearer token when one is sent, else from a status-page session cookie;
   * with neither the handler runs without a principal and decides (a
   * redirect to the sign-in form). The Host check applies as for any route.
   */
  | { readonly kind: 'page'; readonly scope: GlobalScope };

declare module 'fastify' {
  interface FastifyContextConfig {
    auth?: RouteAuth;
    /** Also take the token as a basic-auth password or an API key (shipper protocol routes; security/shipper-credentials.ts). */
    shipperCredentials?: boolean;
  }
}

/** Route options declaring `auth`. */
export function needs(auth: RouteAuth): { config: { auth: RouteAuth } } {
  return { config: { auth } };
}

/** Shorthands for the declarations. */
export const PUBLIC: RouteAuth = { kind: 'public' };
export const ANY_TOKEN: RouteAuth = { kind: 'token' };
export const scope = (s: GlobalScope): RouteAuth => ({ kind: 'global', scope: s });
export const onTable = (...actions: TableAction[]): RouteAuth => ({ kind: 'table', actions });
export const onSomeTable = (action: TableAction): RouteAuth => ({ kind: 'some-table', action });
export const page = (s: GlobalScope): RouteAuth => ({ kind: 'page', scope: s });
export const onFixedTable = (table: string, ...actions: TableAction[]): RouteAuth => ({ kind: 'table', actions, table });

/** The need a request's route states before its body is read (undefined: none beyond a valid token). */
export function needOf(auth: RouteAuth, request: FastifyRequest): Need | undefined {
  switch (auth.kind) {
    case 'public':
    case 'token':
    case 'some-table':
      return undefined;
    case 'global':
    case 'page':
      return globalNeed(auth.scope);
    case 'table':
      return tableNeed(auth.actions, auth.table ?? (request.params as { table?: string }).table ?? '');
  }
}
