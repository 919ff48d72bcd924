/**
 * How nodes prove to each other who they are on the peer listener: mutual
 * TLS from one node certificate, which a node serves with and presents as
 * its client certificate when it calls a peer. Trust comes from ca.crt
 * alone (a bundle during a CA rotation), never from the public roots:
 * grpc-js's `createSsl` with `rootCerts = null` would trust every public CA
 * for client certificates.
 *
 * Identity is the certificate's SAN URI `sluice://<cluster-id>/node/<id>`
 * (security/certs/identity.ts), not a host name: a caller must be a node of
 * this cluster, and a server must be the node etcd lists at the address
 * dialled. `plaintextPeers` is `--insecure-cluster`: no TLS, no identity.
 *
 * The pair is replaced on a reload (`MutualTls.update`): the listener's
 * credentials take the new identity and CA bundle for new connections
 * through a certificate provider, and channel credentials made after it
 * carry the new pair (GrpcTransport remakes its channels then).
 */
import { ServerCredentials, credentials, type ChannelCredentials } from '@grpc/grpc-js';
import type { PeerCertificate } from 'node:tls';
import { SluiceError } from '../../core/errors.ts';
import { peerIdentity } from '../../security/certs/identity.ts';
import type { LoadedCertPair } from '../../security/certs/load-cert-pair.ts';
import { PairCertificateProvider, grpcMutualTlsServerCredentials } from '../../security/tls/grpc-credentials.ts';

/** What a server call's TLS session says about the caller (grpc-js `call.getAuthContext()`). */
export interface PeerAuthContext {
  readonly sslPeerCertificate?: PeerCertificate | undefined;
}

/** The credentials of the peer listener and of the channels to peers. */
export interface PeerSecurity {
  /** True with mutual TLS; false for `--insecure-cluster`. */
  readonly secure: boolean;
  /** The credentials the peer listener binds with. */
  serverCredentials(): ServerCredentials;
  /** Credentials of a channel to node `nodeId`: they refuse a server whose certificate names another node. */
  channelCredentials(nodeId: string): ChannelCredentials;
  /** Channel options that go with `channelCredentials`. */
  channelOptions(nodeId: string): Record<string, string>;
  /**
   * The node id a call's certificate names: UNAUTHENTICATED without a
   * verified certificate, PERMISSION_DENIED for a certificate that is not
   * a node certificate of this cluster. Undefined when not secure.
   */
  callerNodeId(context: PeerAuthContext | null): string | undefined;
}

/** Mutual TLS whose pair can be replaced while it serves. */
export interface MutualTls extends PeerSecurity {
  /** The pair in service. */
  readonly pair: LoadedCertPair;
  /**
   * Serves `next` (validated, of the same cluster) from now on: the listener
   * for new connections, and channel credentials made after this call.
   */
  update(next: LoadedCertPair): void;
}

/** Mutual TLS with `pair` (a validated node certificate, its key and the CA bundle). */
export function mutualTls(pair: LoadedCertPair): MutualTls {
  let current = pair;
  // One provider for every server of this security: a reload reaches them all.
  const provider = new PairCertificateProvider(pair.tls);
  const clusterId = pair.identity.clusterId;
  return {
    secure: true,
    get pair() {
      return current;
    },
    update: (next) => {
      // The cluster id judges callers and servers; a reload keeps it (peer-security.ts refuses another).
      if (next.identity.clusterId !== clusterId) throw new SluiceError('INVALID_ARGUMENT', `the new node certificate is for cluster ${next.identity.clusterId}, this node's is ${clusterId}`);
      current = next;
      provider.update(next.tls);
    },
    // A client without a certificate the CA bundle verifies never completes the handshake.
    serverCredentials: () => grpcMutualTlsServerCredentials(provider),
    channelCredentials: (nodeId) => {
      const { ca, key, cert } = current.tls;
      return credentials.createSsl(Buffer.from(ca), Buffer.from(key), Buffer.from(cert), { checkServerIdentity: (_host, server) => serverIdentityError(server, clusterId, nodeId) });
    },
    // The TLS server name is not what is checked (the URI SAN is); a DNS-like one keeps Node from warning
    // about IP addresses as server names (RFC 6066).
    channelOptions: (nodeId) => ({ 'grpc.ssl_target_name_override': `${nodeId}.${clusterId}.sluice.invalid` }),
    callerNodeId: (context) => callerNodeId(context, clusterId),
  };
}

/** `--insecure-cluster`: plaintext both ways, and no caller identity. */
export function plaintextPeers(): PeerSecurity {
  return {
    secure: false,
    serverCredentials: () => ServerCredentials.createInsecure(),
    channelCredentials: () => credentials.createInsecure(),
    channelOptions: () => ({}),
    callerNodeId: () => undefined,
  };
}

/** Why the server certificate is not node `nodeId` of `clusterId`; undefined when it is (tls `checkServerIdentity`). */
function serverIdentityError(server: PeerCertificate, clusterId: string, nodeId: string): Error | undefined {
  const identity = server.raw === undefined ? undefined : peerIdentity(server.raw);
  if (identity?.role === 'node' && identity.clusterId === clusterId && identity.name === nodeId) return undefined;
  const named = identity === undefined ? 'no sluice node' : `${identity.role} ${identity.name} of cluster ${identity.clusterId}`;
  return new Error(`the peer's certificate names ${named}, but etcd lists node ${nodeId} of cluster ${clusterId} at this address`);
}

function callerNodeId(context: PeerAuthContext | null, clusterId: string): string {
  const raw = context?.sslPeerCertificate?.raw;
  // grpc-js gives an empty context unless the TLS session verified the certificate against the CA bundle.
  if (raw === undefined) throw new SluiceError('UNAUTHENTICATED', 'the peer listener needs a node certificate issued by the cluster CA');
  const identity = peerIdentity(raw);
  if (identity === undefined) throw new SluiceError('PERMISSION_DENIED', 'the certificate names no sluice node (no single sluice://<cluster>/node/<id> SAN URI with server and client EKU)');
  if (identity.role !== 'node') throw new SluiceError('PERMISSION_DENIED', `a ${identity.role} certificate (${identity.name}) may not call the Replica service; only nodes may`);
  if (identity.clusterId !== clusterId) throw new SluiceError('PERMISSION_DENIED', `the certificate is for cluster ${identity.clusterId}, this node's is ${clusterId}`);
  return identity.name;
}
