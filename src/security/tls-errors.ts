/**
 * Telling a certificate that does not verify from other TLS failures, by
 * the codes node:tls (OpenSSL's X509 verify results, Node's host check)
 * gives them, so a message can point at the CA flag.
 */

/** Node's codes for a peer certificate that does not verify (untrusted issuer, expired, wrong host). */
const UNTRUSTED = /^(UNABLE_TO_|SELF_SIGNED_CERT|DEPTH_ZERO_SELF_SIGNED|CERT_|ERR_TLS_CERT_ALTNAME_INVALID|HOSTNAME_MISMATCH)/;

/** True when `code` (an error's `code`) says the peer's certificate did not verify. */
export function isCertificateVerifyError(code: string | undefined): boolean {
  return code !== undefined && UNTRUSTED.test(code);
}
