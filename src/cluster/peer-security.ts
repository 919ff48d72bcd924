/**
 * The peer security of a starting cluster node, from its options: mutual
 * TLS from `--certs-dir` (validated as a node's certificate must be: pair,
 * chain, dates, key mode, naming this node's id, and accepted by a TLS
 * context), or, with `--insecure-cluster`, a plaintext peer port and a loud
 * warning. resolveConfig already refused a cluster node with neither. The
 * same checks judge every reload of the certs dir (peerCertsSource), plus
 * one: the cluster id stays the one the node started with.
 */
import { createSecureContext } from 'node:tls';
import type { Logger } from 'pino';
import { TLS_MIN_VERSION, type NodeConfig } from '../config.ts';
import { SluiceError } from '../core/errors.ts';
import { CertError } from '../security/certs/cert-error.ts';
import { nodeFiles } from '../security/certs/certs-dir.ts';
import { loadNodeCerts, type LoadedCertPair } from '../security/certs/load-cert-pair.ts';
import { CertReloader, type InitialPair, type PairSource } from '../security/tls/cert-reloader.ts';
import { mutualTls, plaintextPeers, type MutualTls, type PeerSecurity } from './transport/peer-tls.ts';

/** A node's peer security, and with mutual TLS the certificates as read at start (for the reloader). */
export type StartedPeerSecurity = { readonly security: PeerSecurity; readonly certs?: undefined } | { readonly security: MutualTls; readonly certs: InitialPair<LoadedCertPair> };

/** This node's peer security; INVALID_ARGUMENT when its certs dir cannot be used. */
export async function loadPeerSecurity(config: Pick<NodeConfig, 'certsDir' | 'insecureCluster' | 'nodeId'>, log: Logger): Promise<StartedPeerSecurity> {
  if (config.certsDir === '') {
    if (!config.insecureCluster) throw new SluiceError('INVALID_ARGUMENT', 'a cluster node needs --certs-dir or --insecure-cluster');
    log.warn(
      { event: 'insecure_cluster' },
      'INSECURE CLUSTER (--insecure-cluster): the peer port is plaintext and unauthenticated; anyone who reaches it can read and overwrite every replica. Development only.',
    );
    return { security: plaintextPeers() };
  }
  let certs: InitialPair<LoadedCertPair>;
  try {
    certs = await CertReloader.open(peerCertsSource(config.certsDir, config.nodeId));
  } catch (err) {
    if (err instanceof CertError) throw new SluiceError('INVALID_ARGUMENT', `--certs-dir ${config.certsDir}: ${err.message}`, [], { cause: err });
    throw err;
  }
  const { pair } = certs;
  log.info({ event: 'peer_tls', clusterId: pair.identity.clusterId, nodeId: pair.identity.name, notAfter: pair.notAfter.toISOString(), serialNumber: pair.serialNumber }, 'peer listener uses mutual TLS');
  // Every reload must stay in the cluster the node started in: peers judge callers by it.
  return { security: mutualTls(pair), certs: { ...certs, source: peerCertsSource(config.certsDir, config.nodeId, pair.identity.clusterId) } };
}

/**
 * The node certificates of `certsDir` (ca.crt, node.crt, node.key), loaded
 * as loadNodeCerts does, for node `nodeId` (and of `clusterId` when given);
 * a CertError saying what is wrong otherwise.
 */
export function peerCertsSource(certsDir: string, nodeId: string, clusterId?: string): PairSource<LoadedCertPair> {
  const files = nodeFiles(certsDir);
  return {
    files: [files.ca, files.cert, files.key],
    load: async () => {
      const pair = await loadNodeCerts(certsDir, clusterId === undefined ? {} : { clusterId });
      // Peers check that a caller's certificate names a registered node id: serving with another node's certificate would be refused by every peer.
      if (pair.identity.name !== nodeId) throw new CertError(`${files.cert} is for node ${pair.identity.name}, but this node is --node-id ${nodeId}`, files.cert);
      // What grpc-js will do with the set, done here: a set a TLS context refuses is refused before the listener sees it.
      try {
        createSecureContext({ ca: pair.tls.ca, cert: pair.tls.cert, key: pair.tls.key, minVersion: TLS_MIN_VERSION });
      } catch (err) {
        throw new CertError(`${certsDir}: a TLS context refuses these certificates: ${(err as Error).message}`, files.cert, { cause: err });
      }
      return pair;
    },
  };
}
