/**
 * What `sluice cert list` shows and `sluice cert check` judges: every
 * certificate in a certs dir with its SANs, role, expiry, whether its key
 * is there, matches and is private, and whether a CA in ca.crt issued it.
 * Each problem found is spelled out, so `check` can print why it failed.
 */
import { createPrivateKey, type X509Certificate } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { CertError } from './cert-error.ts';
import { CA_CERT, checkKeyFileMode } from './certs-dir.ts';
import { caClusterId, peerIdentity } from './identity.ts';
import { parseSubjectAltNames } from './subject-alt-names.ts';
import { findIssuer, parsePemCertificates } from './pem.ts';

const DAY_MS = 86_400_000;

/** One certificate of a certs dir. */
export interface CertReport {
  /** The file, with `#n` for the n-th certificate (from 1) of a bundle. */
  readonly file: string;
  readonly subject: string;
  readonly sans: readonly string[];
  readonly role: 'ca' | 'node' | 'client' | 'unknown';
  /** Node id or client name (none for a CA). */
  readonly name?: string;
  readonly clusterId?: string;
  readonly serialNumber: string;
  readonly notBefore: Date;
  readonly notAfter: Date;
  /** Whole days until notAfter (negative once expired). */
  readonly daysLeft: number;
  /** The key file looked at, when there is one to look at. */
  readonly keyFile?: string;
  /** `matches`, `mismatch`, `missing`, `unreadable`, or `not-checked` (a CA without --ca-key). */
  readonly key: 'matches' | 'mismatch' | 'missing' | 'unreadable' | 'not-checked';
  /** The CA that issued it (`ca.crt#n` for a bundle), `self` for a CA, or undefined when none in ca.crt did. */
  readonly issuedBy?: string;
  /** Why `check` fails on it; empty when it is fine. */
  readonly problems: readonly string[];
}

/** The certificates of a certs dir and the problems found. */
export interface CertsDirReport {
  readonly certs: readonly CertReport[];
  /** Every problem, of the dir and of each certificate. */
  readonly problems: readonly string[];
}

/** What to inspect against. */
export interface InspectOptions {
  /** The CA key, to check it matches ca.crt (it is kept outside the certs dir). */
  readonly caKey?: string;
  /** Fewer days left than this is a problem (default 30). */
  readonly minDays?: number;
  readonly now?: Date;
}

/** Every `*.crt` in `dir`, inspected; a CertError when the dir cannot be read. */
export async function inspectCertsDir(dir: string, options: InspectOptions = {}): Promise<CertsDirReport> {
  const now = options.now ?? new Date();
  const minDays = options.minDays ?? 30;
  let names: string[];
  try {
    names = (await readdir(dir)).filter((n) => n.endsWith('.crt'));
  } catch (err) {
    throw new CertError(`cannot read the certs dir ${dir}: ${(err as Error).message}`, dir, { cause: err });
  }
  // ca.crt first: the others are checked against it.
  names.sort((a, b) => (a === CA_CERT ? -1 : b === CA_CERT ? 1 : a.localeCompare(b)));
  const dirProblems: string[] = [];
  if (names.length === 0) dirProblems.push(`${dir} holds no certificates (*.crt)`);
  const cas: { label: string; cert: X509Certificate }[] = [];
  if (!names.includes(CA_CERT)) dirProblems.push(`${dir} has no ${CA_CERT}: nothing can be verified`);

  const certs: CertReport[] = [];
  for (const name of names) {
    const file = path.join(dir, name);
    let parsed: X509Certificate[];
    try {
      parsed = parsePemCertificates(await readFile(file, 'utf8'));
      if (parsed.length === 0) throw new Error('no PEM certificate in it');
    } catch (err) {
      dirProblems.push(`${name} does not parse: ${(err as Error).message}`);
      continue;
    }
    for (const [i, cert] of parsed.entries()) {
      const label = parsed.length > 1 ? `${name}#${i + 1}` : name;
      if (name === CA_CERT) cas.push({ label, cert });
      // A bundle's later certificates are chain or CA extras whose keys are not here.
      const keyFile = name === CA_CERT ? options.caKey : i === 0 ? path.join(dir, name.replace(/\.crt$/, '.key')) : undefined;
      certs.push(await inspectOne(label, cert, keyFile, name === CA_CERT, cas, now, minDays));
    }
  }
  return { certs, problems: [...dirProblems, ...certs.flatMap((c) => c.problems.map((p) => `${c.file}: ${p}`))] };
}

async function inspectOne(
  label: string,
  cert: X509Certificate,
  keyFile: string | undefined,
  inCaFile: boolean,
  cas: readonly { label: string; cert: X509Certificate }[],
  now: Date,
  minDays: number,
): Promise<CertReport> {
  const problems: string[] = [];
  const identity = peerIdentity(cert);
  const caCluster = caClusterId(cert);
  const role = caCluster !== undefined ? 'ca' : identity?.role ?? 'unknown';
  if (role === 'unknown') problems.push('not a sluice CA, node or client certificate (no single sluice:// SAN URI with a matching EKU)');
  if (inCaFile && role !== 'ca') problems.push(`${CA_CERT} holds a certificate that is not a sluice CA`);

  const daysLeft = Math.floor((cert.validToDate.getTime() - now.getTime()) / DAY_MS);
  if (now > cert.validToDate) problems.push(`expired on ${cert.validToDate.toISOString()}`);
  else if (cert.validToDate.getTime() - now.getTime() < minDays * DAY_MS) problems.push(`expires in ${daysLeft} days (${cert.validToDate.toISOString()}), under ${minDays}`);
  if (now < cert.validFromDate) problems.push(`not valid before ${cert.validFromDate.toISOString()}`);

  let issuedBy: string | undefined;
  if (role === 'ca') {
    issuedBy = cert.checkIssued(cert) && cert.verify(cert.publicKey) ? 'self' : undefined;
    if (issuedBy === undefined) problems.push('a CA that is not self-signed: sluice CAs are roots');
  } else {
    const issuer = findIssuer(cert, cas.map((c) => c.cert));
    issuedBy = cas.find((c) => c.cert === issuer)?.label;
    if (issuer === undefined) problems.push(`chain broken: not issued by a CA in ${CA_CERT} (its issuer is ${cert.issuer})`);
    else if (identity !== undefined && caClusterId(issuer) !== identity.clusterId) problems.push(`for cluster ${identity.clusterId} but issued by the CA of cluster ${caClusterId(issuer)}`);
  }

  const key = keyFile === undefined ? 'not-checked' : await keyState(cert, keyFile, problems);
  const clusterId = identity?.clusterId ?? caCluster;
  return {
    file: label,
    subject: cert.subject.replaceAll('\n', ', '),
    sans: parseSubjectAltNames(cert.subjectAltName).map((n) => `${n.type}:${n.value}`),
    role,
    ...(identity === undefined ? {} : { name: identity.name }),
    ...(clusterId === undefined ? {} : { clusterId }),
    serialNumber: cert.serialNumber,
    notBefore: cert.validFromDate,
    notAfter: cert.validToDate,
    daysLeft,
    ...(keyFile === undefined ? {} : { keyFile }),
    key,
    ...(issuedBy === undefined ? {} : { issuedBy }),
    problems,
  };
}

async function keyState(cert: X509Certificate, keyFile: string, problems: string[]): Promise<CertReport['key']> {
  let pem: string;
  try {
    pem = await readFile(keyFile, 'utf8');
  } catch (err) {
    const missing = (err as NodeJS.ErrnoException).code === 'ENOENT';
    problems.push(missing ? `its key ${keyFile} is missing` : `its key ${keyFile} cannot be read: ${(err as Error).message}`);
    return missing ? 'missing' : 'unreadable';
  }
  try {
    await checkKeyFileMode(keyFile);
  } catch (err) {
    problems.push((err as Error).message);
  }
  try {
    if (cert.checkPrivateKey(createPrivateKey(pem))) return 'matches';
  } catch (err) {
    problems.push(`its key ${keyFile} does not parse: ${(err as Error).message}`);
    return 'unreadable';
  }
  problems.push(`its key ${keyFile} does not match it`);
  return 'mismatch';
}
