/**
 * A public listener's certificate and key, read and validated the way a
 * listener must before serving with them, at start and on each reload
 * (where a bad pair means keeping the last good one). Unlike the node
 * certificates of load-cert-pair.ts, any CA may have issued it (a public
 * CA, a company CA, or the node itself for `--tls auto`): clients judge
 * the chain, the node judges only what it can get wrong by itself.
 */
import { createPrivateKey } from 'node:crypto';
import { createSecureContext } from 'node:tls';
import { TLS_MIN_VERSION } from '../../config.ts';
import { CertError } from '../certs/cert-error.ts';
import { checkDates, oneLine, parse } from '../certs/cert-checks.ts';
import { checkKeyFileMode, readText } from '../certs/certs-dir.ts';
import { parsePemCertificates } from '../certs/pem.ts';

/** Paths of a certificate (its chain may follow it in the file) and its key. */
export interface ServerPairFiles {
  readonly cert: string;
  readonly key: string;
}

/** A validated pair, ready for `setSecureContext` or a gRPC certificate provider. */
export interface ServerPair {
  /** PEM: the leaf, then any chain the file holds. */
  readonly cert: string;
  readonly key: string;
  readonly subject: string;
  /** Node's subjectAltName text (`DNS:a, IP Address:1.2.3.4`). */
  readonly subjectAltName: string;
  readonly serialNumber: string;
  /** SHA-256 of the leaf's DER, colon-separated hex (what browsers and `openssl x509 -fingerprint -sha256` show). */
  readonly fingerprint256: string;
  readonly notAfter: Date;
}

/**
 * The pair at `files`, validated: both parse, the key is private to its
 * owner and is the certificate's, the certificate is within its dates, and
 * a TLS context takes them. A CertError saying what is wrong otherwise.
 */
export async function loadServerPair(files: ServerPairFiles, now: Date = new Date()): Promise<ServerPair> {
  const certPem = await readText(files.cert, 'the TLS certificate');
  const keyPem = await readText(files.key, 'the TLS key');
  await checkKeyFileMode(files.key);
  const leaf = parse(files.cert, () => parsePemCertificates(certPem)[0]);
  if (leaf === undefined) throw new CertError(`${files.cert} holds no PEM certificate`, files.cert);
  const key = parse(files.key, () => createPrivateKey(keyPem));
  if (!leaf.checkPrivateKey(key)) throw new CertError(`${files.key} is not the key of ${files.cert} (${oneLine(leaf.subject)})`, files.key);
  checkDates(files.cert, leaf, now);
  // What the listener will do with the pair, done here: a pair it would refuse is refused before any listener sees it.
  parse(files.cert, () => createSecureContext({ cert: certPem, key: keyPem, minVersion: TLS_MIN_VERSION }));
  return {
    cert: certPem,
    key: keyPem,
    subject: oneLine(leaf.subject),
    subjectAltName: leaf.subjectAltName ?? '',
    serialNumber: leaf.serialNumber,
    fingerprint256: leaf.fingerprint256,
    notAfter: leaf.validToDate,
  };
}



