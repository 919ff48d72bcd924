/**
 * The sign-in form of the status page on the main address. It posts the
 * token in the request body (never the URL, where it would land in
 * history, logs and Referer headers); autocomplete is off so the browser
 * offers not to keep it.
 */
import { html } from './html-template.ts';
import { PAGE_STYLE } from './page-style.ts';
import { formatDuration } from './status-format.ts';

/** The form, with `error` (a refusal's message and code) above it when a sign-in failed. */
export function renderSignIn(o: { readonly nodeId: string; readonly sessionTtlMs: number; readonly error?: { readonly code: string; readonly message: string } }): string {
  const error = o.error === undefined ? '' : html`<p class="err" role="alert">${o.error.message} (${o.error.code})</p>`;
  return html`<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width,initial-scale=1">
<title>sluice ${o.nodeId} · sign in</title>
${PAGE_STYLE}</head>
<body><main>
<h1>sluice · node ${o.nodeId} · status page</h1>
${error}
<form method="post" action="/status/sign-in">
<p><label for="token">A token with the <code>ops</code> scope (or <code>admin</code>)</label></p>
<p><input id="token" name="token" type="password" autocomplete="off" required autofocus></p>
<p><button type="submit">sign in</button></p>
</form>
<p class="muted">The token is checked once; the browser then holds a session cookie (HttpOnly, SameSite=Strict) for at most ${formatDuration(o.sessionTtlMs)}, or until the token is revoked or you sign out.
Without a browser, send the token as <code>Authorization: Bearer …</code>; on the <code>--metrics-listen</code> address the page needs no token.</p>
</main></body></html>
`.text;
}
