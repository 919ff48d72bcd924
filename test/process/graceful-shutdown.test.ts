/**
 * (e) SIGTERM during load: the node stops accepting, finishes what is in
 * flight, flushes, exits 0, and loses no acknowledged write.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { NodeProcess, sleep, tempDir } from './harness.ts';
import { createLedger, runWriters, verifyOutcome } from './load.ts';

test('SIGTERM under load exits 0 and loses no acknowledged write', async (t) => {
  const dataDir = tempDir(t);
  const node = await NodeProcess.start(t, { dataDir });
  await createLedger(node.url);
  let stop!: () => void;
  const stopped = new Promise<void>((resolve) => (stop = resolve));
  const load = runWriters(node.url, 8, 100, stopped);
  await sleep(1000);
  node.child.kill('SIGTERM');
  const exit = await node.waitExit();
  stop();
  const outcome = await load;
  assert.equal(exit.code, 0, `graceful exit: ${node.stderr}`);
  assert.ok(node.events('stopped').length === 1, 'the node logs its stop');
  // Connections busy at the stop go idle after their answer (the writers stop); they are closed then, not held
  // open until the grace period ends.
  assert.equal(node.events('shutdown_grace_expired').length, 0, 'the stop waited out its grace for connections left idle');
  assert.ok(outcome.acked.size > 0);
  for (const status of outcome.refused.keys()) assert.equal(status, 503, 'writes after SIGTERM are refused with 503');

  const again = await NodeProcess.start(t, { dataDir });
  const replayed = again.events('wal_replayed')[0];
  assert.equal(replayed?.['records'], 0, 'a graceful stop leaves nothing to replay: the index was drained');
  await verifyOutcome(again.url, outcome);
});
