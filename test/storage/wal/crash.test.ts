/**
 * Crash safety with a real process: a child appends under load and is
 * SIGKILLed; every LSN it saw acknowledged must be in the reopened WAL with
 * its exact payload, and the WAL must be dense and valid.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { Wal } from '../../../src/storage/wal/wal.ts';
import type { WalOptions } from '../../../src/storage/wal/wal.ts';
import { payloadFor, segmentFiles, tempDir } from './helpers.ts';

const fixture = fileURLToPath(new URL('./fixtures/append-loop.ts', import.meta.url));

/** Runs the child until it acknowledged `ackTarget` more frames, then SIGKILLs it; returns acked LSNs. */
async function runAndKill(dir: string, ackTarget: number, extra: Partial<WalOptions> = {}): Promise<{ opened: bigint; acked: bigint[] }> {
  const child = spawn(process.execPath, [fixture, dir, JSON.stringify(extra)], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  let acks = 0;
  child.stderr.on('data', (chunk: Buffer) => {
    err += chunk.toString();
  });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.on('exit', (code, signal) => resolve({ code, signal })),
  );
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`child too slow: ${acks} acks; stderr: ${err}`)), 30_000);
    child.stdout.on('data', (chunk: Buffer) => {
      out += chunk.toString();
      acks += chunk.toString().split('\n').length - 1;
      if (acks >= ackTarget) {
        clearTimeout(timer);
        resolve();
      }
    });
    child.on('exit', () => {
      clearTimeout(timer);
      reject(new Error(`child exited early; stderr: ${err}`));
    });
  });
  child.kill('SIGKILL');
  const { signal } = await exited;
  assert.equal(signal, 'SIGKILL', `child ended by itself; stderr: ${err}`);
  await new Promise((resolve) => setImmediate(resolve));
  const lines = out.split('\n');
  lines.pop(); // a last line without '\n' may be partial
  const [first, ...rest] = lines;
  assert.match(first ?? '', /^open \d+$/);
  return { opened: BigInt(first!.slice(5)), acked: rest.map((l) => BigInt(l)) };
}

/** SIGKILL/reopen rounds: every acknowledged frame is back, dense and exact, each time. */
async function crashRounds(dir: string, rounds: number, ackTarget: number, extra: Partial<WalOptions> = {}): Promise<void> {
  let durableBefore = 0n;
  for (let round = 0; round < rounds; round++) {
    const { opened, acked } = await runAndKill(dir, ackTarget, extra);
    assert.equal(opened, durableBefore, 'the child resumed at the LSN the last check saw');
    assert.ok(acked.length >= ackTarget - 100, `${acked.length} acks`);

    const wal = await Wal.open({ dir, segmentBytesMax: 64 * 1024, diskFreeBytesMin: 0, ...extra });
    const maxAcked = acked.reduce((a, b) => (b > a ? b : a), 0n);
    assert.ok(wal.lastLsn >= maxAcked, `WAL ends at ${wal.lastLsn}, but ${maxAcked} was acknowledged`);
    assert.equal(wal.recovery.corruption, null);
    let expected = 1n;
    await wal.replay(1n, async (batch) => {
      for (const frame of batch) {
        assert.equal(frame.lsn, expected, 'dense LSNs');
        assert.ok(frame.payload.equals(payloadFor(frame.lsn, 2000)), `payload of lsn ${frame.lsn}`);
        expected++;
      }
    });
    assert.equal(expected - 1n, wal.lastLsn);
    for (const lsn of acked) assert.ok(lsn <= wal.lastLsn);
    durableBefore = wal.lastLsn;
    await wal.close();
  }
}

test('every acknowledged append survives SIGKILL mid-load, over several crash/restart rounds', { timeout: 120_000 }, async (t) => {
  const dir = path.join(tempDir(t), 'wal');
  await crashRounds(dir, 3, 3000);
  assert.ok(segmentFiles(dir).length > 3, 'the load rotated segments');
});

test('with preallocated segments, every acknowledged append survives SIGKILL mid-load and mid-rotation', { timeout: 120_000 }, async (t) => {
  const dir = path.join(tempDir(t), 'wal');
  await crashRounds(dir, 3, 3000, { preallocSegmentsAhead: 2 });
  assert.ok(segmentFiles(dir).length > 3, 'the load rotated segments');
  const full = segmentFiles(dir).filter((name) => fs.statSync(path.join(dir, name)).size === 64 * 1024);
  assert.ok(full.length > 3, 'the segments were preallocated spares');
});

test('SIGKILL while the next segment is being zero-filled: acknowledged frames intact, the partial spare removed', { timeout: 120_000 }, async (t) => {
  const dir = path.join(tempDir(t), 'wal');
  // A large segment so that the fill is still running when the first acks arrive.
  const extra = { preallocSegmentsAhead: 1, segmentBytesMax: 256 * 1024 * 1024 };
  const { acked } = await runAndKill(dir, 200, extra);
  const leftovers = fs.readdirSync(dir).filter((name) => name.endsWith('.wal-spare.tmp'));
  assert.equal(leftovers.length, 1, `killed mid-fill: ${fs.readdirSync(dir).join(', ')}`);
  const wal = await Wal.open({ dir, diskFreeBytesMin: 0, segmentBytesMax: 64 * 1024, preallocSegmentsAhead: 1 });
  t.after(() => wal.close());
  await wal.preallocationIdle();
  assert.equal(wal.recovery.corruption, null);
  const spares = fs.readdirSync(dir).filter((name) => name.includes('.wal-spare'));
  assert.equal(spares.length, 1, `only the new spare: ${spares.join(', ')}`);
  assert.equal(fs.statSync(path.join(dir, spares[0]!)).size, 64 * 1024);
  const maxAcked = acked.reduce((a, b) => (b > a ? b : a), 0n);
  assert.ok(wal.lastLsn >= maxAcked);
  let expected = 1n;
  await wal.replay(1n, async (batch) => {
    for (const frame of batch) {
      assert.equal(frame.lsn, expected++);
      assert.ok(frame.payload.equals(payloadFor(frame.lsn, 2000)));
    }
  });
});
