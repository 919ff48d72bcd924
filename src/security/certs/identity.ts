/**
 * Who a certificate speaks for. The role lives in a SAN URI, never the CN
 * (DN/CN mapping has pitfalls: escaping, several CNs, case):
 *   sluice://<cluster-id>/ca               the cluster CA
 *   sluice://<cluster-id>/node/<node-id>   a node (EKU serverAuth + clientAuth)
 *   sluice://<cluster-id>/client/<name>    a client (EKU clientAuth)
 * Parsing uses `node:crypto` only, so the server's mTLS checks need no
 * certificate library at run time.
 */
import { X509Certificate } from 'node:crypto';
import { SluiceError } from '../../core/errors.ts';
import { parseSubjectAltNames } from './subject-alt-names.ts';

/** A peer's identity as its certificate states it. */
export interface PeerIdentity {
  readonly clusterId: string;
  readonly role: 'node' | 'client';
  /** The node id, or the client name. */
  readonly name: string;
}

/** The same rule as a node id in the config: letters, digits, `-`, `_`, `.`; it also keeps URIs free of anything to escape. */
const NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$/;
const SCHEME = 'sluice://';
const LEAF_URI = /^sluice:\/\/([A-Za-z0-9][A-Za-z0-9_.-]{0,62})\/(node|client)\/([A-Za-z0-9][A-Za-z0-9_.-]{0,62})$/;
const CA_URI = /^sluice:\/\/([A-Za-z0-9][A-Za-z0-9_.-]{0,62})\/ca$/;
const SERVER_AUTH = '1.3.6.1.5.5.7.3.1';
const CLIENT_AUTH = '1.3.6.1.5.5.7.3.2';

/** `name` if it is a valid cluster id, node id or client name; INVALID_ARGUMENT naming `what` otherwise. */
export function checkName(name: string, what: string): string {
  if (!NAME.test(name)) throw new SluiceError('INVALID_ARGUMENT', `${what} must be 1-63 letters, digits, '-', '_' or '.', starting with a letter or digit; got ${JSON.stringify(name)}`);
  return name;
}

/** The SAN URI of the CA of `clusterId`. */
export function caUri(clusterId: string): string {
  return `${SCHEME}${checkName(clusterId, 'cluster id')}/ca`;
}

/** The SAN URI of node `nodeId` (or client `name`) of `clusterId`. */
export function leafUri(clusterId: string, role: PeerIdentity['role'], name: string): string {
  return `${SCHEME}${checkName(clusterId, 'cluster id')}/${role}/${checkName(name, role === 'node' ? 'node id' : 'client name')}`;
}

/**
 * The identity of a node or client certificate (a `node:crypto`
 * X509Certificate, e.g. from `tlsSocket.getPeerX509Certificate()`, or the
 * DER of `getPeerCertificate().raw`); undefined when it is not one: a CA,
 * no or several sluice URIs, or an EKU that does not fit the role.
 * It does not check the chain or dates: the TLS handshake did that.
 */
export function peerIdentity(cert: X509Certificate | Uint8Array): PeerIdentity | undefined {
  try {
    const x509 = cert instanceof X509Certificate ? cert : new X509Certificate(cert);
    if (x509.ca) return undefined;
    const uri = soleSluiceUri(x509);
    const m = uri === undefined ? null : LEAF_URI.exec(uri);
    if (m === null) return undefined;
    const role = m[2] as PeerIdentity['role'];
    // The handshake checks the EKU of the peer's side; checking both here keeps a client cert from passing as a node on either side.
    const eku = x509.keyUsage ?? [];
    if (!eku.includes(CLIENT_AUTH) || (role === 'node' && !eku.includes(SERVER_AUTH))) return undefined;
    return { clusterId: m[1] as string, role, name: m[3] as string };
  } catch {
    return undefined;
  }
}

/** The cluster id a CA certificate records in its `sluice://<cluster-id>/ca` URI; undefined for any other certificate. */
export function caClusterId(cert: X509Certificate): string | undefined {
  if (!cert.ca) return undefined;
  const uri = soleSluiceUri(cert);
  return uri === undefined ? undefined : CA_URI.exec(uri)?.[1];
}

/** The one sluice:// URI SAN; undefined when there is none or more than one (ambiguous: trust neither). */
function soleSluiceUri(cert: X509Certificate): string | undefined {
  const uris = parseSubjectAltNames(cert.subjectAltName).filter((n) => n.type === 'URI' && n.value.toLowerCase().startsWith(SCHEME));
  return uris.length === 1 ? uris[0]?.value : undefined;
}
