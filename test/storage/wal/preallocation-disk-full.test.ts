/**
 * Segment preallocation on a disk that cannot hold a spare (a real tmpfs in a
 * user+mount namespace): a clear status, no partial spare, no refused
 * append, no corrupt log.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { canUseTmpfsNamespace, runOnTinyTmpfs, tempDir } from './helpers.ts';

test('preallocation without the space: ENOSPC mid-fill and the free-space floor leave no spare and refuse no append', { skip: process.platform !== 'linux' || !canUseTmpfsNamespace() }, (t) => {
  const mount = tempDir(t);
  const run = runOnTinyTmpfs(mount, 'prealloc-disk-full.ts');
  assert.equal(run.status, 0, run.stderr);
  const s = JSON.parse(run.stdout) as {
    enospc: { ready: number; failures: number; lastError: string };
    leftoversAfterEnospc: string[];
    reported: string[];
    acked: number;
    errors: string[];
    floor: { ready: number; failures: number; lastError: string };
    floorAcked: number;
    reopened: { tornTail: unknown; corruption: unknown; lastLsn: string; replayed: number; mismatches: number };
    withSpace: { ready: number; failures: number };
    spareSizes: number[];
  };
  assert.deepEqual(s.errors, [], 'no append was refused');
  assert.equal(s.enospc.ready, 0);
  assert.equal(s.enospc.failures, 1);
  assert.match(s.enospc.lastError, /preallocation failed .*ENOSPC/);
  assert.deepEqual(s.leftoversAfterEnospc, [], 'the partial spare was removed');
  assert.equal(s.reported.length, 1, 'the failure was reported once (onPreallocationError)');
  assert.match(s.reported[0]!, /ENOSPC/);
  assert.equal(s.acked, 60);
  assert.equal(s.floor.ready, 0);
  assert.match(s.floor.lastError, /preallocation skipped/);
  assert.equal(s.floorAcked, 10);
  assert.equal(s.reopened.tornTail, null);
  assert.equal(s.reopened.corruption, null);
  assert.equal(s.reopened.replayed, 70);
  assert.equal(s.reopened.lastLsn, '70');
  assert.equal(s.reopened.mismatches, 0);
  assert.equal(s.withSpace.ready, 1);
  assert.deepEqual(s.spareSizes, [256 * 1024]);
});
