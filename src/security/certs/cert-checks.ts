/**
 * Checks shared by every certificate loader (the cluster's node pairs and
 * the public listeners' pairs): a parse that names its file, and the
 * validity dates against a clock.
 */
import type { X509Certificate } from 'node:crypto';
import { CertError } from './cert-error.ts';

/** Runs `fn` (a parse of `file`'s content); a failure is a CertError naming the file. */
export function parse<T>(file: string, fn: () => T): T {
  try {
    return fn();
  } catch (err) {
    throw new CertError(`${file} does not parse: ${(err as Error).message}`, file, { cause: err });
  }
}

/** Throws unless `cert` (read from `file`) is valid at `now`. */
export function checkDates(file: string, cert: X509Certificate, now: Date): void {
  if (now < cert.validFromDate) throw new CertError(`${file} (${oneLine(cert.subject)}) is not valid before ${cert.validFromDate.toISOString()} (is this clock behind?)`, file);
  if (now > cert.validToDate) throw new CertError(`${file} (${oneLine(cert.subject)}) expired on ${cert.validToDate.toISOString()}`, file);
}

/** A distinguished name on one line. */
export function oneLine(dn: string): string {
  return dn.replaceAll('\n', ', ');
}
