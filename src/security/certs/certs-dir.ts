/**
 * The layout of a certs dir and the safe handling of its files. A node's
 * dir holds `ca.crt`, `node.crt` and `node.key`; a client's holds `ca.crt`
 * and `client.<name>.crt`/`.key`. The CA key lives elsewhere (`--ca-key`),
 * so a node's dir never holds what mints certificates. Files are created
 * exclusively (never overwritten: a lost key cannot be regenerated, and a
 * replaced CA cuts off every node) and keys with mode 0600.
 */
import { constants } from 'node:fs';
import { mkdir, open, readFile, stat, unlink } from 'node:fs/promises';
import path from 'node:path';
import { CertError } from './cert-error.ts';
import type { IssuedCert, SigningCa } from './issue.ts';
import { checkName } from './identity.ts';

/** The CA certificate (or a bundle of CAs during a rotation) every certs dir holds. */
export const CA_CERT = 'ca.crt';
/** This node's certificate. */
export const NODE_CERT = 'node.crt';
/** This node's private key. */
export const NODE_KEY = 'node.key';

/** File names of client `name`'s certificate and key. */
export function clientFiles(name: string): { cert: string; key: string } {
  checkName(name, 'client name');
  return { cert: `client.${name}.crt`, key: `client.${name}.key` };
}

/** Paths of the CA certificate, node certificate and node key in `dir`. */
export function nodeFiles(dir: string): { ca: string; cert: string; key: string } {
  return { ca: path.join(dir, CA_CERT), cert: path.join(dir, NODE_CERT), key: path.join(dir, NODE_KEY) };
}

/** Mode bits that make a key readable (or writable) by group or others. */
const NOT_OWNER = 0o077;

/** Throws a CertError when the key at `file` is open to group or others (mode & 0o077); Windows has no such bits to check. */
export async function checkKeyFileMode(file: string): Promise<void> {
  if (process.platform === 'win32') return;
  let mode: number;
  try {
    mode = (await stat(file)).mode & 0o777;
  } catch (err) {
    throw new CertError(`cannot read the key ${file}: ${(err as Error).message}`, file, { cause: err });
  }
  if ((mode & NOT_OWNER) !== 0) {
    throw new CertError(`${file} is readable by group or others (mode ${mode.toString(8).padStart(4, '0')}); a private key must be 0600: run chmod 600 ${file}`, file);
  }
}

/** Throws a CertError when any of `files` exists (checked before generating anything, so a refusal leaves nothing behind). */
export async function refuseExisting(...files: string[]): Promise<void> {
  for (const file of files) {
    if (await exists(file)) throw new CertError(`${file} exists; refusing to overwrite it (move it away first)`, file);
  }
}

/** Writes `data` to a new file `file` with `mode`, creating its directory; a CertError if the file exists. */
export async function writeNewFile(file: string, data: string, mode: number): Promise<void> {
  // Directories of keys are private too: 0700 when we create them (an existing one is left as it is).
  await mkdir(path.dirname(file), { recursive: true, mode: 0o700 });
  let handle;
  try {
    // O_EXCL: never replace a file, even one created since refuseExisting looked.
    handle = await open(file, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL, mode);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') throw new CertError(`${file} exists; refusing to overwrite it (move it away first)`, file, { cause: err });
    throw err;
  }
  try {
    await handle.writeFile(data);
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/** Writes a certificate (0644) and its key (0600) as new files; if the second write fails the first is removed. */
export async function writeCertAndKey(certFile: string, keyFile: string, issued: IssuedCert): Promise<void> {
  await refuseExisting(certFile, keyFile);
  await writeNewFile(keyFile, issued.keyPem, 0o600);
  try {
    await writeNewFile(certFile, issued.certPem, 0o644);
  } catch (err) {
    await unlink(keyFile).catch(() => undefined);
    throw err;
  }
}

/** Reads the signing CA: the certificate at `certFile` and the key at `keyFile`, which must be 0600. */
export async function readSigningCa(certFile: string, keyFile: string): Promise<SigningCa> {
  const certPem = await readText(certFile, 'the CA certificate');
  const keyPem = await readText(keyFile, 'the CA key');
  await checkKeyFileMode(keyFile);
  return { certPem, keyPem, keyFile };
}

/**
 * Makes `dir/ca.crt` hold `caPem`: copies it there when absent (so each
 * node's or client's dir is complete on its own), accepts an identical one,
 * and refuses a different one (certificates of two CAs in one dir do not chain).
 */
export async function installCaCert(dir: string, caPem: string): Promise<'copied' | 'present'> {
  const target = path.join(dir, CA_CERT);
  if (await exists(target)) {
    if ((await readFile(target, 'utf8')).trim() !== caPem.trim()) {
      throw new CertError(`${target} holds a different CA than the one signing; use another --certs-dir, or remove it first`, target);
    }
    return 'present';
  }
  await writeNewFile(target, caPem, 0o644);
  return 'copied';
}

/** The text of `file`; a CertError naming `what` when it cannot be read. */
export async function readText(file: string, what: string): Promise<string> {
  try {
    return await readFile(file, 'utf8');
  } catch (err) {
    throw new CertError(`cannot read ${what} ${file}: ${(err as Error).message}`, file, { cause: err });
  }
}

/** True when `file` exists (other errors than ENOENT are thrown). */
export async function exists(file: string): Promise<boolean> {
  try {
    await stat(file);
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw err;
  }
}
