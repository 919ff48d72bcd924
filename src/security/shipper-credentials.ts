/**
 * Log shippers that speak a vendor's protocol cannot always send
 * `Authorization: Bearer <token>`: rsyslog's omelasticsearch knows only
 * HTTP basic auth (`uid`, `pwd`), the Elastic clients also send
 * `ApiKey <key>`. On the routes of those protocols a sluice token is
 * accepted in those forms too: as the basic-auth password (the user name
 * is ignored) or as the API key. The secret is the same token with the
 * same scopes; nothing is accepted without one. See
 * docs/decisions/0023-shipper-credentials.md.
 */

/** The `Authorization` value as the bearer form, when it carries a token as a basic-auth password or an API key; else unchanged. */
export function asBearer(value: string): string {
  const m = /^(basic|apikey) ([\x21-\x7e]+)$/i.exec(value);
  if (m === null) return value;
  const scheme = (m[1] as string).toLowerCase();
  const credential = m[2] as string;
  if (scheme === 'apikey') return `Bearer ${credential}`;
  const decoded = Buffer.from(credential, 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  // Not user:password: left as it is, so it fails as a malformed credential.
  if (colon < 0) return value;
  return `Bearer ${decoded.slice(colon + 1)}`;
}

/** True when `value` is a basic-auth or API-key credential (what `asBearer` rewrites). */
export function isShipperScheme(value: string): boolean {
  return /^(basic|apikey) /i.test(value);
}
