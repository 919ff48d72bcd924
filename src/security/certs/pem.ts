/**
 * PEM certificate files holding several certificates: ca.crt becomes a
 * bundle during a CA rotation (append the new CA, reissue, drop the old).
 */
import { X509Certificate } from 'node:crypto';

const BLOCK = /-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/g;

/** Each certificate of a PEM file, in file order; a file with none gives []. */
export function splitPemCertificates(text: string): string[] {
  return [...text.matchAll(BLOCK)].map((m) => `${m[0]}\n`);
}

/** The parsed certificates of a PEM file; throws when a block does not parse. */
export function parsePemCertificates(text: string): X509Certificate[] {
  return splitPemCertificates(text).map((pem) => new X509Certificate(pem));
}

/** The certificate in `cas` that issued and signed `cert`, if any. */
export function findIssuer(cert: X509Certificate, cas: readonly X509Certificate[]): X509Certificate | undefined {
  // checkIssued compares names and key ids; verify checks the signature itself.
  return cas.find((ca) => ca.ca && cert.checkIssued(ca) && cert.verify(ca.publicKey));
}
