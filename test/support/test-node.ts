/** A single sluice node in the test's process, with the test token, on a temp data dir; stopped, then its dir removed, by `owner.after`. */
import { pino } from 'pino';
import { resolveConfig, type NodeConfig } from '../../src/config.ts';
import { SluiceNode } from '../../src/sluice-node.ts';
import { TEST_TOKEN } from './auth.ts';
import { tempDir } from './temp-dir.ts';

type Owner = { after: (fn: () => Promise<void> | void) => void };

/**
 * Starts a node on a fresh data dir (HTTP on a free port, the test token as bootstrap, no disk floor, no audit log), `options` on top.
 * Call it in a test (its `t`) or at module scope: node:test runs an `after` registered inside a `before` hook as
 * soon as that hook ends.
 */
export async function startTestNode(owner: Owner, options: Partial<NodeConfig> = {}, prefix = 'sluice-node-'): Promise<SluiceNode> {
  let node: SluiceNode | undefined;
  // Registered before the dir's removal: after-hooks run in order, and the node must stop before its dir goes.
  owner.after(() => node?.stop());
  const dataDir = tempDir(owner, prefix);
  node = await SluiceNode.start(resolveConfig({ dataDir, httpPort: 0, bootstrapToken: TEST_TOKEN, diskFreeBytesMin: 0, auditLog: 'off', ...options }), pino({ level: 'silent' }));
  return node;
}
