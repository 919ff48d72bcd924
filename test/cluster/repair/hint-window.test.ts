/**
 * Hints expire after a window measured from when each was written (DESIGN §7:
 * "expire them after a window (Cassandra: 3 h) after which anti-entropy
 * repairs instead. The window survives restarts."). Found in a review,
 * 2026-12-08: hints had no window at all; a peer back after a day got the
 * whole day's writes replayed at once.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { pino } from 'pino';
import { HintQueue } from '../../../src/cluster/repair/hint-queue.ts';
import { Wal } from '../../../src/storage/wal/wal.ts';
import { tempDir } from '../../support/temp-dir.ts';

const log = pino({ level: 'silent' });
const HOUR_MS = 3_600_000;
const hint = (i: number): Buffer => Buffer.from(`hint-${i}-`.padEnd(3000, 'x'));
const name = (batch: Buffer): string => batch.toString('utf8', 0, batch.indexOf('-', 5));

/** A hint queue on `dir` whose clock is `clock.ms` (a restart is a new queue on the same dir). */
async function open(dir: string, clock: { ms: number }): Promise<HintQueue> {
  const q = new HintQueue({ dir, bytesMaxPerPeer: 1024 * 1024 * 1024, segmentBytesMax: 64 * 1024, frameBytesMax: 1024 * 1024, windowMs: 3 * HOUR_MS, now: () => clock.ms, log });
  await q.open();
  return q;
}

test('a hint older than the window is never replayed, counted from when it was written, across restarts', async (t) => {
  const dir = tempDir(t);
  const clock = { ms: Date.parse('2026-12-08T00:00:00Z') };
  let q = await open(dir, clock);
  for (let i = 0; i < 30; i++) await q.add('n2', hint(i)); // written at 00:00
  clock.ms += 2 * HOUR_MS;
  for (let i = 30; i < 40; i++) await q.add('n2', hint(i)); // written at 02:00
  await q.close();

  // The coordinator restarts at 02:59: the first 30 hints are 2 h 59 min old, not 0 min.
  clock.ms += 59 * 60_000;
  q = await open(dir, clock);
  await q.close();
  clock.ms += 2 * 60_000; // 03:01, restarted again
  q = await open(dir, clock);
  const seen: string[] = [];
  await q.replay('n2', async (batch) => {
    seen.push(name(batch));
  });
  assert.deepEqual(seen, Array.from({ length: 10 }, (_, i) => `hint-${i + 30}`), 'only the hints written within the last 3 h');
  assert.equal(q.expired, 30, 'expired hints are counted');
  assert.deepEqual(await q.pending(), { n2: 0 }, 'expired hints are not pending');
  await q.close();

  q = await open(dir, clock);
  await q.replay('n2', async (batch) => assert.fail(`${name(batch)} replayed again`));
  await q.close();
});

test('expired hints of a peer that stays down are dropped without a delivery, and fresh ones stay', async (t) => {
  const dir = tempDir(t);
  const clock = { ms: Date.parse('2026-12-08T00:00:00Z') };
  const q = await open(dir, clock);
  for (let i = 0; i < 40; i++) await q.add('n3', hint(i)); // > one 64 KiB segment
  clock.ms += 4 * HOUR_MS;
  await q.add('n3', hint(99));
  assert.equal(await q.expire('n3'), 40, 'the 40 old hints');
  assert.deepEqual(await q.pending(), { n3: 1 });
  const seen: string[] = [];
  await q.replay('n3', async (batch) => {
    seen.push(name(batch));
  });
  assert.deepEqual(seen, ['hint-99']);
  await q.close();
});

test('hints an earlier release wrote (no time on them) get their window from the first start that reads them, not from each restart', async (t) => {
  const dir = tempDir(t);
  const legacy = await Wal.open({ dir: path.join(dir, 'n2', 'wal'), segmentBytesMax: 64 * 1024, frameBytesMax: 1024 * 1024, diskFreeBytesMin: 0 });
  for (let i = 0; i < 3; i++) await legacy.append(1, hint(i));
  await legacy.close();
  const clock = { ms: Date.parse('2026-12-08T00:00:00Z') };
  let q = await open(dir, clock); // the upgrade
  await q.close();
  clock.ms += 3 * HOUR_MS - 60_000;
  q = await open(dir, clock); // a restart a minute before their window ends
  await q.close();
  clock.ms += 2 * 60_000;
  q = await open(dir, clock);
  await q.replay('n2', async (batch) => assert.fail(`${name(batch)} replayed after its window`));
  assert.equal(q.expired, 3);
  await q.close();
});

test('a queue whose oldest hint is still in the window is not read again until that hint can expire (a down peer is checked every tick)', async (t) => {
  const dir = tempDir(t);
  const clock = { ms: Date.parse('2026-12-08T00:00:00Z') };
  const q = await open(dir, clock);
  for (let i = 0; i < 40; i++) await q.add('n3', hint(i));
  const queue = await (q as unknown as { queues: Map<string, Promise<{ wal: Wal }>> }).queues.get('n3')!;
  let reads = 0;
  const replay = queue.wal.replay.bind(queue.wal);
  queue.wal.replay = (...args: Parameters<Wal['replay']>) => {
    reads++;
    return replay(...args);
  };
  assert.equal(await q.expire('n3'), 0);
  for (let tick = 0; tick < 100; tick++) {
    clock.ms += 1_000;
    assert.equal(await q.expire('n3'), 0);
  }
  assert.ok(reads <= 1, `${reads} reads of the queue in 100 ticks`);
  clock.ms += 3 * HOUR_MS;
  assert.equal(await q.expire('n3'), 40, 'read again once the oldest hint can have expired');
  await q.close();
});
