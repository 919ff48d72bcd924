/**
 * Authentication and authorization for every door (HTTP, gRPC): reads the
 * bearer credential, checks it against the registry, throttles addresses
 * that keep failing, checks scopes, and writes the audit trail. The doors
 * only say what a request needs and turn the errors into their answers.
 */
import { SluiceError } from '../core/errors.ts';
import type { AuditLog } from './audit-log.ts';
import type { FailureLimiter } from './failure-limiter.ts';
import { describeNeed, grants, grantsSomeTable, type Need, type TableAction } from './scopes.ts';
import { tokenLabel } from './token-format.ts';
import type { AuthFailure, Principal, TokenRegistry } from './token-registry.ts';

/** Longest Authorization value looked at, characters (a token is 80; a bootstrap token at most 512). */
export const AUTHORIZATION_CHARS_MAX = 1024;

/** Where a request comes from and what it asks, for the audit log. */
export interface RequestFacts {
  readonly address: string;
  readonly method: string;
  readonly route: string;
  readonly requestId: string;
  readonly table?: string;
}

/** How the node checks callers: bearer tokens, or nobody (`--auth none`, development only). */
export type AuthMode = 'token' | 'none';

/** The caller of a node started with `--auth none`. */
export const ANONYMOUS: Principal = { id: 'anonymous', name: 'anonymous', scopes: ['admin'] };

/** Counts failures by reason (a metric). */
export type FailureObserver = (reason: AuthFailure | 'throttled') => void;

/** Checks who calls and what they may do. */
export class Authenticator {
  readonly mode: AuthMode;
  readonly registry: TokenRegistry;
  readonly audit: AuditLog;
  private readonly limiter: FailureLimiter;
  private readonly onFailure: FailureObserver;

  constructor(mode: AuthMode, registry: TokenRegistry, limiter: FailureLimiter, audit: AuditLog, onFailure: FailureObserver = () => undefined) {
    this.mode = mode;
    this.registry = registry;
    this.limiter = limiter;
    this.audit = audit;
    this.onFailure = onFailure;
  }

  /**
   * The principal of a request whose credentials are `authorization` (the
   * header's values: a duplicated header is refused, not guessed at).
   * Throws OVERLOADED for a throttled address, NOT_READY before the tokens
   * are loaded, UNAUTHENTICATED otherwise.
   */
  authenticate(authorization: readonly string[], facts: RequestFacts): Principal {
    if (this.mode === 'none') return ANONYMOUS;
    const throttle = this.limiter.check(facts.address);
    if (throttle !== 'ok') {
      this.onFailure('throttled');
      if (throttle === 'throttled-first') this.audit.write('authentication_throttled', { ...facts, status: 429 });
      throw new SluiceError('OVERLOADED', 'too many failed authentications from this address; retry later', [{ path: 'authorization', message: 'throttled' }]);
    }
    if (!this.registry.loaded) throw new SluiceError('NOT_READY', 'the node is loading its tokens');
    const verdict = authorizationVerdict(this.registry, authorization);
    if (verdict.ok) return verdict.principal;
    this.limiter.fail(facts.address);
    this.onFailure(verdict.reason);
    this.audit.write(verdict.reason === 'missing' ? 'anonymous_access_denied' : 'authentication_failed', { ...facts, reason: verdict.reason, status: 401 });
    throw new SluiceError('UNAUTHENTICATED', verdict.reason === 'expired' ? 'token expired' : 'missing or invalid bearer token');
  }

  /** Throws PERMISSION_DENIED naming the missing scope unless `principal` holds `need`. */
  authorize(principal: Principal, need: Need, facts: RequestFacts): void {
    if (grants(principal.scopes, need)) return;
    const scope = describeNeed(need);
    this.deny(principal, scope, scope, facts);
  }

  /** Throws PERMISSION_DENIED unless `principal` holds `action` on some table (before the request names its table). */
  authorizeSomeTable(principal: Principal, action: TableAction, facts: RequestFacts): void {
    if (!grantsSomeTable(principal.scopes, action)) this.deny(principal, `${action}:<some table>`, `${action}:*`, facts);
  }

  /** Audits and throws the denial; `missing` names what was needed, `challenge` is the scope a client is told to get. */
  private deny(principal: Principal, missing: string, challenge: string, facts: RequestFacts): never {
    this.audit.write('access_denied', { ...facts, principal: principal.name, tokenId: principal.id, scope: missing, status: 403 });
    throw new SluiceError('PERMISSION_DENIED', `token ${tokenLabel(principal.id, principal.name)} lacks ${missing}`, [{ path: 'scope', message: challenge }]);
  }
}

function authorizationVerdict(registry: TokenRegistry, values: readonly string[]): { ok: true; principal: Principal } | { ok: false; reason: AuthFailure } {
  if (values.length === 0) return { ok: false, reason: 'missing' };
  if (values.length > 1) return { ok: false, reason: 'malformed' };
  const value = values[0] as string;
  if (value.length > AUTHORIZATION_CHARS_MAX) return { ok: false, reason: 'malformed' };
  // RFC 7235: the scheme is case-insensitive; exactly one space before the token.
  const m = /^bearer ([\x21-\x7e]+)$/i.exec(value);
  if (m === null) return { ok: false, reason: 'malformed' };
  return registry.verify(m[1] as string);
}
