import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { Wal } from '../../../src/storage/wal/wal.ts';
import { canUseTmpfsNamespace, payloadFor, runOnTinyTmpfs, segmentFiles, tempDir } from './helpers.ts';

test('diskFreeBytesMin: appends reject with DISK_FULL before the disk is full, without consuming LSNs', async (t) => {
  const dir = path.join(tempDir(t), 'wal');
  const wal = await Wal.open({ dir, diskFreeBytesMin: Number.MAX_SAFE_INTEGER });
  await assert.rejects(wal.append(1, Buffer.from('x')), (err: Error & { code?: string; status?: number }) => {
    assert.equal(err.code, 'DISK_FULL');
    assert.equal(err.status, 507);
    assert.match(err.message, /diskFreeBytesMin/);
    return true;
  });
  assert.equal(wal.lastLsn, 0n);
  await wal.close();
  const relaxed = await Wal.open({ dir, diskFreeBytesMin: 1 });
  t.after(() => relaxed.close());
  assert.equal(await relaxed.append(1, Buffer.from('x')), 1n);
});

test('close flushes pending appends, is idempotent, and later appends reject with SHUTTING_DOWN', async (t) => {
  const dir = path.join(tempDir(t), 'wal');
  const wal = await Wal.open({ dir, diskFreeBytesMin: 0, flushMode: 'adaptive', adaptiveDelayMsMin: 150, adaptiveDelayMsMax: 150 });
  const pending = Array.from({ length: 100 }, (_, i) => wal.append(1, payloadFor(BigInt(i + 1))));
  const closing = wal.close();
  assert.equal(wal.close(), closing, 'the same promise');
  await assert.rejects(wal.append(1, Buffer.from('late')), { code: 'SHUTTING_DOWN' });
  await closing;
  assert.deepEqual(await Promise.all(pending), pending.map((_, i) => BigInt(i + 1)));
  await assert.rejects(wal.append(1, Buffer.from('later')), { code: 'SHUTTING_DOWN' });
  await wal.close();
  const reopened = await Wal.open({ dir, diskFreeBytesMin: 0 });
  t.after(() => reopened.close());
  assert.equal(reopened.lastLsn, 100n);
});

test('an I/O error puts the WAL in a failed state: pending and later appends reject with WAL_IO', { skip: !fs.existsSync('/proc/self/fd') }, async (t) => {
  const dir = path.join(tempDir(t), 'wal');
  const wal = await Wal.open({ dir, diskFreeBytesMin: 0 });
  assert.equal(await wal.append(1, Buffer.from('durable')), 1n);
  // Close the writer's descriptor underneath it: its next write fails (EBADF).
  const segment = path.join(dir, segmentFiles(dir)[0]!);
  const fds = fs.readdirSync('/proc/self/fd').filter((fd) => {
    try {
      return fs.readlinkSync(`/proc/self/fd/${fd}`) === segment;
    } catch {
      return false;
    }
  });
  assert.equal(fds.length, 1, 'exactly one descriptor (the writer) holds the active segment');
  fs.closeSync(Number(fds[0]));
  const results = await Promise.allSettled([wal.append(1, Buffer.from('a')), wal.append(1, Buffer.from('b'))]);
  for (const r of results) {
    assert.equal(r.status, 'rejected');
    assert.equal((r.reason as { code: string }).code, 'WAL_IO');
  }
  await assert.rejects(wal.append(1, Buffer.from('c')), (err: Error & { code?: string }) => {
    assert.equal(err.code, 'WAL_IO');
    assert.match(err.message, /refuses writes until restart/);
    return true;
  });
  assert.equal(wal.lastLsn, 1n);
  await wal.close();
  const reopened = await Wal.open({ dir, diskFreeBytesMin: 0 });
  t.after(() => reopened.close());
  assert.equal(reopened.lastLsn, 1n);
  assert.equal(await reopened.append(1, Buffer.from('after restart')), 2n);
});

// Writes on the event loop (the default for these small writes) and in the thread pool (loopWriteBytesMax 0) fail alike.
for (const [way, loopWriteBytesMax] of [['on the event loop', undefined], ['in the thread pool', '0']] as const) {
  test(`a real full disk (ENOSPC on tmpfs), writes ${way}: DISK_FULL, no partial frame, usable again once space is back`, { skip: process.platform !== 'linux' || !canUseTmpfsNamespace() }, (t) => {
    const mount = tempDir(t);
    const run = runOnTinyTmpfs(mount, 'disk-full.ts', ...(loopWriteBytesMax === undefined ? [] : [loopWriteBytesMax]));
    assert.equal(run.status, 0, run.stderr);
    const summary = JSON.parse(run.stdout) as {
      acked: number;
      diskFull: number;
      diskFullMidWrite: number;
      other: string[];
      afterSpaceBack: number;
      lastLsn: string;
      replayed: number;
      payloadMismatches: number;
      tornTail: unknown;
      tornTailAfterFull: unknown;
      corruption: unknown;
      floorRefusals: number;
      floorAckedAfterFree: boolean;
    };
    assert.deepEqual(summary.other, [], 'only DISK_FULL errors');
    assert.ok(summary.acked > 50, `${summary.acked} frames fit before the disk filled up`);
    assert.ok(summary.diskFull > 0, 'the disk did fill up');
    assert.ok(summary.diskFullMidWrite > 0, 'a write was cut short by ENOSPC and truncated back');
    assert.equal(summary.afterSpaceBack, 80, 'every append succeeds once space is back');
    assert.equal(summary.tornTailAfterFull, null, 'ENOSPC left no partial frame');
    assert.equal(summary.tornTail, null);
    assert.equal(summary.corruption, null);
    assert.equal(summary.replayed, summary.acked + summary.afterSpaceBack);
    assert.equal(BigInt(summary.lastLsn), BigInt(summary.replayed));
    assert.equal(summary.payloadMismatches, 0);
    assert.ok(summary.floorRefusals > 0, 'the free-space floor refused writes');
    assert.equal(summary.floorAckedAfterFree, true);
  });
}
