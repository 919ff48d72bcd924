/**
 * Browser sessions of the status page. A browser cannot send a bearer
 * header, so signing in with a token (`ops` scope) opens a session whose
 * opaque id travels in an HttpOnly cookie; the token itself never leaves
 * the sign-in request. Sessions live in memory only (a restart signs
 * everyone out), are bounded in number and expire a fixed time after
 * sign-in (never later than their token), and die with their token:
 * every lookup asks `tokenLive` whether the token is still valid.
 *
 * The map is keyed by the SHA-256 of the id, not the id: a heap snapshot
 * (`/debug/heap`) then holds no id a reader could replay as a cookie.
 */
import { createHash, randomBytes } from 'node:crypto';

/** Who a session belongs to: the token it was opened with. */
export interface SessionOwner {
  readonly tokenId: string;
  readonly name: string;
  /** The token's own expiry, when it has one: the session ends no later. */
  readonly expiresAtMs?: number;
}

/** A live session. */
export interface Session extends SessionOwner {
  readonly createdAtMs: number;
  readonly endsAtMs: number;
}

/** Limits of the store (config.ts: statusSessionsMax, statusSessionTtlMs). */
export interface SessionStoreOptions {
  readonly sessionsMax: number;
  readonly ttlMs: number;
  /** False once the token is revoked or expired (the registry decides). */
  readonly tokenLive: (tokenId: string, nowMs: number) => boolean;
}

/** Random bytes of a session id (256 bits: not guessable, not enumerable). */
const SESSION_ID_BYTES = 32;
/** A session id as it travels: base64url of SESSION_ID_BYTES. */
const SESSION_ID_RE = /^[A-Za-z0-9_-]{43}$/;

/** In-memory sessions with a bound and an expiry. */
export class SessionStore {
  private readonly o: SessionStoreOptions;
  /** sha256(id) → session, oldest first (Map keeps insertion order). */
  private readonly sessions = new Map<string, Session>();

  constructor(options: SessionStoreOptions) {
    if (!(options.sessionsMax >= 1 && options.ttlMs >= 1)) throw new Error('sessionsMax and ttlMs must be positive');
    this.o = options;
  }

  /**
   * Opens a session for `owner` and returns its id. When the store is full
   * the oldest session ends: an operator must be able to sign in during an
   * incident, and the bound only protects memory.
   */
  open(owner: SessionOwner, nowMs: number): { readonly id: string; readonly session: Session } {
    this.sweep(nowMs);
    while (this.sessions.size >= this.o.sessionsMax) {
      const oldest = this.sessions.keys().next().value as string;
      this.sessions.delete(oldest);
    }
    const id = randomBytes(SESSION_ID_BYTES).toString('base64url');
    const endsAtMs = Math.min(nowMs + this.o.ttlMs, owner.expiresAtMs ?? Number.POSITIVE_INFINITY);
    const session: Session = { ...owner, createdAtMs: nowMs, endsAtMs };
    this.sessions.set(digest(id), session);
    return { id, session };
  }

  /** The live session of `id`, or undefined (unknown, malformed, expired, or its token no longer valid). */
  lookup(id: string, nowMs: number): Session | undefined {
    if (!SESSION_ID_RE.test(id)) return undefined;
    const key = digest(id);
    const session = this.sessions.get(key);
    if (session === undefined) return undefined;
    if (session.endsAtMs <= nowMs || !this.o.tokenLive(session.tokenId, nowMs)) {
      this.sessions.delete(key);
      return undefined;
    }
    return session;
  }

  /** Ends the session of `id` (sign-out); returns it when there was one. */
  end(id: string): Session | undefined {
    if (!SESSION_ID_RE.test(id)) return undefined;
    const key = digest(id);
    const session = this.sessions.get(key);
    this.sessions.delete(key);
    return session;
  }

  /** Sessions held (expired ones not yet swept included). */
  get size(): number {
    return this.sessions.size;
  }

  /** Drops expired sessions; cheap because the map is in creation order and every session has the same TTL, token expiry aside. */
  private sweep(nowMs: number): void {
    for (const [key, session] of this.sessions) {
      if (session.endsAtMs <= nowMs) this.sessions.delete(key);
      else if (session.createdAtMs + this.o.ttlMs > nowMs) break;
    }
  }
}

function digest(id: string): string {
  return createHash('sha256').update(id).digest('base64url');
}
