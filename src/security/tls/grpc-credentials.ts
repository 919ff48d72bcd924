/**
 * Server credentials for the public gRPC listener that follow the
 * reloader's pair. grpc-js's experimental certificate-provider credentials
 * call `setSecureContext` on their server whenever the provider hands over
 * an identity. Ours hands cert and key as the one pair the reloader
 * validated; grpc-js's own FileWatcherCertificateProvider reads the two
 * files separately and can pair a new certificate with an old key.
 */
import tls from 'node:tls';
import { experimental, type ServerCredentials } from '@grpc/grpc-js';
import { TLS_MIN_VERSION } from '../../config.ts';
import type { ServerPair } from './server-pair.ts';

type IdentityUpdate = experimental.IdentityCertificateUpdate;
type IdentityListener = experimental.IdentityCertificateUpdateListener;

/** A CertificateProvider with an identity (no CA: the public listener asks for no client certificate). */
export class PairCertificateProvider implements experimental.CertificateProvider {
  private latest: IdentityUpdate;
  private readonly identityListeners = new Set<IdentityListener>();

  constructor(pair: ServerPair) {
    this.latest = toUpdate(pair);
  }

  /** Hands `pair` to every server using this provider. */
  update(pair: ServerPair): void {
    this.latest = toUpdate(pair);
    for (const listener of this.identityListeners) listener(this.latest);
  }

  /** grpc-js subscribes a server's credentials; they get the current pair, then every update. */
  addIdentityCertificateListener(listener: IdentityListener): void {
    this.identityListeners.add(listener);
    // On the next tick, as grpc-js's own providers do: it adds its server's watcher only after this returns, and a
    // synchronous update would reach no watcher, leaving the server without an identity (it drops every connection then).
    process.nextTick(() => {
      if (this.identityListeners.has(listener)) listener(this.latest);
    });
  }

  /** grpc-js unsubscribes when its server closes. */
  removeIdentityCertificateListener(listener: IdentityListener): void {
    this.identityListeners.delete(listener);
  }

  /** No CA: grpc-js is never told to ask clients for certificates. */
  addCaCertificateListener(): void {}

  /** No CA listeners to remove. */
  removeCaCertificateListener(): void {}
}

/**
 * TLS server credentials (no client certificate) serving `provider`'s identity.
 * grpc-js 1.14 declares the arguments as (caProvider, identityProvider, …)
 * but passes them on as (identity, ca): its first argument is the identity.
 * test/security/tls-reload.test.ts completes a handshake through this, so
 * an upgrade that fixes the order fails there, not in production.
 */
export function grpcServerCredentials(provider: PairCertificateProvider): ServerCredentials {
  // grpc-js builds its secure contexts from cert and key alone, so they take Node's default minimum; only
  // --tls-min-v1.0/1.1 lower it below TLSv1.2, and a node raises it back (which also holds for its TLS clients).
  if (tls.DEFAULT_MIN_VERSION === 'TLSv1' || tls.DEFAULT_MIN_VERSION === 'TLSv1.1') tls.DEFAULT_MIN_VERSION = TLS_MIN_VERSION;
  return experimental.createCertificateProviderServerCredentials(provider, null, false);
}

function toUpdate(pair: ServerPair): IdentityUpdate {
  return { certificate: Buffer.from(pair.cert), privateKey: Buffer.from(pair.key) };
}
