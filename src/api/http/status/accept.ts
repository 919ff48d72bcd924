/**
 * What a client asked for in `Accept`: a browser (text/html first) or a
 * program (application/json). Quality values decide; a wildcard alone
 * (`*\/*`, curl and fetch's default) prefers neither.
 */

/** The quality a media type gets from an Accept header (0 when not accepted or only through `*\/*`). */
export function explicitQuality(accept: string | undefined, type: string): number {
  if (accept === undefined) return 0;
  let best = 0;
  for (const part of accept.split(',')) {
    const [range = '', ...params] = part.split(';').map((s) => s.trim().toLowerCase());
    if (range !== type && range !== `${type.split('/')[0] ?? ''}/*`) continue;
    const q = params.find((p) => p.startsWith('q='));
    const value = q === undefined ? 1 : Number(q.slice(2));
    if (Number.isFinite(value) && value > best) best = Math.min(1, value);
  }
  return best;
}

/** True when the client names text/html and ranks it at least as high as application/json (a browser). */
export function prefersHtml(accept: string | undefined): boolean {
  const html = explicitQuality(accept, 'text/html');
  return html > 0 && html >= explicitQuality(accept, 'application/json');
}

/** True when the client names application/json above text/html. */
export function prefersJson(accept: string | undefined): boolean {
  const json = explicitQuality(accept, 'application/json');
  return json > 0 && json > explicitQuality(accept, 'text/html');
}
