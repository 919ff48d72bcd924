/**
 * The first admin token. A node started with `SLUICE_BOOTSTRAP_TOKEN` (or
 * `--bootstrap-token-file`) accepts that string as an admin token (for
 * containers, CI and clusters, where every node is given the same one).
 * Otherwise, on the first start of a node (or cluster) that has no token
 * at all, it makes one, keeps only its hash, prints it once on stderr
 * (never into the log) and writes it to `<data-dir>/admin.token` (0600)
 * for the local CLI: zero setup, as Elasticsearch's first start does.
 */
import { chmod } from 'node:fs/promises';
import path from 'node:path';
import { writeFileAtomic } from '../storage/atomic-file.ts';
import type { TokenRegistry } from './token-registry.ts';

/** The file the first-start admin token is written to. */
export function adminTokenFile(dataDir: string): string {
  return path.join(dataDir, 'admin.token');
}

/** What bootstrap needs. */
export interface BootstrapOptions {
  readonly dataDir: string;
  /** The operator's token, when given. */
  readonly bootstrapToken?: string;
  /** True for the one node that may make the first token (always on a single node; etcd decides in a cluster). */
  readonly claimFirstStart: () => Promise<boolean>;
  /** Shows the new token to the operator, once. */
  readonly print: (text: string) => void;
}

/** What bootstrap did. */
export type BootstrapOutcome = 'operator-token' | 'generated' | 'existing';

/** Ensures an admin token exists as described above. */
export async function bootstrapAdmin(registry: TokenRegistry, o: BootstrapOptions): Promise<BootstrapOutcome> {
  if (o.bootstrapToken !== undefined) {
    await registry.ensure(o.bootstrapToken, 'bootstrap-admin', ['admin'], 'bootstrap');
    return 'operator-token';
  }
  if (registry.size > 0 || !(await o.claimFirstStart())) return 'existing';
  const issued = await registry.create({ name: 'admin', scopes: ['admin'] }, 'first-start');
  await writeTokenFile(adminTokenFile(o.dataDir), issued.token);
  o.print(
    [
      '',
      '  sluice: an admin token was created for this node. It is shown once, here:',
      '',
      `    ${issued.token}`,
      '',
      `  It is also in ${adminTokenFile(o.dataDir)} (mode 0600), where the local CLI finds it.`,
      '  Send it as "Authorization: Bearer <token>"; make narrower tokens with `sluice token create`.',
      '',
    ].join('\n'),
  );
  return 'generated';
}

/**
 * Writes a secret to a file only its owner can read: a new file renamed
 * over the old one, so that a process that opened an older, looser file
 * (an earlier version's, an operator's copy) reads nothing of the new
 * secret, and the secret never sits under the old file's mode.
 */
export async function writeTokenFile(file: string, token: string): Promise<void> {
  await writeFileAtomic(file, `${token}\n`, 0o600);
  // A temporary file left by a crash keeps its old mode when opened again.
  await chmod(file, 0o600);
}
