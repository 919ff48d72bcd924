/**
 * Certificates for the clusters tests and benchmarks start, made in process
 * with the certs library (a P-256 key takes about a millisecond, no
 * `sluice cert` child processes): one CA per cluster, and one certs dir per
 * node (`ca.crt`, `node.crt`, `node.key` 0600), as `--certs-dir` wants it.
 */
import path from 'node:path';
import { NODE_CERT, NODE_KEY, installCaCert, writeCertAndKey } from '../../src/security/certs/certs-dir.ts';
import { createCa, createNodeCert, type SigningCa, type Validity } from '../../src/security/certs/issue.ts';

const DAY_MS = 86_400_000;
/** Hosts every test node certificate names (the nodes listen on loopback). */
export const TEST_NODE_HOSTS: readonly string[] = ['127.0.0.1', 'localhost', '::1'];

/** A cluster's CA: what signs, and the cluster id its certificates carry. */
export interface TestCa {
  readonly clusterId: string;
  readonly signing: SigningCa;
  /** Where node certs dirs go: `<dir>/<node-id>/`. */
  readonly dir: string;
  /** The certs dirs made so far, by node id (a node restarted keeps its certificate). */
  readonly nodes: Map<string, Promise<string>>;
}

/** A new CA for cluster `clusterId` (valid for a year); node certs dirs go under `dir`. */
export async function createTestCa(dir: string, clusterId = 'test'): Promise<TestCa> {
  const ca = await createCa({ clusterId, notAfter: new Date(Date.now() + 365 * DAY_MS) });
  return { clusterId, signing: { certPem: ca.certPem, keyPem: ca.keyPem }, dir, nodes: new Map() };
}

/** The certs dir of node `nodeId` under the CA's dir, made on first use; a dir left by another CA is refused, not reused. */
export function nodeCertsDir(ca: TestCa, nodeId: string): Promise<string> {
  let made = ca.nodes.get(nodeId);
  if (made === undefined) {
    const dir = path.join(ca.dir, nodeId);
    made = writeNodeCerts(ca, dir, nodeId).then(() => dir);
    ca.nodes.set(nodeId, made);
  }
  return made;
}

/** Writes `dir/ca.crt`, `node.crt` and `node.key` for node `nodeId`, signed by `ca` (`validity` defaults to 30 days from an hour ago). */
export async function writeNodeCerts(ca: TestCa, dir: string, nodeId: string, validity: Validity = { notAfter: new Date(Date.now() + 30 * DAY_MS) }): Promise<void> {
  const issued = await createNodeCert(ca.signing, { nodeId, hosts: TEST_NODE_HOSTS, ...validity });
  await installCaCert(dir, ca.signing.certPem);
  await writeCertAndKey(path.join(dir, NODE_CERT), path.join(dir, NODE_KEY), issued);
}
