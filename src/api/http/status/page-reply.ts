/**
 * Answers of the status pages: HTML with headers that keep the page inert
 * (no script may run, nothing loads from elsewhere, no framing, no
 * caching of what an operator saw), and the same-origin check of their
 * POST forms.
 */
import type { FastifyReply, FastifyRequest } from 'fastify';
import { SluiceError } from '../../../core/errors.ts';

/**
 * Inline styles only; forms post to this origin; no framing (clickjacking).
 * The Referrer-Policy stays same-origin: with no-referrer, browsers send
 * `Origin: null` on POSTs and the sign-in check could not tell our form
 * from another site's.
 */
const PAGE_HEADERS = {
  'content-security-policy': "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
  'x-content-type-options': 'nosniff',
  'x-frame-options': 'DENY',
  'referrer-policy': 'same-origin',
  'cache-control': 'no-store',
} as const;

/** Sends `text` as an HTML page with `status`. */
export function sendHtml(reply: FastifyReply, status: number, text: string): FastifyReply {
  return reply.code(status).headers(PAGE_HEADERS).type('text/html; charset=utf-8').send(text);
}

/** A 303 to `location` (a path on this node, never one taken from the request: no open redirect). */
export function seeOther(reply: FastifyReply, location: '/status' | '/status/sign-in', setCookie?: string): FastifyReply {
  if (setCookie !== undefined) reply.header('set-cookie', setCookie);
  return reply.code(303).headers(PAGE_HEADERS).header('location', location).send();
}

/**
 * Refuses a form POST that another site's page made (login CSRF, forced
 * sign-out): SameSite=Strict keeps the cookie off such requests, and this
 * checks the `Origin` (or, failing that, the `Referer`) names this very
 * origin. Browsers send `Origin` on every POST; a request with neither
 * header is refused too, since it cannot prove where it comes from.
 */
export function checkSameOrigin(request: FastifyRequest): void {
  const own = `${request.protocol}://${request.host}`.toLowerCase();
  const site = request.headers['sec-fetch-site'];
  if (site !== undefined && site !== 'same-origin' && site !== 'none') throw crossSite(`Sec-Fetch-Site is ${site}`);
  const origin = request.headers.origin;
  if (origin !== undefined) {
    if (origin.toLowerCase() !== own) throw crossSite(`Origin ${origin} is not ${own}`);
    return;
  }
  const referer = request.headers.referer;
  if (referer !== undefined && originOf(referer) === own) return;
  throw crossSite('the request has neither an Origin nor a Referer of this node');
}

function originOf(url: string): string | undefined {
  try {
    return new URL(url).origin.toLowerCase();
  } catch {
    return undefined;
  }
}

function crossSite(why: string): SluiceError {
  return new SluiceError('PERMISSION_DENIED', `the form must be sent from this node's own page (${why})`, [{ path: 'origin', message: why }]);
}
