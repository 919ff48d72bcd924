/**
 * The CA the CLI trusts for https:// node URLs besides the system's:
 * `--ca-cert FILE` or `$SLUICE_CA_CERT` (a node's `--tls auto`
 * certificate, or a private CA, PEM; several certificates may follow one
 * another). Node's fetch takes no CA per request, so the file is added to
 * the process's default CA list, which every TLS client of the process
 * (fetch included) uses unless given its own.
 */
import { readFileSync } from 'node:fs';
import tls from 'node:tls';
import { parsePemCertificates, splitPemCertificates } from '../security/certs/pem.ts';
import { CliError } from './cli-error.ts';

/** Adds the certificates of `--ca-cert` (or `$SLUICE_CA_CERT`) to the CAs this process trusts; nothing when neither is set. */
export function trustCaCert(flag: string | undefined): void {
  const env = process.env['SLUICE_CA_CERT'];
  const file = flag ?? (env === undefined || env === '' ? undefined : env);
  if (file === undefined) return;
  const what = flag === undefined ? '$SLUICE_CA_CERT' : '--ca-cert';
  let pems: string[];
  try {
    const text = readFileSync(file, 'utf8');
    parsePemCertificates(text);
    pems = splitPemCertificates(text);
  } catch (err) {
    throw new CliError(`cannot use ${what} ${file}: ${(err as Error).message}`, 2);
  }
  if (pems.length === 0) throw new CliError(`${what} ${file} holds no PEM certificate`, 2);
  // Node 24.5 added it; package.json brings 24.21, but `sluice` may run on an older Node 24 found on the PATH.
  if (typeof tls.setDefaultCACertificates !== 'function') throw new CliError(`${what} needs Node 24.5 or later (this is ${process.version})`, 2);
  tls.setDefaultCACertificates([...tls.getCACertificates('default'), ...pems]);
}
