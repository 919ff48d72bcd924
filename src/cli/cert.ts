/**
 * `sluice cert create-ca|create-node|create-client|list|check`: the
 * cluster's certificates, like `cockroach cert`. The CA key is kept apart
 * (`--ca-key`), never in a node's certs dir.
 *
 * Several nodes: each node gets its own certs dir, complete on its own
 * (`ca.crt`, `node.crt`, `node.key`), so it can be copied to the node as
 * it is and `--certs-dir` always means the same three files:
 *
 *   sluice cert create-ca   --certs-dir certs --ca-key safe/ca.key
 *   sluice cert create-node n1 10.0.0.1 n1.example --certs-dir certs/n1 --ca-cert certs/ca.crt --ca-key safe/ca.key
 *   sluice cert create-node n2 10.0.0.2 n2.example --certs-dir certs/n2 --ca-cert certs/ca.crt --ca-key safe/ca.key
 *
 * `--ca-cert` (default `<certs-dir>/ca.crt`) is copied into the certs dir
 * when it is not there yet.
 */
import { existsSync } from 'node:fs';
import path from 'node:path';
import { unlink } from 'node:fs/promises';
import { Command } from 'commander';
import { isSluiceError } from '../core/errors.ts';
import { CertError } from '../security/certs/cert-error.ts';
import { CA_CERT, NODE_CERT, NODE_KEY, clientFiles, installCaCert, readSigningCa, refuseExisting, writeCertAndKey, writeNewFile } from '../security/certs/certs-dir.ts';
import { checkName } from '../security/certs/identity.ts';
import { inspectCertsDir, type CertReport } from '../security/certs/inspect.ts';
import { parseLifetime } from '../security/certs/lifetime.ts';
import type { IssuedCert } from '../security/certs/issue.ts';
import { CliError } from './cli-error.ts';
import { intOption } from './int-option.ts';

interface SignOptions {
  certsDir: string;
  caKey: string;
  caCert?: string;
  lifetime: string;
}

/** The cert command group. */
export function certCommand(): Command {
  const cert = new Command('cert')
    .description('create and inspect the cluster CA, node and client certificates (ECDSA P-256)')
    .addHelpText(
      'after',
      `
One certs dir per node, each complete on its own (ca.crt, node.crt, node.key):
  sluice cert create-ca   --certs-dir certs --ca-key safe/ca.key --cluster-id prod
  sluice cert create-node n1 10.0.0.1 n1.example --certs-dir certs/n1 --ca-cert certs/ca.crt --ca-key safe/ca.key
  sluice cert create-node n2 10.0.0.2 n2.example --certs-dir certs/n2 --ca-cert certs/ca.crt --ca-key safe/ca.key
  sluice cert check       --certs-dir certs/n1`,
    );
  cert
    .command('create-ca')
    .description('create the cluster CA: <certs-dir>/ca.crt and the CA key at --ca-key (0600); existing files are never overwritten')
    .requiredOption('--certs-dir <dir>', 'directory to write ca.crt to')
    .requiredOption('--ca-key <file>', 'where to write the CA private key: keep it off the nodes, it signs every certificate')
    .option('--cluster-id <id>', 'cluster id, recorded in the CA and in every certificate it signs', 'sluice')
    .option('--lifetime <duration>', 'how long the CA is valid: 10y, 365d, 12h', '10y')
    .action((o: { certsDir: string; caKey: string; clusterId: string; lifetime: string }) => cliErrors(() => createCa(o)));
  cert
    .command('create-node')
    .description('create <certs-dir>/node.crt and node.key (0600) for node NODE_ID, reachable at each HOST (DNS name or IP); one certs dir per node')
    .argument('<node-id>', 'the node id (its --node-id)')
    .argument('<host...>', 'DNS names and IP addresses other nodes and clients dial this node at')
    .requiredOption('--certs-dir <dir>', "this node's certs dir (ca.crt is copied there from --ca-cert when missing)")
    .requiredOption('--ca-key <file>', 'the CA private key')
    .option('--ca-cert <file>', 'the CA certificate (default: <certs-dir>/ca.crt)')
    .option('--lifetime <duration>', 'how long the certificate is valid (at most until the CA expires)', '1y')
    .action((nodeId: string, hosts: string[], o: SignOptions) => cliErrors(() => createLeaf(o, 'node', nodeId, hosts)));
  cert
    .command('create-client')
    .description('create <certs-dir>/client.<name>.crt and .key (0600) for client NAME (EKU clientAuth only)')
    .argument('<name>', 'client name')
    .requiredOption('--certs-dir <dir>', "the client's certs dir (ca.crt is copied there from --ca-cert when missing)")
    .requiredOption('--ca-key <file>', 'the CA private key')
    .option('--ca-cert <file>', 'the CA certificate (default: <certs-dir>/ca.crt)')
    .option('--lifetime <duration>', 'how long the certificate is valid (at most until the CA expires)', '90d')
    .action((name: string, o: SignOptions) => cliErrors(() => createLeaf(o, 'client', name, [])));
  cert
    .command('list')
    .description('print each certificate of a certs dir: subject, SANs, role, expiry, days left, whether its key matches')
    .requiredOption('--certs-dir <dir>', 'certs dir')
    .option('--ca-key <file>', 'also check that this CA key matches ca.crt')
    .option('--json', 'print JSON')
    .action((o: { certsDir: string; caKey?: string; json?: boolean }) =>
      cliErrors(async () => {
        const report = await inspectCertsDir(o.certsDir, o.caKey === undefined ? {} : { caKey: o.caKey });
        if (o.json === true) process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
        else for (const c of report.certs) process.stdout.write(describe(c));
      }),
    );
  cert
    .command('check')
    .description('exit 1 when a certificate has fewer than --min-days left, a key is missing, open or does not match, or a chain is broken; 0 otherwise')
    .requiredOption('--certs-dir <dir>', 'certs dir')
    .option('--ca-key <file>', 'also check that this CA key matches ca.crt')
    .option('--min-days <days>', 'fewer days left than this fails the check', '30')
    .action((o: { certsDir: string; caKey?: string; minDays: string }) =>
      cliErrors(async () => {
        const minDays = intOption(o.minDays, '--min-days', 0, 36_500);
        const report = await inspectCertsDir(o.certsDir, { minDays, ...(o.caKey === undefined ? {} : { caKey: o.caKey }) });
        for (const p of report.problems) process.stdout.write(`FAIL ${p}\n`);
        if (report.problems.length > 0) throw new CliError(`${o.certsDir}: ${report.problems.length} problem(s)`, 1);
        const first = [...report.certs].sort((a, b) => a.notAfter.getTime() - b.notAfter.getTime())[0];
        process.stdout.write(`ok: ${report.certs.length} certificate(s)${first === undefined ? '' : `; the first to expire is ${first.file} in ${first.daysLeft} days`}\n`);
      }),
    );
  return cert;
}

async function createCa(o: { certsDir: string; caKey: string; clusterId: string; lifetime: string }): Promise<void> {
  checkName(o.clusterId, '--cluster-id');
  const notAfter = new Date(Date.now() + parseLifetime(o.lifetime));
  const caCert = path.join(o.certsDir, CA_CERT);
  await refuseExisting(caCert, o.caKey);
  const { createCa: issueCa } = await loadIssuing();
  const ca = await issueCa({ clusterId: o.clusterId, notAfter });
  await writeNewFile(o.caKey, ca.keyPem, 0o600);
  try {
    await writeNewFile(caCert, ca.certPem, 0o644);
  } catch (err) {
    await unlink(o.caKey).catch(() => undefined);
    throw err;
  }
  process.stdout.write(`wrote ${caCert}: CA of cluster ${o.clusterId}, valid until ${ca.notAfter.toISOString()}\n`);
  process.stdout.write(`wrote ${o.caKey} (0600): keep it off the nodes; whoever holds it can mint node certificates\n`);
  if (path.resolve(path.dirname(o.caKey)) === path.resolve(o.certsDir)) {
    process.stderr.write(`warning: the CA key is in the certs dir ${o.certsDir}; do not copy that dir to nodes as it is\n`);
  }
}

async function createLeaf(o: SignOptions, role: 'node' | 'client', name: string, hosts: readonly string[]): Promise<void> {
  checkName(name, role === 'node' ? 'NODE_ID' : 'NAME');
  const lifetimeMs = parseLifetime(o.lifetime);
  const files = role === 'node' ? { cert: NODE_CERT, key: NODE_KEY } : clientFiles(name);
  const certFile = path.join(o.certsDir, files.cert);
  const keyFile = path.join(o.certsDir, files.key);
  const caCertFile = o.caCert ?? path.join(o.certsDir, CA_CERT);
  if (o.caCert === undefined && !existsSync(caCertFile)) throw new CliError(`${caCertFile} is missing: pass --ca-cert with the CA certificate (create-ca wrote it) to copy it there`, 2);
  const ca = await readSigningCa(caCertFile, o.caKey);
  await refuseExisting(certFile, keyFile);
  const issuing = await loadIssuing();
  const validity = { notAfter: new Date(Date.now() + lifetimeMs) };
  const issued: IssuedCert = role === 'node' ? await issuing.createNodeCert(ca, { ...validity, nodeId: name, hosts }) : await issuing.createClientCert(ca, { ...validity, name });
  const copied = (await installCaCert(o.certsDir, ca.certPem)) === 'copied';
  await writeCertAndKey(certFile, keyFile, issued);
  if (copied) process.stdout.write(`wrote ${path.join(o.certsDir, CA_CERT)} (a copy of the CA certificate)\n`);
  const cut = issued.notAfter < validity.notAfter ? ' (cut to the CA expiry)' : '';
  process.stdout.write(`wrote ${certFile}: ${role} ${name}${hosts.length > 0 ? ` at ${hosts.join(', ')}` : ''}, valid until ${issued.notAfter.toISOString()}${cut}\n`);
  process.stdout.write(`wrote ${keyFile} (0600)\n`);
}

/** The issuing code, loaded only when a command issues: it pulls in @peculiar/x509 and a global Reflect polyfill that `sluice serve` has no use for. */
function loadIssuing(): Promise<typeof import('../security/certs/issue.ts')> {
  return import('../security/certs/issue.ts');
}

/** Runs `fn`, turning bad arguments into usage errors (exit 2) and unusable files into exit 1. */
async function cliErrors(fn: () => Promise<void>): Promise<void> {
  try {
    await fn();
  } catch (err) {
    if (isSluiceError(err, 'INVALID_ARGUMENT')) throw new CliError(err.message, 2);
    if (err instanceof CertError) throw new CliError(err.message, 1);
    throw err;
  }
}

function describe(c: CertReport): string {
  const who = c.role === 'ca' ? `CA of cluster ${c.clusterId}` : c.role === 'unknown' ? 'unknown (not a sluice certificate)' : `${c.role} ${c.name} of cluster ${c.clusterId}`;
  const key = c.key === 'not-checked' ? 'not checked (pass --ca-key)' : `${c.keyFile} ${c.key}`;
  const lines = [
    c.file,
    `  subject:   ${c.subject}`,
    `  role:      ${who}`,
    `  SANs:      ${c.sans.join(', ') || '(none)'}`,
    `  not after: ${c.notAfter.toISOString()} (${c.daysLeft} days left)`,
    `  key:       ${key}`,
    `  issued by: ${c.issuedBy ?? 'no CA in ca.crt'}`,
    ...c.problems.map((p) => `  PROBLEM:   ${p}`),
  ];
  return `${lines.join('\n')}\n`;
}
