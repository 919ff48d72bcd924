/**
 * The read-your-writes token a write answers with, one codec for both
 * coordinators. A read that passes it sees that write.
 *
 *   local   `l` + base36 of the LSN the write got on the single node
 *   cluster `c` + base64url of the JSON map node id → LSN (decimal string)
 *           of every replica that acknowledged the write, and under `@v`
 *           (never a node id) the newest HLC version the write stored, so
 *           a snapshot read passing the token is taken at or above it
 *
 * A token of the other kind, or anything else (an LSN or `@v` past 64
 * bits, a `@v` ahead of any version a write can have stored, a local LSN
 * past every LSN the node acknowledged), is INVALID_ARGUMENT: a token is
 * opaque to clients and only ever comes from a write. A read never waits
 * for an LSN that will not come.
 */
import { SluiceError } from '../../core/errors.ts';

/** Base-36 digits of the largest LSN (2^64 - 1). */
const LOCAL_DIGITS_MAX = 13;
/** The largest LSN, and the largest version (64 bits): 13 base-36 or 20 decimal digits hold more. */
const U64_MAX = (1n << 64n) - 1n;

/** The token of a single-node write at `lsn`. */
export function encodeLocalToken(lsn: bigint): string {
  return `l${lsn.toString(36)}`;
}

/**
 * The LSN of a single-node token, at most `lsnMax`: the node's last
 * acknowledged LSN, when the caller reads by it (a token past it was not
 * given by this node, and a read barrier on it would wait for nothing).
 */
export function decodeLocalToken(token: string, lsnMax = U64_MAX): bigint {
  const m = new RegExp(`^l([0-9a-z]{1,${LOCAL_DIGITS_MAX}})$`).exec(token);
  if (m === null || m[1] === undefined) throw invalidToken();
  const lsn = [...m[1]].reduce((acc, ch) => acc * 36n + BigInt(parseInt(ch, 36)), 0n);
  if (lsn > U64_MAX || lsn > lsnMax) throw invalidToken();
  return lsn;
}

/** Key of the newest version in a cluster token (node ids never contain `@`). */
const VERSION_KEY = '@v';

/** The token of a cluster write acknowledged by the replicas in `lsns` (node → LSN) that stored versions up to `version`. */
export function encodeClusterToken(lsns: ReadonlyMap<string, string>, version?: bigint): string {
  const map = Object.fromEntries(lsns);
  if (version !== undefined) map[VERSION_KEY] = String(version);
  return `c${Buffer.from(JSON.stringify(map)).toString('base64url')}`;
}

/**
 * The newest version a cluster token's write stored (0n when it names
 * none). One past `versionMax` (the newest a write can have stored, by the
 * reader's clock) was not made by a write: a snapshot taken at it would
 * drag the replicas' clocks ahead, or be refused by them as CLOCK_SKEW.
 */
export function tokenVersion(lsns: ReadonlyMap<string, string> | undefined, versionMax = U64_MAX): bigint {
  const text = lsns?.get(VERSION_KEY);
  if (text === undefined) return 0n;
  const v = BigInt(text);
  if (v > versionMax) throw invalidToken();
  return v;
}

/** The replica LSNs of a cluster token (undefined when no token was passed); `@v` holds its version. */
export function decodeClusterToken(token: string | undefined): Map<string, string> | undefined {
  if (token === undefined) return undefined;
  if (!token.startsWith('c')) throw invalidToken();
  let parsed: unknown;
  try {
    parsed = JSON.parse(Buffer.from(token.slice(1), 'base64url').toString('utf8'));
  } catch {
    throw invalidToken();
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw invalidToken();
  const out = new Map<string, string>();
  for (const [node, lsn] of Object.entries(parsed)) {
    if (typeof lsn !== 'string' || !/^[0-9]{1,20}$/.test(lsn) || BigInt(lsn) > U64_MAX) throw invalidToken();
    out.set(node, lsn);
  }
  return out;
}

/** The LSN a cluster token holds for `node`, as a request field. */
export function lsnFor(token: ReadonlyMap<string, string> | undefined, node: string): { lsn?: string } {
  const lsn = token?.get(node);
  return lsn === undefined ? {} : { lsn };
}

function invalidToken(): SluiceError {
  return new SluiceError('INVALID_ARGUMENT', 'token is not a token returned by a write');
}
