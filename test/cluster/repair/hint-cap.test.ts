/**
 * A peer's hint queue is capped in bytes (--hint-bytes-max-per-peer); past
 * the cap a hint is dropped and counted (sluice_hints_dropped_total), and
 * the write does what docs/operations.md says: it stands on its W copies.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, statSync } from 'node:fs';
import path from 'node:path';
import { pino } from 'pino';
import { HintQueue } from '../../../src/cluster/repair/hint-queue.ts';
import { InProcessCluster, waitUntil } from '../../support/in-process-cluster.ts';
import { tempDir } from '../../support/temp-dir.ts';

const log = pino({ level: 'silent' });

/** Bytes of the files under `dir`. */
function diskBytes(dir: string): number {
  let total = 0;
  for (const e of readdirSync(dir, { withFileTypes: true, recursive: true })) if (e.isFile()) total += statSync(path.join(e.parentPath, e.name)).size;
  return total;
}

test('hints larger than a segment do not take a queue past its byte cap', async (t) => {
  // Found in a review, 2026-12-08: the cap counted segments × segment size, and a hint larger than a segment
  // (a replica part of a large request; frames may be 64 MiB, segments are 8 MiB) makes a segment of its own:
  // a 256 KiB cap held 1 MiB on disk.
  const dir = tempDir(t);
  const cap = 256 * 1024;
  const q = new HintQueue({ dir, bytesMaxPerPeer: cap, segmentBytesMax: 64 * 1024, frameBytesMax: 4 * 1024 * 1024, log });
  await q.open();
  let stored = 0;
  for (let i = 0; i < 20; i++) if (await q.add('n2', Buffer.alloc(100 * 1024, i))) stored++;
  assert.ok(stored >= 1, 'the queue takes hints up to its cap');
  assert.equal(q.dropped, 20 - stored);
  const used = diskBytes(path.join(dir, 'n2'));
  assert.ok(used <= cap, `${used} bytes on disk under a ${cap}-byte cap (${stored} hints of 100 KiB)`);
  await q.close();

  // The count survives a restart: a reopened queue does not take a fresh budget.
  const again = new HintQueue({ dir, bytesMaxPerPeer: cap, segmentBytesMax: 64 * 1024, frameBytesMax: 4 * 1024 * 1024, log });
  await again.open();
  assert.equal(await again.add('n2', Buffer.alloc(100 * 1024)), false, 'still full after a restart');
  await again.replay('n2', async () => undefined);
  assert.equal(await again.add('n2', Buffer.alloc(100 * 1024)), true, 'delivered hints free the budget');
  await again.close();
});

test('a write whose hint is dropped at the cap still succeeds on its W copies, and the drop is counted', async (t) => {
  const cluster = await InProcessCluster.start(t);
  await cluster.waitAllAlive();
  const n1 = cluster.node('n1');
  // The smallest queue the harness allows: one 1 MiB segment.
  const o = (n1.hints as unknown as { o: Record<string, unknown> }).o;
  (n1.hints as unknown as { o: Record<string, unknown> }).o = { ...o, bytesMaxPerPeer: 1024 * 1024 };
  cluster.faults.isolate('n3', ['n1', 'n2']);
  await waitUntil(() => n1.detector.state('n3') !== 'alive', 5_000, 'n1 suspects n3');
  for (let i = 0; i < 20; i++) {
    const r = await cluster.write('n1', cluster.keysHeldBy('n3', 2_000, `w${i}-`), { consistency: 'quorum' });
    assert.equal(r.ids.length, 2_000, `write ${i} succeeds on n1 and n2`);
  }
  assert.ok(n1.hints.dropped > 0, 'past the cap hints are dropped');
  assert.ok(n1.hints.dropped < 20, 'before it they are kept');
  assert.equal((await n1.hints.pending()).n3, 20 - n1.hints.dropped);
});
