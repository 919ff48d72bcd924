/**
 * The audit log: one JSON object per line, apart from the operational log,
 * with Elasticsearch's event names (`authentication_failed`,
 * `access_denied`, `access_granted`, `token_created`, …). It records who
 * (token id and name), what (scope, method, route, table), from where (the
 * socket address, never X-Forwarded-For) and the outcome. It never holds a
 * token or a body. Lines are appended without fsync: the audit log is for
 * investigation, not a durability promise.
 */
import { createWriteStream, type WriteStream } from 'node:fs';
import { mkdirSync } from 'node:fs';
import path from 'node:path';

/** The audit events. */
export type AuditEvent =
  | 'auth_config'
  | 'anonymous_access_denied'
  | 'authentication_failed'
  | 'authentication_throttled'
  | 'access_denied'
  | 'access_granted'
  | 'token_created'
  | 'token_revoked'
  | 'token_rotated'
  | 'tls_reloaded'
  | 'session_created'
  | 'session_ended'
  | 'replica_write'
  | 'replica_prepare';

/** One audit entry; `ts`, `node` and `event` are added by the log. */
export interface AuditFields {
  readonly principal?: string;
  readonly tokenId?: string;
  readonly scope?: string;
  readonly address?: string;
  readonly method?: string;
  readonly route?: string;
  readonly table?: string;
  readonly status?: number;
  readonly requestId?: string;
  readonly reason?: string;
  readonly [key: string]: unknown;
}

/** Where audit lines go: a file, stderr, or nowhere. */
export type AuditTarget = { readonly kind: 'file'; readonly file: string } | { readonly kind: 'stderr' } | { readonly kind: 'off' };

/** Appends audit entries. */
export class AuditLog {
  private readonly node: string;
  private readonly out: WriteStream | NodeJS.WriteStream | undefined;

  constructor(target: AuditTarget, node: string) {
    this.node = node;
    if (target.kind === 'file') {
      mkdirSync(path.dirname(target.file), { recursive: true });
      this.out = createWriteStream(target.file, { flags: 'a', mode: 0o600 });
    } else {
      this.out = target.kind === 'stderr' ? process.stderr : undefined;
    }
  }

  /** Writes one entry. */
  write(event: AuditEvent, fields: AuditFields): void {
    if (this.out === undefined) return;
    this.out.write(`${JSON.stringify({ ts: new Date().toISOString(), node: this.node, event, ...fields })}\n`);
  }

  /** Flushes and closes the file. */
  async close(): Promise<void> {
    const out = this.out;
    if (out === undefined || out === process.stderr) return;
    await new Promise<void>((resolve) => (out as WriteStream).end(resolve));
  }
}
