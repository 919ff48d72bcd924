/**
 * The status page's sign-in on the main address: `GET /status/sign-in`
 * (the form), `POST /status/sign-in` (a token with `ops` in a form body →
 * a session cookie, 303 to /status) and `POST /status/sign-out`. The token
 * is checked by the same Authenticator as a bearer header (throttling of
 * failing addresses, audit lines), and never stored or echoed.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { STATUS_SIGN_IN_BODY_BYTES_MAX } from '../../../config.ts';
import { SluiceError } from '../../../core/errors.ts';
import { globalNeed } from '../../../security/scopes.ts';
import type { ApiContext } from '../api-context.ts';
import { factsOf } from '../auth-hook.ts';
import { readBody } from '../body-reader.ts';
import { needs, page } from '../route-auth.ts';
import { checkSameOrigin, seeOther, sendHtml } from './page-reply.ts';
import { clearedSessionCookie, readSessionCookie, sessionCookie } from './session-cookie.ts';
import { renderSignIn } from './sign-in-html.ts';

/** Registers the sign-in form, sign-in and sign-out. */
export function registerSignInRoutes(app: FastifyInstance, ctx: ApiContext): void {
  const form = (reply: FastifyReply, status: number, error?: SluiceError): FastifyReply => {
    if (error?.code === 'OVERLOADED') reply.header('retry-after', String(ctx.config.retryAfterSeconds));
    // The authenticator speaks of bearer headers; a person at the form typed a token.
    const message = error?.code === 'UNAUTHENTICATED' ? 'that token is not valid (unknown, mistyped, revoked or expired)' : error?.message;
    const refusal = error === undefined ? {} : { error: { code: error.code, message: message ?? '' } };
    return sendHtml(reply, status, renderSignIn({ nodeId: ctx.config.nodeId, sessionTtlMs: ctx.config.statusSessionTtlMs, ...refusal }));
  };
  // `page` routes: the Host check applies, and no credentials are needed to reach them.
  app.get('/status/sign-in', needs(page('ops')), async (request, reply) => {
    // A form sent with GET (a hand-made link, an old bookmark) puts the token in the URL, browser history and logs.
    if ('token' in (request.query as Record<string, unknown>)) return form(reply, 400, new SluiceError('INVALID_ARGUMENT', 'never put a token in a URL: paste it into this form, which sends it in the request body'));
    return form(reply, 200);
  });
  app.post('/status/sign-in', needs(page('ops')), async (request, reply) => {
    try {
      return await signIn(ctx, request, reply);
    } catch (err) {
      if (!(err instanceof SluiceError)) throw err;
      return form(reply, err.status, err);
    }
  });
  app.post('/status/sign-out', needs(page('ops')), async (request, reply) => {
    checkSameOrigin(request);
    const secure = request.protocol === 'https';
    const id = readSessionCookie(request.headers.cookie, secure);
    const ended = id === undefined ? undefined : ctx.auth.sessions?.end(id);
    if (ended !== undefined) ctx.auth.auth.audit.write('session_ended', { ...factsOf(request), principal: ended.name, tokenId: ended.tokenId, reason: 'sign-out' });
    return seeOther(reply, '/status/sign-in', clearedSessionCookie(secure));
  });
}

/** Checks origin, form and token (with `ops`), opens a session and sends the browser to /status with its cookie. */
async function signIn(ctx: ApiContext, request: FastifyRequest, reply: FastifyReply): Promise<FastifyReply> {
  checkSameOrigin(request);
  const type = (request.headers['content-type'] ?? '').split(';')[0]?.trim().toLowerCase();
  if (type !== 'application/x-www-form-urlencoded') throw new SluiceError('UNSUPPORTED_MEDIA_TYPE', 'the sign-in form is sent as application/x-www-form-urlencoded');
  const body = await readBody(request.raw, { bodyBytesMax: STATUS_SIGN_IN_BODY_BYTES_MAX });
  const token = (new URLSearchParams(body.toString('utf8')).get('token') ?? '').trim();
  const facts = factsOf(request);
  const { auth } = ctx.auth;
  if (auth.mode === 'none') return seeOther(reply, '/status');
  const principal = auth.authenticate([`Bearer ${token}`], facts);
  auth.authorize(principal, globalNeed('ops'), facts);
  const sessions = ctx.auth.sessions;
  if (sessions === undefined) throw new SluiceError('NOT_READY', 'this listener keeps no sessions');
  const record = auth.registry.get(principal.id);
  const now = Date.now();
  const { session, id } = sessions.open({ tokenId: principal.id, name: principal.name, ...(record?.expiresAtMs === undefined ? {} : { expiresAtMs: record.expiresAtMs }) }, now);
  auth.audit.write('session_created', { ...facts, principal: principal.name, tokenId: principal.id, scope: 'ops', status: 303, endsAt: new Date(session.endsAtMs).toISOString() });
  return seeOther(reply, '/status', sessionCookie(id, (session.endsAtMs - now) / 1000, request.protocol === 'https'));
}
