/**
 * The last settled ring (placement epoch with no transition) this node ran
 * in, kept in DATA_DIR/ring-seen.json. The leader switches a transition
 * once every *registered* target node is ready; a target node that was down
 * then never copied the shards it gains, and on its return it would answer
 * quorum reads of them without the writes it missed until the next
 * anti-entropy round. So a node that starts into a newer ring than the
 * last one it ran in, or that has no record of one, copies its shards from
 * their replicas first (bootstrap-repair.ts), as an empty index does.
 */
import path from 'node:path';
import { readJsonFile, writeFileAtomic } from '../../storage/atomic-file.ts';

const FILE = 'ring-seen.json';

/** The epoch of the last settled ring this node ran in, or undefined when it never recorded one. */
export async function readRingSeen(dataDir: string): Promise<number | undefined> {
  const saved = (await readJsonFile(path.join(dataDir, FILE))) as { epoch?: unknown } | undefined;
  return typeof saved?.epoch === 'number' && Number.isSafeInteger(saved.epoch) ? saved.epoch : undefined;
}

/** Records `epoch` as a settled ring this node runs in with every shard it holds copied. */
export function writeRingSeen(dataDir: string, epoch: number): Promise<void> {
  return writeFileAtomic(path.join(dataDir, FILE), JSON.stringify({ epoch }));
}

/** Whether a node that last ran in ring `seen` must copy its shards before it trusts them in ring `current`. */
export function missedRings(seen: number | undefined, current: number): boolean {
  return seen === undefined || current > seen;
}
