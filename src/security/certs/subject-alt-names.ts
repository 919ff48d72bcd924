/**
 * Reading the subjectAltName of a `node:crypto` X509Certificate, which Node
 * gives as one string: `URI:sluice://c/node/n1, DNS:localhost, IP Address:127.0.0.1`.
 * Since Node 17.3 a value holding a comma, quote or non-ASCII byte is
 * printed as a JSON string literal, so a name cannot smuggle in a second
 * entry (`URI:a, URI:b` inside one URI); this parser honours that quoting
 * rather than splitting on ", ".
 */

/** One subject alternative name: `type` as Node prints it (`URI`, `DNS`, `IP Address`, `email`, ...). */
export interface AltName {
  readonly type: string;
  readonly value: string;
}

/** The entries of Node's `subjectAltName` string; undefined (no extension) gives none. */
export function parseSubjectAltNames(text: string | undefined): AltName[] {
  const names: AltName[] = [];
  if (text === undefined || text === '') return names;
  let i = 0;
  while (i < text.length) {
    const colon = text.indexOf(':', i);
    if (colon < 0) throw new Error(`malformed subjectAltName at ${i}: ${JSON.stringify(text)}`);
    const type = text.slice(i, colon);
    let value: string;
    let end: number;
    if (text[colon + 1] === '"') {
      end = closingQuote(text, colon + 2) + 1;
      value = JSON.parse(text.slice(colon + 1, end)) as string;
    } else {
      const comma = text.indexOf(', ', colon + 1);
      end = comma < 0 ? text.length : comma;
      value = text.slice(colon + 1, end);
    }
    names.push({ type, value });
    if (end === text.length) break;
    if (text.slice(end, end + 2) !== ', ') throw new Error(`malformed subjectAltName at ${end}: ${JSON.stringify(text)}`);
    i = end + 2;
  }
  return names;
}

/** Index of the quote closing a JSON string whose body starts at `from`. */
function closingQuote(text: string, from: number): number {
  for (let j = from; j < text.length; j++) {
    if (text[j] === '\\') j++;
    else if (text[j] === '"') return j;
  }
  throw new Error(`unterminated quoted subjectAltName value: ${JSON.stringify(text)}`);
}
