/**
 * Loading a certificate and key for TLS, validated the way a node must
 * before it serves with them (at start and on each hot reload, where a bad
 * pair means keeping the last good one): both parse, the key is the
 * certificate's, it is open to no one but the owner, a CA in ca.crt issued
 * and signed it, it and that CA are within their dates, and its SAN URI
 * names a member of the CA's cluster. Uses `node:crypto` only.
 */
import { createPrivateKey } from 'node:crypto';
import { CertError } from './cert-error.ts';
import { checkDates, parse } from './cert-checks.ts';
import { checkKeyFileMode, nodeFiles, readText } from './certs-dir.ts';
import { caClusterId, peerIdentity, type PeerIdentity } from './identity.ts';
import { findIssuer, parsePemCertificates, splitPemCertificates } from './pem.ts';

/** Paths of a CA certificate (or bundle), a certificate and its key. */
export interface CertPairFiles {
  readonly ca: string;
  readonly cert: string;
  readonly key: string;
}

/** A validated pair. */
export interface LoadedCertPair {
  /** PEM strings for `tls.createServer`, `tls.connect`, `setSecureContext` or grpc-js credentials. */
  readonly tls: { readonly ca: string; readonly cert: string; readonly key: string };
  readonly identity: PeerIdentity;
  /** The certificate's subject, on one line. */
  readonly subject: string;
  readonly notAfter: Date;
  readonly serialNumber: string;
  /** SHA-256 of the certificate's DER, colon-separated hex. */
  readonly fingerprint256: string;
}

/** What to require beyond a valid pair. */
export interface LoadOptions {
  /** The role the certificate must have (default: either). */
  readonly role?: PeerIdentity['role'];
  /** The cluster the certificate must belong to (default: the issuing CA's). */
  readonly clusterId?: string;
  /** The time to check the dates against (default: now). */
  readonly now?: Date;
}

/** The node pair of a certs dir (`ca.crt`, `node.crt`, `node.key`), validated; a CertError saying what is wrong otherwise. */
export function loadNodeCerts(certsDir: string, options: Omit<LoadOptions, 'role'> = {}): Promise<LoadedCertPair> {
  return loadCertPair(nodeFiles(certsDir), { ...options, role: 'node' });
}

/** The pair at `files`, validated; a CertError saying what is wrong otherwise. */
export async function loadCertPair(files: CertPairFiles, options: LoadOptions = {}): Promise<LoadedCertPair> {
  const now = options.now ?? new Date();
  const caPem = await readText(files.ca, 'the CA certificate');
  const certPem = await readText(files.cert, 'the certificate');
  const keyPem = await readText(files.key, 'the key');
  await checkKeyFileMode(files.key);

  const cas = parse(files.ca, () => parsePemCertificates(caPem));
  if (cas.length === 0) throw new CertError(`${files.ca} holds no certificate`, files.ca);
  const cert = parse(files.cert, () => parsePemCertificates(certPem)[0]);
  if (cert === undefined) throw new CertError(`${files.cert} holds no certificate`, files.cert);
  const key = parse(files.key, () => createPrivateKey(keyPem));
  if (!cert.checkPrivateKey(key)) throw new CertError(`${files.key} is not the key of ${files.cert} (${cert.subject})`, files.key);

  const issuer = findIssuer(cert, cas);
  if (issuer === undefined) throw new CertError(`${files.cert} (${cert.subject}, issued by ${cert.issuer}) was not issued by a CA in ${files.ca} (${cas.map((c) => c.subject).join('; ')})`, files.cert);
  checkDates(files.cert, cert, now);
  checkDates(files.ca, issuer, now);

  const identity = peerIdentity(cert);
  if (identity === undefined) throw new CertError(`${files.cert} names no sluice node or client (no single sluice://<cluster>/node|client/<name> SAN URI with a matching EKU)`, files.cert);
  if (options.role !== undefined && identity.role !== options.role) throw new CertError(`${files.cert} is a ${identity.role} certificate (${identity.name}); a ${options.role} certificate is needed here`, files.cert);
  const caCluster = caClusterId(issuer);
  if (caCluster !== identity.clusterId) throw new CertError(`${files.cert} is for cluster ${identity.clusterId} but its CA is ${caCluster === undefined ? 'not a sluice CA' : `for cluster ${caCluster}`}`, files.cert);
  if (options.clusterId !== undefined && identity.clusterId !== options.clusterId) throw new CertError(`${files.cert} is for cluster ${identity.clusterId}, not ${options.clusterId}`, files.cert);

  // The CA blocks re-joined one per line: OpenSSL refuses a bundle whose blocks were concatenated without a newline between.
  return {
    tls: { ca: splitPemCertificates(caPem).join(''), cert: certPem, key: keyPem },
    identity,
    subject: cert.subject.replaceAll('\n', ', '),
    notAfter: cert.validToDate,
    serialNumber: cert.serialNumber,
    fingerprint256: cert.fingerprint256,
  };
}


