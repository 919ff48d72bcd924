/**
 * The status page's browser credentials: the session cookie's name and
 * flags (plain and TLS), reading it back, and the same-origin check of
 * the sign-in and sign-out forms.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { FastifyRequest } from 'fastify';
import { isSluiceError } from '../../../../src/core/errors.ts';
import { checkSameOrigin } from '../../../../src/api/http/status/page-reply.ts';
import { clearedSessionCookie, readSessionCookie, sessionCookie } from '../../../../src/api/http/status/session-cookie.ts';

const ID = 'qJhJS_RFfItWZX_eYccyX5NRgnU_F0LsIr5fFUBqXNk';

test('the cookie: HttpOnly, SameSite=Strict, Path=/, Max-Age; under TLS also Secure with the __Host- prefix', () => {
  assert.equal(sessionCookie(ID, 28_800.7, false), `sluice_status=${ID}; Path=/; Max-Age=28800; HttpOnly; SameSite=Strict`);
  assert.equal(sessionCookie(ID, 60, true), `__Host-sluice_status=${ID}; Path=/; Max-Age=60; HttpOnly; SameSite=Strict; Secure`);
  assert.match(clearedSessionCookie(false), /^sluice_status=; Path=\/; Max-Age=0; HttpOnly; SameSite=Strict$/);
  assert.match(clearedSessionCookie(true), /^__Host-sluice_status=; .*Secure$/);
});

test('the session id is read from its own cookie only, by the name of the listener', () => {
  assert.equal(readSessionCookie(`a=1; sluice_status=${ID}; b=2`, false), ID);
  assert.equal(readSessionCookie(`__Host-sluice_status=${ID}`, true), ID);
  assert.equal(readSessionCookie(`sluice_status=${ID}`, true), undefined, 'a TLS listener takes only the __Host- cookie');
  assert.equal(readSessionCookie(`xsluice_status=${ID}`, false), undefined);
  assert.equal(readSessionCookie(undefined, false), undefined);
});

function request(headers: Record<string, string>, protocol: 'http' | 'https' = 'http'): FastifyRequest {
  return { protocol, host: 'node1:8080', headers } as unknown as FastifyRequest;
}

test('a form POST must come from this origin: Origin, else Referer; another site, a null origin or neither header is refused', () => {
  checkSameOrigin(request({ origin: 'http://node1:8080' }));
  checkSameOrigin(request({ origin: 'HTTP://NODE1:8080' }));
  checkSameOrigin(request({ origin: 'https://node1:8080' }, 'https'));
  checkSameOrigin(request({ referer: 'http://node1:8080/status/sign-in' }));
  checkSameOrigin(request({ origin: 'http://node1:8080', 'sec-fetch-site': 'same-origin' }));
  const refused = (headers: Record<string, string>, protocol: 'http' | 'https' = 'http'): void =>
    assert.throws(() => checkSameOrigin(request(headers, protocol)), (err: unknown) => isSluiceError(err, 'PERMISSION_DENIED'), JSON.stringify(headers));
  refused({ origin: 'http://evil.example' });
  refused({ origin: 'null' });
  refused({ origin: 'http://node1:8080' }, 'https');
  refused({ origin: 'http://node1:8081' });
  refused({ referer: 'http://evil.example/node1:8080' });
  refused({ referer: 'not a url' });
  refused({});
  refused({ origin: 'http://node1:8080', 'sec-fetch-site': 'cross-site' });
  refused({ origin: 'http://node1:8080', 'sec-fetch-site': 'same-site' });
});
