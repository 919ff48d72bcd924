/**
 * The status-page session cookie: an opaque id (session-store.ts), never
 * the token. HttpOnly (no script reads it; the page has none anyway),
 * SameSite=Strict (no other site's page sends it along: the CSRF defence
 * with the Origin check on POSTs), Path=/. Under TLS it is Secure and
 * named with the `__Host-` prefix, which browsers only accept from a
 * secure origin without a Domain attribute, so a sibling host cannot
 * plant or overwrite it.
 */
import type { FastifyRequest } from 'fastify';
import type { SessionStore } from '../../../security/session-store.ts';
import type { Principal, TokenRegistry } from '../../../security/token-registry.ts';

/** The cookie's name on a plain or TLS listener. */
export function sessionCookieName(secure: boolean): string {
  return secure ? '__Host-sluice_status' : 'sluice_status';
}

/** The session id the request's Cookie header carries, if any. */
export function readSessionCookie(header: string | undefined, secure: boolean): string | undefined {
  if (header === undefined) return undefined;
  const name = sessionCookieName(secure);
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq > 0 && part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim();
  }
  return undefined;
}

/** The Set-Cookie value opening a session. */
export function sessionCookie(id: string, maxAgeSeconds: number, secure: boolean): string {
  return `${sessionCookieName(secure)}=${id}; Path=/; Max-Age=${Math.max(0, Math.floor(maxAgeSeconds))}; HttpOnly; SameSite=Strict${secure ? '; Secure' : ''}`;
}

/** The Set-Cookie value that removes the session cookie. */
export function clearedSessionCookie(secure: boolean): string {
  return `${sessionCookieName(secure)}=; Path=/; Max-Age=0; HttpOnly; SameSite=Strict${secure ? '; Secure' : ''}`;
}

/** The principal of the request's live session: its token as the registry has it now (scopes included). */
export function sessionPrincipal(sessions: SessionStore, registry: TokenRegistry, request: FastifyRequest, nowMs: number): Principal | undefined {
  const id = readSessionCookie(request.headers.cookie, request.protocol === 'https');
  const session = id === undefined ? undefined : sessions.lookup(id, nowMs);
  const record = session === undefined ? undefined : registry.get(session.tokenId);
  return record === undefined ? undefined : { id: record.id, name: record.name, scopes: record.scopes };
}
