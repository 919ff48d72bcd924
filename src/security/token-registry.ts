/**
 * The tokens a node accepts, in memory, kept current from a TokenStore.
 * Verification is constant-time in the secret: the token's SHA-256 is
 * compared with `timingSafeEqual` against the stored digest (or a dummy
 * one for an unknown id, so "unknown" and "wrong secret" take as long).
 */
import { timingSafeEqual } from 'node:crypto';
import { SluiceError } from '../core/errors.ts';
import { parseScope } from './scopes.ts';
import { generateToken, hashToken, tokenId } from './token-format.ts';
import { laterOf, type TokenRecord, type TokenStore } from './token-store.ts';

/** Who a request is. */
export interface Principal {
  readonly id: string;
  readonly name: string;
  readonly scopes: readonly string[];
}

/** Why a token was not accepted. */
export type AuthFailure = 'missing' | 'malformed' | 'unknown' | 'wrong_secret' | 'revoked' | 'expired';

/** The outcome of checking a token. */
export type Verdict = { readonly ok: true; readonly principal: Principal } | { readonly ok: false; readonly reason: AuthFailure };

/** A token made by `create` or `rotate`: shown once. */
export interface IssuedToken {
  readonly token: string;
  readonly record: TokenRecord;
}

/** What `list` shows of a token (never its hash). */
export interface TokenInfo {
  readonly id: string;
  readonly name: string;
  readonly scopes: readonly string[];
  readonly createdAt: string;
  readonly createdBy: string;
  readonly expiresAt?: string;
  readonly revokedAt?: string;
}

const DUMMY_DIGEST = Buffer.alloc(32);

/**
 * Tokens recently verified, by the exact token string: a hit skips the
 * SHA-256 and the checksum (a tenth of the node's CPU on single-record
 * requests), as Elasticsearch caches API key hashes. Only good tokens are
 * cached (a guess never is), and a hit still checks the record as it is
 * now (revoked, expired, replaced), so a cached token has no extra life.
 */
const VERIFIED_CACHE_MAX = 1_024;

/** The accepted tokens of a node. */
export class TokenRegistry {
  private readonly records = new Map<string, TokenRecord>();
  /** token → the record it verified against (see VERIFIED_CACHE_MAX). */
  private readonly verified = new Map<string, TokenRecord>();
  private store: TokenStore | undefined;

  /** Loads the store's records and follows its changes. */
  async load(store: TokenStore): Promise<void> {
    // Merged, not replaced: a watch event may arrive before the older snapshot it follows.
    const all = await store.start((r) => this.remember(r));
    for (const r of all) this.remember(r);
    this.store = store;
  }

  /** Keeps `record`, merged with the version known here (a revocation is never undone). */
  private remember(record: TokenRecord): TokenRecord {
    const merged = laterOf(this.records.get(record.id), record);
    this.records.set(record.id, merged);
    return merged;
  }

  /** True once a store is loaded (before that no token can be checked). */
  get loaded(): boolean {
    return this.store !== undefined;
  }

  /** Stops following the store. */
  async close(): Promise<void> {
    await this.store?.stop();
  }

  /** Checks a bearer token. */
  verify(token: string, nowMs = Date.now()): Verdict {
    const cached = this.verified.get(token);
    // The same record object means nothing about the token changed since it was hashed.
    if (cached !== undefined && this.records.get(cached.id) === cached) return stateOf(cached, nowMs);
    const verdict = this.verifyFully(token, nowMs);
    if (verdict.ok) {
      if (this.verified.size >= VERIFIED_CACHE_MAX) this.verified.delete(this.verified.keys().next().value as string);
      this.verified.set(token, this.records.get(verdict.principal.id) as TokenRecord);
    }
    return verdict;
  }

  private verifyFully(token: string, nowMs: number): Verdict {
    const id = tokenId(token);
    if (id === undefined) return { ok: false, reason: 'malformed' };
    const record = this.records.get(id);
    const expected = record === undefined ? DUMMY_DIGEST : Buffer.from(record.hash, 'hex');
    const same = timingSafeEqual(Buffer.from(hashToken(token), 'hex'), expected.length === 32 ? expected : DUMMY_DIGEST);
    if (record === undefined) return { ok: false, reason: 'unknown' };
    if (!same) return { ok: false, reason: 'wrong_secret' };
    return stateOf(record, nowMs);
  }

  /** Creates a token; its secret is in the answer and nowhere else. */
  async create(spec: { name: string; scopes: readonly string[]; expiresAtMs?: number }, createdBy: string, nowMs = Date.now()): Promise<IssuedToken> {
    if (!/^[A-Za-z0-9][A-Za-z0-9_.@-]{0,62}$/.test(spec.name)) {
      throw new SluiceError('INVALID_ARGUMENT', 'a token name is 1-63 letters, digits, ".", "_", "@" or "-"', [{ path: 'name', message: JSON.stringify(spec.name) }]);
    }
    if (spec.scopes.length === 0) throw new SluiceError('INVALID_ARGUMENT', 'a token needs at least one scope', [{ path: 'scopes', message: 'empty' }]);
    const scopes = [...new Set(spec.scopes.map(parseScope))];
    if (spec.expiresAtMs !== undefined && spec.expiresAtMs <= nowMs) throw new SluiceError('INVALID_ARGUMENT', 'expiry must be in the future', [{ path: 'expires', message: String(spec.expiresAtMs) }]);
    const fresh = generateToken();
    const record: TokenRecord = {
      id: fresh.id,
      name: spec.name,
      hash: fresh.hash,
      scopes,
      createdAtMs: nowMs,
      createdBy,
      ...(spec.expiresAtMs === undefined ? {} : { expiresAtMs: spec.expiresAtMs }),
    };
    if (!(await this.requireStore().create(record))) throw new SluiceError('INTERNAL', 'token id clash; retry');
    this.records.set(record.id, record);
    return { token: fresh.token, record };
  }

  /**
   * Adds an operator-chosen token (bootstrap) with `scopes` unless it is
   * already known. A revoked one stays revoked: a restart with the old
   * SLUICE_BOOTSTRAP_TOKEN must not bring it back. Returns its record.
   */
  async ensure(token: string, name: string, scopes: readonly string[], createdBy: string, nowMs = Date.now()): Promise<TokenRecord> {
    const id = tokenId(token);
    if (id === undefined) throw new SluiceError('INVALID_ARGUMENT', 'a bootstrap token is 32 to 512 printable characters without spaces');
    const known = this.records.get(id);
    if (known !== undefined) {
      if (known.hash !== hashToken(token)) throw new SluiceError('INVALID_ARGUMENT', `token id ${id} is taken by another token`);
      return known;
    }
    const record: TokenRecord = { id, name, hash: hashToken(token), scopes, createdAtMs: nowMs, createdBy };
    await this.requireStore().create(record);
    this.records.set(id, record);
    return this.records.get(id) ?? record;
  }

  /** Revokes a token (idempotent); NOT_FOUND for an unknown id. */
  async revoke(id: string, nowMs = Date.now()): Promise<TokenRecord> {
    const record = this.require(id);
    if (record.revokedAtMs !== undefined) return record;
    const revoked: TokenRecord = { ...record, revokedAtMs: nowMs };
    await this.requireStore().update(revoked);
    return this.remember(revoked);
  }

  /** Issues a successor with the same name and scopes; the old token stops working after `graceMs` (0: now). */
  async rotate(id: string, graceMs: number, by: string, nowMs = Date.now()): Promise<IssuedToken> {
    const old = this.require(id);
    if (old.revokedAtMs !== undefined) throw new SluiceError('INVALID_ARGUMENT', `token ${id} is revoked`);
    const issued = await this.create({ name: old.name, scopes: old.scopes, ...(old.expiresAtMs === undefined ? {} : { expiresAtMs: Math.max(old.expiresAtMs, nowMs + 1) }) }, by, nowMs);
    const until = nowMs + graceMs;
    // From the record as it is now: a revocation made while the successor was stored holds.
    const current = this.require(id);
    const ending: TokenRecord = graceMs === 0 ? { ...current, revokedAtMs: current.revokedAtMs ?? nowMs } : laterOf(current, { ...current, expiresAtMs: until });
    await this.requireStore().update(ending);
    this.remember(ending);
    return issued;
  }

  /** Every token, without hashes, oldest first. */
  list(): TokenInfo[] {
    return [...this.records.values()].sort((a, b) => a.createdAtMs - b.createdAtMs).map(infoOf);
  }

  /** The record of `id`, or undefined. */
  get(id: string): TokenRecord | undefined {
    return this.records.get(id);
  }

  /** How many tokens grant admin and are neither revoked nor expired. */
  liveAdmins(nowMs = Date.now()): number {
    let n = 0;
    for (const r of this.records.values()) if (r.scopes.includes('admin') && r.revokedAtMs === undefined && (r.expiresAtMs ?? Infinity) > nowMs) n++;
    return n;
  }

  /** Number of records (revoked ones included). */
  get size(): number {
    return this.records.size;
  }

  private require(id: string): TokenRecord {
    const record = this.records.get(id);
    if (record === undefined) throw new SluiceError('NOT_FOUND', `no token ${id}`);
    return record;
  }

  private requireStore(): TokenStore {
    if (this.store === undefined) throw new SluiceError('NOT_READY', 'tokens are not loaded yet');
    return this.store;
  }
}

/** The verdict on a token whose secret matched `record`: revoked, expired, or its principal. */
function stateOf(record: TokenRecord, nowMs: number): Verdict {
  if (record.revokedAtMs !== undefined) return { ok: false, reason: 'revoked' };
  if (record.expiresAtMs !== undefined && record.expiresAtMs <= nowMs) return { ok: false, reason: 'expired' };
  return { ok: true, principal: principalOf(record) };
}

const principals = new WeakMap<TokenRecord, Principal>();

/** One principal object per record (no allocation per request). */
function principalOf(record: TokenRecord): Principal {
  let p = principals.get(record);
  if (p === undefined) {
    p = { id: record.id, name: record.name, scopes: record.scopes };
    principals.set(record, p);
  }
  return p;
}

/** The public view of a record. */
export function infoOf(r: TokenRecord): TokenInfo {
  return {
    id: r.id,
    name: r.name,
    scopes: r.scopes,
    createdAt: new Date(r.createdAtMs).toISOString(),
    createdBy: r.createdBy,
    ...(r.expiresAtMs === undefined ? {} : { expiresAt: new Date(r.expiresAtMs).toISOString() }),
    ...(r.revokedAtMs === undefined ? {} : { revokedAt: new Date(r.revokedAtMs).toISOString() }),
  };
}

