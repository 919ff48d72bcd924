/**
 * The bearer token format: `slc_<16 hex id>_<43 base62 secret><6 base62
 * CRC32>`. The prefix and the checksum let a secret scanner recognise a
 * leaked sluice token offline (GitHub's token format); the id is the
 * public half, the lookup key and the identity in the audit log; the
 * secret is 256 bits of randomness. A bootstrap token given by the
 * operator (`SLUICE_BOOTSTRAP_TOKEN`) may be any printable string of 32 or
 * more characters; its id is derived from its hash.
 *
 * Only a SHA-256 digest of the whole token is ever stored: with 256 random
 * bits a fast hash is enough (no password stretching needed).
 */
import { createHash, randomBytes } from 'node:crypto';
import { crc32 } from 'node:zlib';

const BASE62 = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';
const SECRET_CHARS = 43;
const CHECKSUM_CHARS = 6;
const TOKEN_RE = /^slc_([0-9a-f]{16})_([0-9A-Za-z]{43})([0-9A-Za-z]{6})$/;
/** What an operator-chosen token may be: printable ASCII without spaces, 32 to 512 characters. */
const BOOTSTRAP_RE = /^[\x21-\x7e]{32,512}$/;

/** Shortest operator-chosen (bootstrap) token, characters. */
export const BOOTSTRAP_TOKEN_CHARS_MIN = 32;

/** A freshly made token: the secret string (shown once) and what is stored. */
export interface NewToken {
  readonly token: string;
  readonly id: string;
  readonly hash: string;
}

/** Makes a new random token. */
export function generateToken(): NewToken {
  const id = randomBytes(8).toString('hex');
  const token = formatToken(id, randomBase62(SECRET_CHARS));
  return { token, id, hash: hashToken(token) };
}

/** The token string of an id and a secret, with its checksum (tests build wrong-secret tokens with it). */
export function formatToken(id: string, secret: string): string {
  const body = `slc_${id}_${secret}`;
  return body + checksumOf(body);
}

/** The parts of a token in sluice's format (no checksum check), or undefined. */
export function tokenParts(token: string): { id: string; secret: string } | undefined {
  const m = TOKEN_RE.exec(token);
  return m === null ? undefined : { id: m[1] as string, secret: m[2] as string };
}

/** The id of a well-formed token (sluice's format with a good checksum, or a bootstrap string), else undefined. */
export function tokenId(token: string): string | undefined {
  const m = TOKEN_RE.exec(token);
  if (m !== null) {
    const body = token.slice(0, token.length - CHECKSUM_CHARS);
    return checksumOf(body) === m[3] ? (m[1] as string) : undefined;
  }
  // A string that looks like ours but fails the checksum is a typo or a tampered token, not a bootstrap string.
  if (token.startsWith('slc_')) return undefined;
  return BOOTSTRAP_RE.test(token) ? bootstrapId(token) : undefined;
}

/** True when `token` may be used as an operator-chosen bootstrap token. */
export function isValidBootstrapToken(token: string): boolean {
  return tokenId(token) !== undefined;
}

/** Hex SHA-256 of a token: the only form in which it is stored. */
export function hashToken(token: string): string {
  return createHash('sha256').update(token, 'utf8').digest('hex');
}

/** Describes a token by its id for messages and logs (never the secret). */
export function tokenLabel(id: string, name: string): string {
  return `${id.slice(0, 8)}… (${name})`;
}

/** A bootstrap token's id: 'b' and 15 hex digits of a keyed hash of it (a clash with a random id is a 2^-60 chance). */
function bootstrapId(token: string): string {
  return `b${createHash('sha256').update(`sluice-bootstrap\0${token}`, 'utf8').digest('hex').slice(0, 15)}`;
}

function checksumOf(body: string): string {
  let n = crc32(Buffer.from(body, 'utf8'));
  let out = '';
  for (let i = 0; i < CHECKSUM_CHARS; i++) {
    out = (BASE62[n % 62] as string) + out;
    n = Math.floor(n / 62);
  }
  return out;
}

function randomBase62(chars: number): string {
  let out = '';
  while (out.length < chars) {
    // Bytes under 248 (= 4 × 62) map to base62 without bias; the rest are skipped.
    for (const b of randomBytes(chars * 2)) {
      if (b < 248 && out.length < chars) out += BASE62[b % 62];
    }
  }
  return out;
}
