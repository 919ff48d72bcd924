/**
 * Reading the files that hold outbound credentials (an etcd or Kafka
 * password, a client key, a CA). Secrets come from files, never flags:
 * a command line is visible to every user of the machine (`ps`), and a
 * secret file open to group or others is refused like a private key,
 * with the same chmod hint. Errors are INVALID_ARGUMENT naming the flag,
 * so `sluice serve` exits 2 with what to fix.
 */
import { X509Certificate, createPrivateKey } from 'node:crypto';
import { readFile, stat } from 'node:fs/promises';
import { SluiceError } from '../core/errors.ts';
import { parsePemCertificates } from './certs/pem.ts';

/** The trimmed text of a secret file (a password); refused when empty or open to group or others. */
export async function readSecretFile(file: string, flag: string): Promise<string> {
  await checkSecretMode(file, flag);
  const text = (await readOrThrow(file, flag)).toString('utf8').trim();
  if (text === '') throw new SluiceError('INVALID_ARGUMENT', `${flag} ${file} is empty`);
  return text;
}

/** CA certificates (PEM) to trust; refused when the file holds none or one does not parse. */
export async function readCaFile(file: string, flag: string): Promise<Buffer> {
  const pem = await readOrThrow(file, flag);
  let count: number;
  try {
    count = parsePemCertificates(pem.toString('utf8')).length;
  } catch (err) {
    throw new SluiceError('INVALID_ARGUMENT', `${flag} ${file} does not parse as PEM certificates: ${(err as Error).message}`, [], { cause: err });
  }
  if (count === 0) throw new SluiceError('INVALID_ARGUMENT', `${flag} ${file} holds no PEM certificate`);
  return pem;
}

/** A client certificate and its key (PEM), checked to belong together, be in date, and the key to be private. */
export async function readClientPair(certFile: string, keyFile: string, flags: { cert: string; key: string }): Promise<{ cert: Buffer; key: Buffer }> {
  const cert = await readOrThrow(certFile, flags.cert);
  await checkSecretMode(keyFile, flags.key);
  const key = await readOrThrow(keyFile, flags.key);
  let x509: X509Certificate;
  try {
    x509 = new X509Certificate(cert);
  } catch (err) {
    throw new SluiceError('INVALID_ARGUMENT', `${flags.cert} ${certFile} does not parse as a PEM certificate: ${(err as Error).message}`, [], { cause: err });
  }
  let matches: boolean;
  try {
    matches = x509.checkPrivateKey(createPrivateKey(key));
  } catch (err) {
    throw new SluiceError('INVALID_ARGUMENT', `${flags.key} ${keyFile} is not a PEM private key: ${(err as Error).message}`, [], { cause: err });
  }
  if (!matches) throw new SluiceError('INVALID_ARGUMENT', `${flags.key} ${keyFile} is not the key of ${flags.cert} ${certFile} (${x509.subject})`);
  // The server would only answer "bad certificate"; the date says why.
  if (x509.validToDate < new Date()) throw new SluiceError('INVALID_ARGUMENT', `${flags.cert} ${certFile} (${x509.subject}) expired on ${x509.validToDate.toISOString()}`);
  return { cert, key };
}

/** Mode bits that open a file to group or others. */
const NOT_OWNER = 0o077;

/** Refuses a secret file open to group or others (Windows has no such bits to check). */
async function checkSecretMode(file: string, flag: string): Promise<void> {
  if (process.platform === 'win32') return;
  let mode: number;
  try {
    mode = (await stat(file)).mode & 0o777;
  } catch (err) {
    throw new SluiceError('INVALID_ARGUMENT', `cannot read ${flag} ${file}: ${(err as Error).message}`, [], { cause: err });
  }
  if ((mode & NOT_OWNER) !== 0) {
    throw new SluiceError('INVALID_ARGUMENT', `${flag} ${file} is readable by group or others (mode ${mode.toString(8).padStart(4, '0')}); it holds a secret, so only its owner may read it: chmod 600 ${file}`);
  }
}

async function readOrThrow(file: string, flag: string): Promise<Buffer> {
  try {
    return await readFile(file);
  } catch (err) {
    throw new SluiceError('INVALID_ARGUMENT', `cannot read ${flag} ${file}: ${(err as Error).message}`, [], { cause: err });
  }
}
