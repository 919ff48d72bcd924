import assert from 'node:assert/strict';
import path from 'node:path';
import { test } from 'node:test';
import { Wal } from '../../../src/storage/wal/wal.ts';
import type { FlushInfo, WalOptions } from '../../../src/storage/wal/wal.ts';
import { FRAME_OVERHEAD_BYTES } from '../../../src/storage/wal/frame-v1.ts';
import { GroupCommit, type FrameSink } from '../../../src/storage/wal/group-commit.ts';
import { payloadFor, tempDir } from './helpers.ts';

async function openWal(t: import('node:test').TestContext, options: Partial<WalOptions> = {}): Promise<{ wal: Wal; flushes: FlushInfo[] }> {
  const flushes: FlushInfo[] = [];
  const wal = await Wal.open({
    dir: path.join(tempDir(t), 'wal'),
    diskFreeBytesMin: 0,
    onFlush: (info) => flushes.push(info),
    ...options,
  });
  t.after(() => wal.close());
  return { wal, flushes };
}

test('concurrent appends: dense LSNs in call order, resolution order = LSN order, few fsyncs', async (t) => {
  const { wal, flushes } = await openWal(t);
  const resolved: bigint[] = [];
  const appends: Promise<bigint>[] = [];
  const count = 5000;
  for (let wave = 0; wave < 10; wave++) {
    for (let i = 0; i < count / 10; i++) {
      const lsn = BigInt(appends.length + 1);
      appends.push(wal.append(1, payloadFor(lsn, 200)).then((l) => (resolved.push(l), l)));
    }
    await new Promise((resolve) => setImmediate(resolve));
  }
  const lsns = await Promise.all(appends);
  assert.deepEqual(lsns, Array.from({ length: count }, (_, i) => BigInt(i + 1)), 'LSNs follow call order with no gap');
  assert.deepEqual(resolved, lsns, 'promises resolved in LSN order');
  assert.equal(wal.lastLsn, BigInt(count));
  const framesFlushed = flushes.reduce((n, f) => n + f.frames, 0);
  assert.equal(framesFlushed, count);
  assert.ok(flushes.length <= count / 20, `${flushes.length} fsyncs for ${count} appends`);
  for (const f of flushes) assert.ok(f.fsyncMs >= 0 && f.bytes > 0);
});

test('a lone append resolves promptly, well under flushDelayMsMax', async (t) => {
  const { wal, flushes } = await openWal(t, { flushDelayMsMax: 5000 });
  for (let i = 0; i < 5; i++) {
    const started = performance.now();
    const lsn = await wal.append(2, Buffer.from('lonely'));
    const elapsed = performance.now() - started;
    assert.equal(lsn, BigInt(i + 1));
    assert.ok(elapsed < 1000, `lone append took ${elapsed} ms`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  assert.equal(flushes.length, 5);
  assert.ok(flushes.every((f) => f.frames === 1));
});

test('flushBytesMax: reaching it flushes at once even while an adaptive delay would wait', async (t) => {
  const flushBytesMax = 16 * 1024;
  const { wal, flushes } = await openWal(t, {
    flushMode: 'adaptive',
    flushBytesMax,
    adaptiveDelayMsMin: 1500,
    adaptiveDelayMsMax: 1500,
    flushDelayMsMax: 2000,
  });
  // Warm the rate estimate up so that the adaptive delay is active.
  const warm: Promise<bigint>[] = [];
  for (let i = 0; i < 2000; i++) warm.push(wal.append(1, Buffer.alloc(100, 1)));
  await Promise.all(warm);
  assert.equal(wal.adaptiveDelayMs, 1500, 'adaptive delay is active and clamped');

  // Below the byte threshold: the frames wait (the delay is 1.5 s).
  const before = flushes.length;
  const small = [wal.append(1, Buffer.alloc(1000, 2)), wal.append(1, Buffer.alloc(1000, 3))];
  await new Promise((resolve) => setTimeout(resolve, 200));
  assert.equal(flushes.length, before, 'frames below flushBytesMax are held back by the adaptive delay');

  // Crossing the threshold flushes immediately, with no more than one frame past it.
  const started = performance.now();
  const more: Promise<bigint>[] = [];
  for (let i = 0; i < 20; i++) more.push(wal.append(1, Buffer.alloc(1000, 4)));
  await Promise.all([...small, ...more.slice(0, 10)]);
  assert.ok(performance.now() - started < 1000, 'the byte threshold did not wait for the delay');
  const first = flushes[before]!;
  assert.ok(first.bytes >= flushBytesMax, `flush of ${first.bytes} bytes started before the threshold`);
  assert.ok(first.bytes < flushBytesMax + 1000 + FRAME_OVERHEAD_BYTES, `flush of ${first.bytes} bytes went past flushBytesMax by more than a frame`);
  await wal.close(); // flushes the rest without waiting for the delay
  assert.equal((await Promise.all(more)).at(-1), wal.lastLsn);
});

test('adaptive mode: a lone write after idleness is not held back', async (t) => {
  const { wal } = await openWal(t, { flushMode: 'adaptive', adaptiveDelayMsMin: 100, adaptiveDelayMsMax: 100 });
  assert.equal(wal.adaptiveDelayMs, 0);
  const started = performance.now();
  await wal.append(1, Buffer.from('x'));
  assert.ok(performance.now() - started < 80);
});

test('flushDelayMsMax caps the wait of the oldest frame', async (t) => {
  const { wal } = await openWal(t, {
    flushMode: 'adaptive',
    flushBytesMax: 1 << 20,
    adaptiveDelayMsMin: 300,
    adaptiveDelayMsMax: 300,
    flushDelayMsMax: 300,
  });
  const warm: Promise<bigint>[] = [];
  for (let i = 0; i < 2000; i++) warm.push(wal.append(1, Buffer.alloc(10)));
  await Promise.all(warm);
  assert.equal(wal.adaptiveDelayMs, 300);
  const started = performance.now();
  await wal.append(1, Buffer.from('y'));
  const elapsed = performance.now() - started;
  assert.ok(elapsed >= 250 && elapsed < 1500, `waited ${elapsed} ms with a 300 ms cap`);
});

test('invalid input: bad frame type throws, oversized payload rejects, bad options are INVALID_ARGUMENT', async (t) => {
  const { wal } = await openWal(t, { frameBytesMax: 1024 });
  assert.throws(() => wal.append(0, Buffer.alloc(1)));
  await assert.rejects(wal.append(1, Buffer.alloc(2000)), { code: 'PAYLOAD_TOO_LARGE' });
  assert.equal(await wal.append(1, Buffer.alloc(10)), 1n, 'a refused append consumed no LSN');
  await assert.rejects(Wal.open({ dir: path.join(tempDir(t), 'w'), adaptiveDelayMsMin: 50, adaptiveDelayMsMax: 10 }), {
    code: 'INVALID_ARGUMENT',
  });
});

test('pendingBytesMax bounds bytes not yet durable (OVERLOADED)', async (t) => {
  const { wal } = await openWal(t, { pendingBytesMax: 64 * 1024, frameBytesMax: 32 * 1024 });
  const results = await Promise.allSettled(Array.from({ length: 10 }, () => wal.append(1, Buffer.alloc(20_000))));
  const rejected = results.filter((r) => r.status === 'rejected');
  assert.ok(rejected.length > 0);
  for (const r of rejected) assert.equal((r.reason as { code: string }).code, 'OVERLOADED');
  const lsns = results.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []));
  assert.deepEqual(lsns, lsns.map((_, i) => BigInt(i + 1)), 'accepted appends still have dense LSNs');
});

test('frames that arrived during a flush start the next one in the same turn, before the answers to the first are sent on the next', async () => {
  const writes: number[] = [];
  let release: () => void = () => assert.fail('the first flush did not start');
  const sink: FrameSink = {
    write: async (_bytes, frameEnds, _firstLsn, onDurable) => {
      writes.push(frameEnds.length);
      if (writes.length === 1) await new Promise<void>((resolve) => (release = resolve));
      onDurable(frameEnds.length);
    },
  };
  const commit = new GroupCommit(sink, 0n, { flushMode: 'idle', flushBytesMax: 1 << 20, flushDelayMsMax: 100, adaptiveDelayMsMin: 1, adaptiveDelayMsMax: 10, frameBytesMax: 1 << 20, pendingBytesMax: 1 << 24, arenaKeptBytesMax: 1 << 22 });
  const first = commit.append(1, Buffer.from('a'));
  await new Promise((resolve) => setImmediate(resolve));
  assert.deepEqual(writes, [1], 'the first flush is running');
  const later = [commit.append(1, Buffer.from('b')), commit.append(1, Buffer.from('c'))];
  release();
  assert.equal(await first, 1n);
  // A turn later (where a writer's answer would go out): the second flush is already under way.
  await new Promise((resolve) => setImmediate(resolve));
  assert.deepEqual(writes, [1, 2], 'both waiting frames went in one flush, started when the first ended');
  assert.deepEqual(await Promise.all(later), [2n, 3n]);
  await commit.close();
});

/** Flushes of ten 150 KB frames each, `rounds` times; the distinct buffers the sink was handed (one per arena used). */
async function arenasOverFlushes(arenaKeptBytesMax: number, rounds: number): Promise<number> {
  const arenas = new Set<ArrayBufferLike>();
  const sink: FrameSink = {
    write: async (bytes, frameEnds, _firstLsn, onDurable) => {
      arenas.add(bytes.buffer);
      await new Promise((resolve) => setImmediate(resolve));
      onDurable(frameEnds.length);
    },
  };
  const flushBytesMax = 64 * 1024;
  const commit = new GroupCommit(sink, 0n, { flushMode: 'idle', flushBytesMax, flushDelayMsMax: 100, adaptiveDelayMsMin: 1, adaptiveDelayMsMax: 10, frameBytesMax: 1 << 20, pendingBytesMax: 1 << 26, arenaKeptBytesMax });
  const frame = Buffer.alloc(150_000, 7);
  for (let round = 0; round < rounds; round++) {
    // Appended in one turn: one flush of ~1.5 MB, past the 128 KiB a batch's arena starts with.
    await Promise.all(Array.from({ length: 10 }, () => commit.append(1, frame)));
  }
  await commit.close();
  return arenas.size;
}

test('a flush of bulk frames reuses the arena of an earlier one instead of growing a new buffer each time', async () => {
  const rounds = 30;
  const kept = await arenasOverFlushes(16 * 1024 * 1024, rounds);
  assert.ok(kept <= 4, `${kept} arenas for ${rounds} flushes of ~1.5 MB (kept up to 16 MiB)`);
  // The same load with arenas kept only up to the smallest bound allowed: every flush's arena is new.
  const dropped = await arenasOverFlushes(128 * 1024, rounds);
  assert.ok(dropped >= rounds - 1, `${dropped} arenas for ${rounds} flushes when none is kept`);
});

test('arenaKeptBytesMax: below 2 × flushBytesMax is INVALID_ARGUMENT; its default grows with a large flushBytesMax', async (t) => {
  await assert.rejects(Wal.open({ dir: path.join(tempDir(t), 'small'), diskFreeBytesMin: 0, flushBytesMax: 1 << 20, arenaKeptBytesMax: 1 << 20 }), { code: 'INVALID_ARGUMENT', message: /arenaKeptBytesMax/ });
  const wal = await Wal.open({ dir: path.join(tempDir(t), 'large'), diskFreeBytesMin: 0, flushBytesMax: 32 << 20 });
  t.after(() => wal.close());
  assert.equal(await wal.append(1, Buffer.from('x')), 1n);
});
