/**
 * A workaround for etcd3 1.1.2 with an etcd user: a watch stream that
 * reconnects sends the auth token cached when the client first logged in.
 * etcd forgets its simple tokens when it restarts (and an idle one after
 * --auth-token-ttl), so every watch the stream re-creates is refused
 * ("invalid auth token"): etcd3 drops the first watcher with an error and
 * leaves the rest waiting forever. A node then silently stops seeing table
 * changes, token revocations and members (found by etcd-security.test.ts).
 * Unary calls re-login by themselves (etcd3 retries them after dropping
 * the token); this makes every watch stream (re)connect drop it too, so
 * the stream logs in afresh: one Authenticate per reconnect.
 *
 * It patches etcd3's internal WatchManager, shared by every client of the
 * process (harmless without a user: the dropped "token" is empty metadata).
 * The shapes it relies on are asserted, so an etcd3 upgrade that changes
 * them fails at start, not silently.
 */
import assert from 'node:assert/strict';
import { WatchManager } from 'etcd3/lib/watch.js';

/** The internals this reaches: WatchManager → WatchClient → ConnectionPool → Authenticator. */
interface ManagerInternals {
  readonly client: { readonly client: { readonly authenticator?: { invalidateMetadata(): void } } };
  establishStream(): void;
}

let installed = false;

/** Makes each watch stream (re)connect fetch a new etcd auth token; idempotent. */
export function reauthenticateWatchStreams(): void {
  if (installed) return;
  const proto = WatchManager.prototype as unknown as ManagerInternals;
  const establish = proto.establishStream;
  assert.equal(typeof establish, 'function', 'etcd3 WatchManager.establishStream is gone: etcd-watch-reauth.ts needs a new hook');
  proto.establishStream = function (this: ManagerInternals): void {
    const authenticator = this.client.client.authenticator;
    assert.equal(typeof authenticator?.invalidateMetadata, 'function', 'etcd3 ConnectionPool.authenticator.invalidateMetadata is gone: etcd-watch-reauth.ts needs a new hook');
    authenticator?.invalidateMetadata();
    establish.call(this);
  };
  installed = true;
}
