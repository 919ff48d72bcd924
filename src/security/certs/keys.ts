/**
 * Key pairs of the cluster's certificates: ECDSA P-256 (small, fast, what
 * every TLS stack speaks), made with WebCrypto and stored as PKCS#8 PEM.
 */
import { createPrivateKey, webcrypto } from 'node:crypto';
import { CertError } from './cert-error.ts';

/** The key algorithm of every sluice certificate. */
export const KEY_ALGORITHM = { name: 'ECDSA', namedCurve: 'P-256' } as const;
/** The signature algorithm the CA signs with. */
export const SIGNING_ALGORITHM = { name: 'ECDSA', hash: 'SHA-256' } as const;

/** A fresh P-256 key pair; the private key is extractable so it can be written out. */
export async function generateKeyPair(): Promise<webcrypto.CryptoKeyPair> {
  return webcrypto.subtle.generateKey(KEY_ALGORITHM, true, ['sign', 'verify']);
}

/** The private key as PKCS#8 PEM (`-----BEGIN PRIVATE KEY-----`). */
export async function privateKeyToPem(key: webcrypto.CryptoKey): Promise<string> {
  const der = Buffer.from(await webcrypto.subtle.exportKey('pkcs8', key));
  return createPrivateKey({ key: der, format: 'der', type: 'pkcs8' }).export({ format: 'pem', type: 'pkcs8' }).toString();
}

/** A P-256 signing key from PEM (PKCS#8 or SEC1); a CertError naming `file` when it is not one. */
export function signingKeyFromPem(pem: string, file: string): webcrypto.CryptoKey {
  let key;
  try {
    key = createPrivateKey(pem);
  } catch (err) {
    throw new CertError(`${file} is not a PEM private key: ${(err as Error).message}`, file, { cause: err });
  }
  if (key.asymmetricKeyType !== 'ec' || key.asymmetricKeyDetails?.namedCurve !== 'prime256v1') {
    throw new CertError(`${file} is a ${key.asymmetricKeyType ?? 'unknown'} key; sluice certificates use ECDSA P-256`, file);
  }
  return key.toCryptoKey(KEY_ALGORITHM, false, ['sign']);
}
