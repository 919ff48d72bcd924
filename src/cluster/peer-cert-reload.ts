/**
 * Hot reload of the peer certificates: the reloader of the public
 * listeners (security/tls/cert-reloader.ts), polling `--certs-dir`'s
 * ca.crt, node.crt and node.key every `--tls-reload-interval-ms` (SIGHUP
 * forces it), with the checks of a node's start (peer-security.ts). A good
 * new set goes to the peer listener (new connections present the new
 * certificate and verify clients with the new CA bundle) and to the peer
 * channels, which are remade; a bad one is reported and the last good set
 * keeps serving. Its one listener is named `peer` in metrics and audit.
 */
import type { LoadedCertPair } from '../security/certs/load-cert-pair.ts';
import { CertReloader, type ReloadObserver } from '../security/tls/cert-reloader.ts';
import type { StartedPeerSecurity } from './peer-security.ts';
import type { GrpcTransport } from './transport/grpc-transport.ts';

/** The listener name of the peer certificates in reload outcomes, metrics and the audit log. */
export const PEER_TLS_LISTENER = 'peer';

/** Reports nowhere (a runtime started without hooks for it, as in tests). */
const SILENT: ReloadObserver = { onServing: () => undefined, onReload: () => undefined, onExpiring: () => undefined };

/** Starts polling the peer certificates; undefined with `--insecure-cluster` (no certificates). */
export function startPeerCertReload(started: StartedPeerSecurity, peers: GrpcTransport, intervalMs: number, observer: ReloadObserver = SILENT): CertReloader<LoadedCertPair> | undefined {
  if (started.certs === undefined) return undefined;
  const { security } = started;
  const reloader = new CertReloader(started.certs, observer);
  reloader.serve({
    name: PEER_TLS_LISTENER,
    apply: (pair) => {
      security.update(pair);
      // Channels hold the credentials they were made with: new ones carry the new certificate and CA bundle.
      peers.renewChannels();
    },
  });
  reloader.start(intervalMs);
  return reloader;
}
