/**
 * The status page's sign-in on an HTTPS listener (`--tls auto`): the
 * session cookie is Secure and named `__Host-sluice_status`, the form
 * must come from the https origin, and the page is served with the
 * cookie and not without.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { request as httpsRequest } from 'node:https';
import { NodeProcess, TEST_TOKEN, tempDir } from './harness.ts';
import { servedCert } from '../support/tls-probe.ts';

interface Answer {
  readonly status: number;
  readonly headers: Record<string, string | string[] | undefined>;
  readonly text: string;
}

/** One HTTPS request trusting `ca` (the node's self-signed certificate), as a browser makes it: no bearer header. */
function browser(url: string, ca: string, init: { method?: string; headers?: Record<string, string>; body?: string } = {}): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const headers = { accept: 'text/html', ...init.headers, ...(init.body === undefined ? {} : { 'content-type': 'application/x-www-form-urlencoded' }) };
    const req = httpsRequest(url, { method: init.method ?? 'GET', ca, agent: false, headers }, (res) => {
      let text = '';
      res.setEncoding('utf8').on('data', (c: string) => (text += c)).on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, text }));
    });
    req.on('error', reject);
    req.end(init.body);
  });
}

test('over HTTPS the session cookie is Secure with the __Host- prefix, and the form must come from the https origin', async (t) => {
  const node = await NodeProcess.start(t, { dataDir: tempDir(t, 'sluice-status-tls-'), args: ['--tls', 'auto'] });
  const base = node.url;
  assert.match(base, /^https:\/\//);
  const ca = (await servedCert(Number(new URL(base).port))).toString();
  const form = `token=${encodeURIComponent(TEST_TOKEN)}`;

  const plainOrigin = await browser(`${base}/status/sign-in`, ca, { method: 'POST', headers: { origin: base.replace('https:', 'http:') }, body: form });
  assert.equal(plainOrigin.status, 403, 'an http:// page of the same host is another origin');

  const signedIn = await browser(`${base}/status/sign-in`, ca, { method: 'POST', headers: { origin: base }, body: form });
  assert.equal(signedIn.status, 303, signedIn.text);
  const setCookie = String(signedIn.headers['set-cookie'] ?? '');
  assert.match(setCookie, /^__Host-sluice_status=[A-Za-z0-9_-]{43}; Path=\/; Max-Age=\d+; HttpOnly; SameSite=Strict; Secure$/);
  const cookie = setCookie.split(';')[0] as string;

  assert.equal((await browser(`${base}/status`, ca, { headers: { cookie } })).status, 200);
  assert.equal((await browser(`${base}/status`, ca, { headers: { cookie: cookie.replace('__Host-', '') } })).status, 303, 'the plain cookie name is not read over TLS');
  assert.equal((await browser(`${base}/status`, ca)).status, 303);
  const inUrl = await browser(`${base}/status/sign-in?token=${encodeURIComponent(TEST_TOKEN)}`, ca);
  assert.equal(inUrl.status, 400, 'a token in the URL is refused, not used');
  assert.equal(inUrl.headers['set-cookie'], undefined);
  assert.match(inUrl.text, /never put a token in a URL/);
});
