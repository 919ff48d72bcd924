/**
 * Where token records live: a file in the data dir on a single node, etcd
 * in a cluster (so every node accepts the same tokens and a revocation
 * reaches all of them). A record holds the token's SHA-256, never the token.
 */

/** One token as stored. */
export interface TokenRecord {
  readonly id: string;
  readonly name: string;
  /** Hex SHA-256 of the whole token string. */
  readonly hash: string;
  readonly scopes: readonly string[];
  readonly createdAtMs: number;
  /** Who created it: a token label, `bootstrap`, or `reset-admin`. */
  readonly createdBy: string;
  readonly expiresAtMs?: number;
  readonly revokedAtMs?: number;
}

/** The records and changes to them. */
export interface TokenStore {
  /** Loads every record and then reports each change (a put) through `onPut`. */
  start(onPut: (record: TokenRecord) => void): Promise<readonly TokenRecord[]>;
  /** Stores a new record; false when its id is taken (nothing changed). */
  create(record: TokenRecord): Promise<boolean>;
  /** Replaces an existing record (revocation, a new expiry), merged with what is stored (`laterOf`): a revocation is never undone. */
  update(record: TokenRecord): Promise<void>;
  /** Stops following changes. */
  stop(): Promise<void>;
}

/** True when `value` has a TokenRecord's shape (records read back from disk or etcd). */
export function isTokenRecord(value: unknown): value is TokenRecord {
  const r = value as Partial<TokenRecord> | null;
  return (
    typeof r === 'object' &&
    r !== null &&
    typeof r.id === 'string' &&
    typeof r.name === 'string' &&
    typeof r.hash === 'string' &&
    /^[0-9a-f]{64}$/.test(r.hash) &&
    Array.isArray(r.scopes) &&
    r.scopes.every((s) => typeof s === 'string') &&
    typeof r.createdAtMs === 'number'
  );
}

/**
 * Two versions of one token's record, merged: a token only ever loses
 * validity (it is revoked, or its expiry moves earlier), so a revocation or
 * an earlier expiry in either version holds. A rotation that read the
 * record before a revocation, or a snapshot older than a change already
 * seen, must not bring a revoked token back.
 */
export function laterOf(known: TokenRecord | undefined, incoming: TokenRecord): TokenRecord {
  if (known === undefined || known.id !== incoming.id) return incoming;
  const revokedAtMs = earliest(known.revokedAtMs, incoming.revokedAtMs);
  const expiresAtMs = earliest(known.expiresAtMs, incoming.expiresAtMs);
  if (revokedAtMs === incoming.revokedAtMs && expiresAtMs === incoming.expiresAtMs) return incoming;
  return { ...incoming, ...(revokedAtMs === undefined ? {} : { revokedAtMs }), ...(expiresAtMs === undefined ? {} : { expiresAtMs }) };
}

function earliest(a: number | undefined, b: number | undefined): number | undefined {
  if (a === undefined) return b;
  if (b === undefined) return a;
  return Math.min(a, b);
}
