/**
 * The certificate of `--tls auto`: self-signed, ECDSA P-256, for the
 * node's listen and advertise host names, made at first start into
 * `<data-dir>/tls/` (the key 0600, the dir 0700) and reused after, so the
 * fingerprint clients pinned stays valid. Replacing it is deleting the
 * dir (or pointing `--tls-cert/--tls-key` elsewhere).
 */
import { X509Certificate } from 'node:crypto';
import { mkdir } from 'node:fs/promises';
import { isIP } from 'node:net';
import { hostname } from 'node:os';
import path from 'node:path';
import { TLS_AUTO_CERT_LIFETIME_MS, type NodeConfig } from '../../config.ts';
import { CertError } from '../certs/cert-error.ts';
import { exists, readText, writeCertAndKey } from '../certs/certs-dir.ts';
import type { ServerPairFiles } from './server-pair.ts';

/** Where `--tls auto` keeps its pair, under the data dir. */
export function autoCertFiles(dataDir: string): ServerPairFiles {
  const dir = path.join(dataDir, 'tls');
  return { cert: path.join(dir, 'server.crt'), key: path.join(dir, 'server.key') };
}

/** What `ensureAutoCert` found or made. */
export interface AutoCert {
  readonly files: ServerPairFiles;
  readonly created: boolean;
  /** Hosts the node listens at or advertises that the certificate does not name (a reused one, after a flag changed). */
  readonly missingHosts: readonly string[];
}

/** Makes the pair when neither file exists, reuses it when both do, and refuses half a pair. */
export async function ensureAutoCert(config: NodeConfig): Promise<AutoCert> {
  const files = autoCertFiles(config.dataDir);
  const hosts = autoCertHosts(config);
  const [certThere, keyThere] = await Promise.all([exists(files.cert), exists(files.key)]);
  if (certThere !== keyThere) {
    throw new CertError(`${certThere ? files.key : files.cert} is missing beside ${certThere ? files.cert : files.key}; remove ${path.dirname(files.cert)} to have a new pair made`, certThere ? files.key : files.cert);
  }
  if (certThere) return { files, created: false, missingHosts: await uncovered(files.cert, hosts) };
  // The data dir itself is made with the usual mode; only tls/ is private (writeNewFile makes it 0700).
  await mkdir(config.dataDir, { recursive: true });
  // Loaded here only: issuing pulls in @peculiar/x509 and a global Reflect polyfill a node with its own certificates never needs.
  const { createSelfSignedServerCert } = await import('../certs/issue.ts');
  const issued = await createSelfSignedServerCert({ commonName: `sluice node ${config.nodeId}`, hosts, notAfter: new Date(Date.now() + TLS_AUTO_CERT_LIFETIME_MS) });
  await writeCertAndKey(files.cert, files.key, issued);
  return { files, created: true, missingHosts: [] };
}

/** Names clients may dial: the advertise host, listen hosts that are not wildcards, this machine's name, and loopback. */
export function autoCertHosts(config: NodeConfig): string[] {
  const grpc = config.grpcEnabled || config.etcdUrls.length > 0 ? [config.grpcHost] : [];
  const named = [config.advertiseHost, config.httpHost, ...grpc].filter((h) => h !== '' && h !== '0.0.0.0' && h !== '::');
  const machine = /^[A-Za-z0-9]([A-Za-z0-9.-]{0,251}[A-Za-z0-9])?$/.test(hostname()) ? [hostname()] : [];
  return [...new Set([...named, ...machine, 'localhost', '127.0.0.1', '::1'])];
}

/** The hosts of `hosts` the certificate at `file` has no SAN for. */
async function uncovered(file: string, hosts: readonly string[]): Promise<string[]> {
  let cert: X509Certificate;
  try {
    cert = new X509Certificate(await readText(file, 'the TLS certificate'));
  } catch {
    // The loader reports an unreadable certificate properly; nothing to add here.
    return [];
  }
  return hosts.filter((h) => (isIP(h) === 0 ? cert.checkHost(h) : cert.checkIP(h)) === undefined);
}

