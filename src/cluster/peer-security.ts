/**
 * The peer security of a starting cluster node, from its options: mutual
 * TLS from `--certs-dir` (validated as a node's certificate must be: pair,
 * chain, dates, key mode, and naming this node's id), or, with
 * `--insecure-cluster`, a plaintext peer port and a loud warning.
 * resolveConfig already refused a cluster node with neither.
 */
import type { Logger } from 'pino';
import type { NodeConfig } from '../config.ts';
import { SluiceError } from '../core/errors.ts';
import { CertError } from '../security/certs/cert-error.ts';
import { loadNodeCerts } from '../security/certs/load-cert-pair.ts';
import { mutualTls, plaintextPeers, type PeerSecurity } from './transport/peer-tls.ts';

/** This node's peer security; INVALID_ARGUMENT when its certs dir cannot be used. */
export async function loadPeerSecurity(config: Pick<NodeConfig, 'certsDir' | 'insecureCluster' | 'nodeId'>, log: Logger): Promise<PeerSecurity> {
  if (config.certsDir === '') {
    if (!config.insecureCluster) throw new SluiceError('INVALID_ARGUMENT', 'a cluster node needs --certs-dir or --insecure-cluster');
    log.warn(
      { event: 'insecure_cluster' },
      'INSECURE CLUSTER (--insecure-cluster): the peer port is plaintext and unauthenticated; anyone who reaches it can read and overwrite every replica. Development only.',
    );
    return plaintextPeers();
  }
  let pair;
  try {
    pair = await loadNodeCerts(config.certsDir);
  } catch (err) {
    if (err instanceof CertError) throw new SluiceError('INVALID_ARGUMENT', `--certs-dir ${config.certsDir}: ${err.message}`, [], { cause: err });
    throw err;
  }
  // Peers check that a caller's certificate names a registered node id: serving with another node's certificate would be refused by every peer.
  if (pair.identity.name !== config.nodeId) {
    throw new SluiceError('INVALID_ARGUMENT', `--certs-dir ${config.certsDir}: node.crt is for node ${pair.identity.name}, but this node is --node-id ${config.nodeId}`);
  }
  log.info({ event: 'peer_tls', clusterId: pair.identity.clusterId, nodeId: pair.identity.name, notAfter: pair.notAfter.toISOString(), serialNumber: pair.serialNumber }, 'peer listener uses mutual TLS');
  return mutualTls(pair);
}
