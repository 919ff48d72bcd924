/**
 * gRPC credentials that follow a reloader's pair. grpc-js's experimental
 * certificate-provider credentials call `setSecureContext` on their server
 * whenever the provider hands over an identity or a CA bundle. Ours hands
 * cert and key as the one pair the reloader validated (grpc-js's own
 * FileWatcherCertificateProvider reads the files separately and can pair a
 * new certificate with an old key), and, on the peer listener, the CA
 * bundle that verifies client certificates, validated with them.
 */
import tls from 'node:tls';
import { experimental, type ServerCredentials } from '@grpc/grpc-js';
import { TLS_MIN_VERSION } from '../../config.ts';

type IdentityUpdate = experimental.IdentityCertificateUpdate;
type IdentityListener = experimental.IdentityCertificateUpdateListener;
type CaUpdate = experimental.CaCertificateUpdate;
type CaListener = experimental.CaCertificateUpdateListener;

/** PEM text for a provider: an identity, and the CA bundle that verifies peers (none on a public listener). */
export interface ProviderPem {
  readonly cert: string;
  readonly key: string;
  readonly ca?: string;
}

/** A CertificateProvider with an identity, and a CA when the pairs it is given carry one. */
export class PairCertificateProvider implements experimental.CertificateProvider {
  private latest: IdentityUpdate;
  private latestCa: CaUpdate | undefined;
  private readonly identityListeners = new Set<IdentityListener>();
  private readonly caListeners = new Set<CaListener>();

  constructor(pair: ProviderPem) {
    this.latest = toUpdate(pair);
    this.latestCa = toCaUpdate(pair);
  }

  /** True when the provider hands a CA bundle (it may verify client certificates). */
  get hasCa(): boolean {
    return this.latestCa !== undefined;
  }

  /** Hands `pair` to every server using this provider. */
  update(pair: ProviderPem): void {
    this.latest = toUpdate(pair);
    this.latestCa = toCaUpdate(pair);
    // Both in one tick: no handshake can start between the CA and the identity of a reload.
    const ca = this.latestCa;
    if (ca !== undefined) for (const listener of this.caListeners) listener(ca);
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

  /** Without a CA (a public listener) nothing is ever handed: grpc-js is never told to ask clients for certificates. */
  addCaCertificateListener(listener: CaListener): void {
    if (this.latestCa === undefined) return;
    this.caListeners.add(listener);
    process.nextTick(() => {
      if (this.caListeners.has(listener) && this.latestCa !== undefined) listener(this.latestCa);
    });
  }

  /** grpc-js unsubscribes when its server closes. */
  removeCaCertificateListener(listener: CaListener): void {
    this.caListeners.delete(listener);
  }
}

/**
 * TLS server credentials (no client certificate) serving `provider`'s identity.
 * grpc-js 1.14 declares the arguments as (caProvider, identityProvider, …)
 * but passes them on as (identity, ca): its first argument is the identity.
 * test/security/tls-reload.test.ts completes a handshake through this, so
 * an upgrade that fixes the order fails there, not in production.
 */
export function grpcServerCredentials(provider: PairCertificateProvider): ServerCredentials {
  keepTlsFloor();
  return experimental.createCertificateProviderServerCredentials(provider, null, false);
}

/**
 * Mutual-TLS server credentials: `provider`'s identity, and a client
 * certificate its CA bundle verifies is required (a handshake without one
 * fails). The one provider goes in both places, so the argument-order
 * quirk of grpc-js 1.14 (above) cannot swap them; test/security/
 * peer-tls-reload.test.ts completes a mutual handshake through this and
 * sees a client without a certificate refused.
 */
export function grpcMutualTlsServerCredentials(provider: PairCertificateProvider): ServerCredentials {
  // Without a CA grpc-js would wait for one forever and drop every connection.
  if (!provider.hasCa) throw new TypeError('mutual TLS needs a provider with a CA bundle');
  keepTlsFloor();
  return experimental.createCertificateProviderServerCredentials(provider, provider, true);
}

/**
 * grpc-js builds its secure contexts from cert and key alone, so they take Node's default minimum; only
 * --tls-min-v1.0/1.1 lower it below TLSv1.2, and a node raises it back (which also holds for its TLS clients).
 */
function keepTlsFloor(): void {
  if (tls.DEFAULT_MIN_VERSION === 'TLSv1' || tls.DEFAULT_MIN_VERSION === 'TLSv1.1') tls.DEFAULT_MIN_VERSION = TLS_MIN_VERSION;
}

function toUpdate(pair: ProviderPem): IdentityUpdate {
  return { certificate: Buffer.from(pair.cert), privateKey: Buffer.from(pair.key) };
}

function toCaUpdate(pair: ProviderPem): CaUpdate | undefined {
  return pair.ca === undefined ? undefined : { caCertificate: Buffer.from(pair.ca) };
}
