/**
 * A secured etcd for tests, set up the way docs/operations.md tells
 * operators to: client TLS with `--client-cert-auth` (certificates made by
 * sluice's own certificate library), then a root user and role, a role
 * with readwrite on the cluster's prefix, a user in it, and `auth enable`
 * last (enabling auth first would lock the test out).
 */
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { Etcd3 } from 'etcd3';
import { createCa, createClientCert, createNodeCert, type IssuedCert } from '../../src/security/certs/issue.ts';
import { EtcdProcess, type EtcdTlsFiles } from './etcd.ts';

type Owner = { after: (fn: () => Promise<void> | void) => void };

/** A client's TLS files (PEM paths). */
export interface ClientTlsFiles {
  readonly ca: string;
  readonly cert: string;
  readonly key: string;
}

/** Certificates for etcd and its clients, written to a directory. */
export interface EtcdCerts {
  /** etcd's CA, server pair and client-cert requirement. */
  readonly server: EtcdTlsFiles;
  /** A client certificate of etcd's CA. */
  readonly client: ClientTlsFiles;
  /** Another CA (`ca`) and a client certificate it issued: etcd refuses the certificate, and does not chain to the CA. */
  readonly foreign: ClientTlsFiles;
}

const DAY_MS = 86_400_000;

/** Writes a CA, etcd's server pair (127.0.0.1, localhost), a client pair, and another CA with a client pair, into `dir`; keys 0600. */
export async function makeEtcdCerts(dir: string): Promise<EtcdCerts> {
  const notAfter = new Date(Date.now() + DAY_MS);
  const ca = await createCa({ clusterId: 'etcd-test', notAfter });
  const signer = { certPem: ca.certPem, keyPem: ca.keyPem };
  const server = await createNodeCert(signer, { nodeId: 'etcd', hosts: ['127.0.0.1', 'localhost'], notAfter });
  const client = await createClientCert(signer, { name: 'sluice', notAfter });
  const otherCa = await createCa({ clusterId: 'other', notAfter });
  const foreign = await createClientCert({ certPem: otherCa.certPem, keyPem: otherCa.keyPem }, { name: 'sluice', notAfter });
  const caFile = path.join(dir, 'ca.crt');
  await writeFile(caFile, ca.certPem, { mode: 0o644 });
  const otherCaFile = path.join(dir, 'other-ca.crt');
  await writeFile(otherCaFile, otherCa.certPem, { mode: 0o644 });
  const serverFiles = await writePair(dir, 'server', server);
  const clientFiles = await writePair(dir, 'client', client);
  const foreignFiles = await writePair(dir, 'foreign', foreign);
  return { server: { ca: caFile, ...serverFiles }, client: { ca: caFile, ...clientFiles }, foreign: { ca: otherCaFile, ...foreignFiles } };
}

async function writePair(dir: string, name: string, issued: IssuedCert): Promise<{ cert: string; key: string }> {
  const cert = path.join(dir, `${name}.crt`);
  const key = path.join(dir, `${name}.key`);
  await writeFile(cert, issued.certPem, { mode: 0o644 });
  await writeFile(key, issued.keyPem, { mode: 0o600 });
  return { cert, key };
}

/** The users and prefix RBAC is set up with. */
export interface EtcdAccess {
  readonly rootPassword: string;
  /** The user sluice connects as, with readwrite on `prefixes` through role `role`. */
  readonly user: string;
  readonly password: string;
  readonly role: string;
  /** The cluster's prefix, then the election's keys (`election/<prefix>election/`, where etcd3 puts them). */
  readonly prefixes: readonly string[];
}

/** An etcd3 client of `etcd` with a client certificate and, when given, a user. */
export async function etcdClient(etcd: EtcdProcess, tls: ClientTlsFiles, auth?: { username: string; password: string }): Promise<Etcd3> {
  return new Etcd3({
    hosts: [etcd.clientUrl],
    credentials: { rootCertificate: await readFile(tls.ca), certChain: await readFile(tls.cert), privateKey: await readFile(tls.key) },
    ...(auth === undefined ? {} : { auth }),
    dialTimeout: 5_000,
  });
}

/** Creates root (user and role), the role and user of `access`, then enables auth. */
export async function enableEtcdAuth(etcd: EtcdProcess, tls: ClientTlsFiles, access: EtcdAccess): Promise<void> {
  const admin = await etcdClient(etcd, tls);
  try {
    // etcdctl's "auth enable" makes the root role itself; the API wants it made first.
    await admin.role('root').create();
    await admin.user('root').create(access.rootPassword);
    await admin.user('root').addRole('root');
    await addUser(admin, access.user, access.password, access.role, access.prefixes);
    await admin.auth.authEnable();
  } finally {
    admin.close();
  }
}

/** Creates `role` with readwrite on `prefixes`, and `user` with `password` in it; `admin` is root (or any client before auth is on). */
export async function addUser(admin: Etcd3, user: string, password: string, role: string, prefixes: readonly string[]): Promise<void> {
  const made = await admin.role(role).create();
  for (const prefix of prefixes) await made.grant({ permission: 'Readwrite', range: admin.range({ prefix }) });
  await admin.user(user).create(password);
  await admin.user(user).addRole(role);
}

/** Starts etcd with HTTPS and client-certificate auth, RBAC enabled as `access` says; stopped when the owner ends. */
export async function startSecureEtcd(owner: Owner, certs: EtcdCerts, access: EtcdAccess): Promise<EtcdProcess> {
  const etcd = await EtcdProcess.start(owner, { tls: certs.server });
  await enableEtcdAuth(etcd, certs.client, access);
  return etcd;
}
