/**
 * Issuing the cluster's certificates: the CA, node certificates and client
 * certificates, each with a fresh P-256 key. Who a certificate is for is in
 * its SAN URI (identity.ts); the CN is only for people reading `cert list`.
 * Leaves carry subject and authority key ids so that, during a CA rotation
 * with two CAs in ca.crt, TLS stacks pick the right issuer. Also the
 * self-signed server certificate of `--tls auto`, which names hosts only.
 */
import { X509Certificate, createPrivateKey, randomBytes, type webcrypto } from 'node:crypto';
import { isIP } from 'node:net';
import { SluiceError } from '../../core/errors.ts';
import { CertError } from './cert-error.ts';
import { caClusterId, caUri, checkName, leafUri, type PeerIdentity } from './identity.ts';
import { SIGNING_ALGORITHM, generateKeyPair, privateKeyToPem, signingKeyFromPem } from './keys.ts';
import { x509 } from './x509.ts';

/** A certificate and its private key, both PEM. */
export interface IssuedCert {
  readonly certPem: string;
  readonly keyPem: string;
  readonly notBefore: Date;
  /** May be earlier than asked for: a leaf never outlives its CA. */
  readonly notAfter: Date;
}

/** When a certificate is valid. */
export interface Validity {
  /** Default: an hour ago, so that nodes whose clocks lag a little accept a fresh certificate. */
  readonly notBefore?: Date;
  readonly notAfter: Date;
}

/** The CA that signs: its certificate and private key, PEM. */
export interface SigningCa {
  readonly certPem: string;
  readonly keyPem: string;
  /** Where the key came from, for messages. */
  readonly keyFile?: string;
}

const CLOCK_SKEW_MS = 3_600_000;

/** A self-signed CA for `clusterId`: basicConstraints cA (no intermediates below it), keyCertSign, and the SAN URI `sluice://<cluster-id>/ca`. */
export async function createCa(o: Validity & { readonly clusterId: string }): Promise<IssuedCert> {
  const uri = caUri(o.clusterId);
  const { notBefore, notAfter } = validity(o);
  const keys = await generateKeyPair();
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: serialNumber(),
    name: [{ CN: [`sluice CA ${o.clusterId}`] }, { O: ['sluice'] }],
    notBefore,
    notAfter,
    keys,
    signingAlgorithm: SIGNING_ALGORITHM,
    extensions: [
      new x509.BasicConstraintsExtension(true, 0, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
      new x509.SubjectAlternativeNameExtension([{ type: 'url', value: uri }]),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
    ],
  });
  return { certPem: pemFile(cert), keyPem: await privateKeyToPem(keys.privateKey), notBefore, notAfter };
}

/** A node certificate signed by `ca`: URI `sluice://<cluster-id>/node/<node-id>`, a DNS or IP SAN per host, EKU serverAuth + clientAuth. */
export async function createNodeCert(ca: SigningCa, o: Validity & { readonly nodeId: string; readonly hosts: readonly string[] }): Promise<IssuedCert> {
  if (o.hosts.length === 0) throw new SluiceError('INVALID_ARGUMENT', 'a node certificate needs at least one host (a DNS name or IP address other nodes and clients dial)');
  const hosts = [...new Set(o.hosts)].map(hostName);
  return createLeaf(ca, 'node', o.nodeId, o, hosts);
}

/** A client certificate signed by `ca`: URI `sluice://<cluster-id>/client/<name>`, EKU clientAuth only (it cannot serve). */
export async function createClientCert(ca: SigningCa, o: Validity & { readonly name: string }): Promise<IssuedCert> {
  return createLeaf(ca, 'client', o.name, o, []);
}

/**
 * A self-signed server certificate for `hosts` (a DNS or IP SAN each), EKU
 * serverAuth, not a CA: what `sluice serve --tls auto` serves. Clients trust
 * it by pinning it (the file as their CA, or its fingerprint).
 */
export async function createSelfSignedServerCert(o: Validity & { readonly commonName: string; readonly hosts: readonly string[] }): Promise<IssuedCert> {
  if (o.hosts.length === 0) throw new SluiceError('INVALID_ARGUMENT', 'a server certificate needs at least one host (a DNS name or IP address clients dial)');
  const { notBefore, notAfter } = validity(o);
  const keys = await generateKeyPair();
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: serialNumber(),
    name: [{ CN: [o.commonName] }, { O: ['sluice'] }],
    notBefore,
    notAfter,
    keys,
    signingAlgorithm: SIGNING_ALGORITHM,
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
      new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth]),
      new x509.SubjectAlternativeNameExtension([...new Set(o.hosts)].map(hostName)),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
    ],
  });
  return { certPem: pemFile(cert), keyPem: await privateKeyToPem(keys.privateKey), notBefore, notAfter };
}

async function createLeaf(ca: SigningCa, role: PeerIdentity['role'], name: string, o: Validity, hosts: x509.JsonGeneralName[]): Promise<IssuedCert> {
  checkName(name, role === 'node' ? 'node id' : 'client name');
  const { caCert, clusterId, signingKey } = signer(ca);
  const asked = validity(o);
  // A leaf that outlives its CA would fail the handshake anyway once the CA expires; say so by the date instead.
  const notAfter = asked.notAfter > caCert.validToDate ? caCert.validToDate : asked.notAfter;
  const notBefore = asked.notBefore;
  if (notBefore >= notAfter) throw new SluiceError('INVALID_ARGUMENT', `the CA expires ${caCert.validToDate.toISOString()}, before the certificate would start`);
  const keys = await generateKeyPair();
  const caX509 = new x509.X509Certificate(ca.certPem);
  const usages = role === 'node' ? [x509.ExtendedKeyUsage.serverAuth, x509.ExtendedKeyUsage.clientAuth] : [x509.ExtendedKeyUsage.clientAuth];
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: serialNumber(),
    subject: [{ CN: [`${role} ${name}`] }, { O: [`sluice ${clusterId}`] }],
    issuer: caX509.subjectName,
    notBefore,
    notAfter,
    publicKey: keys.publicKey,
    signingKey,
    signingAlgorithm: SIGNING_ALGORITHM,
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
      new x509.ExtendedKeyUsageExtension(usages),
      new x509.SubjectAlternativeNameExtension([{ type: 'url', value: leafUri(clusterId, role, name) }, ...hosts]),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
      await authorityKeyId(caX509),
    ],
  });
  return { certPem: pemFile(cert), keyPem: await privateKeyToPem(keys.privateKey), notBefore, notAfter };
}

/** The certificate as a PEM file. The library leaves off the final newline, and without it `cat old.crt new.crt` makes a bundle OpenSSL cannot read. */
function pemFile(cert: x509.X509Certificate): string {
  return `${cert.toString('pem').trimEnd()}\n`;
}

/** The authority key id of leaves of `ca`: its own subject key id when it has one (a CA made elsewhere may derive it differently). */
async function authorityKeyId(ca: x509.X509Certificate): Promise<x509.AuthorityKeyIdentifierExtension> {
  const skid = ca.getExtension(x509.SubjectKeyIdentifierExtension);
  return skid === null ? x509.AuthorityKeyIdentifierExtension.create(ca.publicKey) : new x509.AuthorityKeyIdentifierExtension(skid.keyId);
}

/** The CA's certificate, cluster id and signing key, after checking they belong together. */
function signer(ca: SigningCa): { caCert: X509Certificate; clusterId: string; signingKey: webcrypto.CryptoKey } {
  let caCert: X509Certificate;
  try {
    caCert = new X509Certificate(ca.certPem);
  } catch (err) {
    throw new CertError(`the CA certificate does not parse: ${(err as Error).message}`, undefined, { cause: err });
  }
  const clusterId = caClusterId(caCert);
  if (clusterId === undefined) throw new CertError(`${caCert.subject} is not a sluice CA (no basicConstraints cA or no sluice://<cluster-id>/ca URI)`);
  const keyFile = ca.keyFile ?? 'the CA key';
  const signingKey = signingKeyFromPem(ca.keyPem, keyFile);
  // Signing with a key that does not match ca.crt would issue certificates no node accepts.
  if (!caCert.checkPrivateKey(createPrivateKey(ca.keyPem))) throw new CertError(`${keyFile} is not the key of the CA certificate (${caCert.subject}, cluster ${clusterId})`, ca.keyFile);
  return { caCert, clusterId, signingKey };
}

/** notBefore and notAfter, notBefore defaulting to an hour ago; INVALID_ARGUMENT unless notBefore < notAfter. */
function validity(o: Validity): { notBefore: Date; notAfter: Date } {
  const notBefore = o.notBefore ?? new Date(Date.now() - CLOCK_SKEW_MS);
  if (!(notBefore < o.notAfter)) throw new SluiceError('INVALID_ARGUMENT', `notBefore (${notBefore.toISOString()}) must be before notAfter (${o.notAfter.toISOString()})`);
  return { notBefore, notAfter: o.notAfter };
}

/** 128 random bits as a positive DER integer (top bit clear, first byte non-zero so it keeps its length). */
function serialNumber(): string {
  const bytes = randomBytes(16);
  bytes[0] = (bytes[0]! & 0x7f) | 0x01;
  return bytes.toString('hex');
}

const DNS_NAME = /^(\*\.)?[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$/;

/** The SAN of one HOST argument: an IP address (v4 or v6) or a DNS name (a leading `*.` allowed). */
function hostName(host: string): x509.JsonGeneralName {
  const bare = host.startsWith('[') && host.endsWith(']') ? host.slice(1, -1) : host;
  if (isIP(bare) !== 0) return { type: 'ip', value: bare };
  if (host.length <= 253 && DNS_NAME.test(host)) return { type: 'dns', value: host };
  throw new SluiceError('INVALID_ARGUMENT', `host ${JSON.stringify(host)} is neither an IP address nor a DNS name`);
}
