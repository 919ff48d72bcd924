/**
 * The StorageEngine contract, run against each engine by
 * lmdb-engine.test.ts and level-engine.test.ts: both must behave the same.
 * Crash tests run a real child process (fixtures/engine-child.ts) and kill
 * it or starve it of file size.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import path from 'node:path';
import { after, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { isSluiceError } from '../../../src/core/errors.ts';
import { openEngine } from '../../../src/storage/engine/open-engine.ts';
import { ENGINE_KEY_BYTES_MAX } from '../../../src/storage/engine/storage-engine.ts';
import type { EngineKind, KeyRange, StorageEngine } from '../../../src/storage/engine/storage-engine.ts';
import { BATCH_KEYS, LATEST_KEY, batchKey, batchValue, fillShape } from './fixtures/batches.ts';
import { prng } from '../../support/prng.ts';
import { tempDir as tempDirOf } from '../../support/temp-dir.ts';

export { prng };

/** A fresh directory removed after the file's tests. */
export function tempDir(): string {
  return tempDirOf({ after });
}

const CHILD = fileURLToPath(new URL('./fixtures/engine-child.ts', import.meta.url));


export async function collect(engine: StorageEngine, range: KeyRange): Promise<[Buffer, Buffer][]> {
  const out: [Buffer, Buffer][] = [];
  for await (const [k, v] of engine.iterate(range)) out.push([Buffer.from(k), Buffer.from(v)]);
  return out;
}

/** The entries of a chunked scan, checking each chunk is non-empty and holds at most 1,000 entries and ~1 MiB before its last. */
export async function collectChunks(engine: StorageEngine, range: KeyRange): Promise<[Buffer, Buffer][]> {
  const out: [Buffer, Buffer][] = [];
  for await (const chunk of engine.iterateChunks(range)) {
    assert.ok(chunk.length > 0 && chunk.length <= 1000, `a chunk of ${chunk.length} entries`);
    const before = chunk.slice(0, -1).reduce((n, [k, v]) => n + k.length + v.length, 0);
    assert.ok(before <= 1024 * 1024, `a chunk of ${before} bytes before its last entry`);
    for (const [k, v] of chunk) out.push([Buffer.from(k), Buffer.from(v)]);
  }
  return out;
}

function hex(entries: readonly (readonly [Uint8Array, Uint8Array])[]): string[] {
  return entries.map(([k, v]) => `${Buffer.from(k).toString('hex')}=${Buffer.from(v).toString('hex')}`);
}

async function put(engine: StorageEngine, entries: readonly (readonly [Uint8Array, Uint8Array])[], lsn: bigint): Promise<void> {
  const batch = engine.batch();
  for (const [k, v] of entries) batch.put(k, v);
  await batch.commit(lsn);
}

/** Sign-flipped big-endian int64: memcmp order equals numeric order. */
function int64Key(n: bigint): Buffer {
  const out = Buffer.alloc(8);
  out.writeBigUInt64BE(BigInt.asUintN(64, n) ^ (1n << 63n));
  return out;
}

/** What a range must return, computed on a sorted in-memory copy. */
function model(sorted: readonly (readonly [Buffer, Buffer])[], range: KeyRange): (readonly [Buffer, Buffer])[] {
  let out = sorted.filter(([k]) => {
    if (range.gte !== undefined && Buffer.compare(k, range.gte) < 0) return false;
    if (range.gt !== undefined && Buffer.compare(k, range.gt) <= 0) return false;
    if (range.lt !== undefined && Buffer.compare(k, range.lt) >= 0) return false;
    if (range.lte !== undefined && Buffer.compare(k, range.lte) > 0) return false;
    return true;
  });
  if (range.reverse === true) out = out.reverse();
  if (range.limit !== undefined) out = out.slice(0, range.limit);
  return out;
}

/** Runs `node engine-child.ts …` (optionally under a file size limit) and returns its JSON lines. */
function runChild(args: readonly string[], fileBlocksMax?: number): Promise<{ code: number | null; lines: Record<string, unknown>[]; stderr: string }> {
  const cmd = fileBlocksMax === undefined ? process.execPath : '/bin/sh';
  const argv =
    fileBlocksMax === undefined
      ? [CHILD, ...args]
      : ['-c', `ulimit -f ${fileBlocksMax} && exec "$0" "$@"`, process.execPath, CHILD, ...args];
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, argv, { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => {
      const lines = stdout
        .split('\n')
        .filter((l) => l.startsWith('{'))
        .map((l) => JSON.parse(l) as Record<string, unknown>);
      resolve({ code, lines, stderr });
    });
  });
}

/** Starts the `loop` child, SIGKILLs it once it reported `minCommitted`, returns the last batch it saw resolve. */
function killLoopChild(kind: EngineKind, dir: string, from: number, minCommitted: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CHILD, kind, dir, 'loop', String(from)], { stdio: ['ignore', 'pipe', 'pipe'] });
    let buffered = '';
    let last = from - 1;
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.stdout.on('data', (d: Buffer) => {
      buffered += d.toString();
      const lines = buffered.split('\n');
      buffered = lines.pop() ?? '';
      for (const line of lines) {
        const committed = (JSON.parse(line) as { committed: number }).committed;
        last = committed;
        if (committed >= minCommitted) child.kill('SIGKILL');
      }
    });
    child.on('error', reject);
    child.on('close', (code, signal) => {
      if (signal === 'SIGKILL') resolve(last);
      else reject(new Error(`loop child exited with ${code}: ${stderr}`));
    });
  });
}

/** Asserts batches 1..checkpoint are whole and no later batch left a key. */
async function assertBatchesUpTo(
  engine: StorageEngine,
  checkpoint: number,
  probeBeyond: number,
  shape: (n: number) => { readonly keys: number; readonly valueBytes: number },
): Promise<void> {
  for (let n = 1; n <= checkpoint; n++) {
    const { keys, valueBytes } = shape(n);
    const values = await engine.getMany(Array.from({ length: keys }, (_, j) => batchKey(n, j)));
    values.forEach((v, j) => assert.deepEqual(v && Buffer.from(v), batchValue(n, j, valueBytes), `batch ${n} key ${j}`));
  }
  for (let n = checkpoint + 1; n <= checkpoint + probeBeyond; n++) {
    assert.equal(await engine.get(batchKey(n, 0)), undefined, `batch ${n} is past the checkpoint ${checkpoint}`);
  }
  const latest = await engine.get(LATEST_KEY);
  assert.equal(latest === undefined ? 0 : Buffer.from(latest).readUInt32BE(0), checkpoint, 'latest batch equals the checkpoint');
}

const loopShape = (): { keys: number; valueBytes: number } => ({ keys: BATCH_KEYS, valueBytes: 100 });

/** The shared suite for one engine kind. */
export function runEngineSuite(kind: EngineKind): void {
  const open = (dir: string): Promise<StorageEngine> => openEngine(kind, { dir });

  describe(`${kind} engine (StorageEngine contract)`, () => {
    test('a new engine is empty with checkpoint 0', async () => {
      const engine = await open(path.join(tempDir(), 'idx'));
      try {
        assert.equal(engine.kind, kind);
        assert.equal(await engine.checkpointLsn(), 0n);
        assert.equal(await engine.get(Buffer.from('a')), undefined);
        assert.deepEqual(await collect(engine, {}), []);
        assert.deepEqual(await collect(engine, { reverse: true }), []);
      } finally {
        await engine.close();
      }
    });

    test('put, get, del and getMany', async () => {
      const engine = await open(path.join(tempDir(), 'idx'));
      try {
        const b1 = engine.batch();
        b1.put(Buffer.from('a'), Buffer.from('1'));
        b1.put(Buffer.from('b'), Buffer.from('2'));
        b1.put(new Uint8Array([0x63]), new Uint8Array([0x33]));
        assert.equal(b1.size, 3);
        await b1.commit(5n);
        assert.deepEqual(Buffer.from((await engine.get(Buffer.from('b')))!), Buffer.from('2'));
        const many = await engine.getMany([Buffer.from('c'), Buffer.from('zz'), Buffer.from('a')]);
        assert.deepEqual(many.map((v) => v && Buffer.from(v).toString()), ['3', undefined, '1']);
        assert.deepEqual(await engine.getMany([]), []);

        const b2 = engine.batch();
        b2.del(Buffer.from('b'));
        b2.del(Buffer.from('never-there'));
        b2.put(Buffer.from('a'), Buffer.from('one'));
        assert.equal(b2.size, 3);
        await b2.commit(6n);
        assert.equal(await engine.get(Buffer.from('b')), undefined);
        assert.equal(Buffer.from((await engine.get(Buffer.from('a')))!).toString(), 'one');
        assert.deepEqual(
          (await collect(engine, {})).map(([k, v]) => `${k}=${v}`),
          ['a=one', 'c=3'],
        );
        assert.equal(await engine.checkpointLsn(), 6n);
      } finally {
        await engine.close();
      }
    });

    test('putSpared stores the key past its spare byte, as put does, whatever that byte held', async () => {
      const engine = await open(path.join(tempDir(), 'idx'));
      try {
        const b = engine.batch();
        b.put(Buffer.from('k1'), Buffer.from('put'));
        b.putSpared(Buffer.from('\xffk2', 'latin1'), Buffer.from('spared'));
        b.putSpared(Buffer.from('\x00k0', 'latin1'), new Uint8Array([0x7a]));
        b.putSpared(Buffer.concat([Buffer.from([0x64]), Buffer.alloc(ENGINE_KEY_BYTES_MAX, 0xab)]), Buffer.from('longest'));
        assert.throws(() => b.putSpared(Buffer.alloc(ENGINE_KEY_BYTES_MAX + 2, 0xab), Buffer.from('no')), (err) => isSluiceError(err, 'KEY_TOO_LARGE'));
        assert.throws(() => b.putSpared(Buffer.from([0x64]), Buffer.from('no')), /must not be empty/);
        assert.equal(b.size, 4);
        await b.commit(1n);
        assert.deepEqual(
          (await collect(engine, { lt: Buffer.from([0xab]) })).map(([k, v]) => `${k}=${v}`),
          ['k0=z', 'k1=put', 'k2=spared'],
        );
        assert.equal(Buffer.from((await engine.get(Buffer.alloc(ENGINE_KEY_BYTES_MAX, 0xab)))!).toString(), 'longest');
      } finally {
        await engine.close();
      }
    });

    test('binary keys with 0x00 and 0xFF bytes iterate in memcmp order', async () => {
      const engine = await open(path.join(tempDir(), 'idx'));
      try {
        const raw = [
          [0x00],
          [0x00, 0x00],
          [0x00, 0xff],
          [0x01],
          [0x7f, 0xff, 0xff],
          [0x80],
          [0xfe, 0xff],
          [0xff],
          [0xff, 0x00],
          [0xff, 0xff, 0xff, 0xff],
          [0xff, 0xff, 0xff, 0xff, 0xff],
        ].map((b) => Buffer.from(b));
        const ints = [-(2n ** 63n), -(10n ** 12n), -256n, -1n, 0n, 1n, 255n, 2n ** 53n + 1n, 2n ** 63n - 1n];
        const intKeys = ints.map((n) => Buffer.concat([Buffer.from('i'), int64Key(n)]));
        const all = [...raw, ...intKeys];
        // Insert in a scrambled order so the engine, not insertion, orders them.
        const rand = prng(7);
        const shuffled = [...all].sort(() => rand() - 0.5);
        await put(engine, shuffled.map((k, i) => [k, Buffer.from([i])] as const), 1n);
        const expected = [...all].sort(Buffer.compare).map((k) => k.toString('hex'));
        assert.deepEqual((await collect(engine, {})).map(([k]) => k.toString('hex')), expected);
        assert.deepEqual((await collect(engine, { reverse: true })).map(([k]) => k.toString('hex')), [...expected].reverse());
        // Sign-flipped integers come back in numeric order.
        const scanned = await collect(engine, { gte: Buffer.from('i'), lt: Buffer.from('j') });
        assert.deepEqual(
          scanned.map(([k]) => BigInt.asIntN(64, k.readBigUInt64BE(1) ^ (1n << 63n))),
          ints,
        );
        // The smallest possible key is found from both ends.
        assert.deepEqual((await collect(engine, { lte: Buffer.from([0x00]), reverse: true })).map(([k]) => k.toString('hex')), ['00']);
        assert.deepEqual((await collect(engine, { limit: 1 })).map(([k]) => k.toString('hex')), ['00']);
      } finally {
        await engine.close();
      }
    });

    test('iterate honours every bound combination, reverse and limit (seeded random ranges)', async () => {
      const engine = await open(path.join(tempDir(), 'idx'));
      try {
        const rand = prng(42);
        const byte = (): number => {
          const r = rand();
          return r < 0.2 ? 0x00 : r < 0.4 ? 0xff : Math.floor(rand() * 256);
        };
        const randomKey = (): Buffer => Buffer.from(Array.from({ length: 1 + Math.floor(rand() * 4) }, byte));
        const map = new Map<string, Buffer>();
        while (map.size < 300) map.set(randomKey().toString('hex'), Buffer.from(Array.from({ length: Math.floor(rand() * 5) }, byte)));
        const sorted = [...map].map(([k, v]) => [Buffer.from(k, 'hex'), v] as const).sort((a, b) => Buffer.compare(a[0], b[0]));
        await put(engine, sorted, 1n);
        const keys = sorted.map(([k]) => k);
        const pick = (): Buffer => (rand() < 0.6 ? (keys[Math.floor(rand() * keys.length)] as Buffer) : randomKey());
        let checked = 0;
        for (let i = 0; i < 60; i++) {
          const a = pick();
          const b = pick();
          const [low, high] = Buffer.compare(a, b) <= 0 || rand() < 0.1 ? [a, b] : [b, a]; // sometimes inverted
          for (const lower of ['none', 'gte', 'gt'] as const) {
            for (const upper of ['none', 'lt', 'lte'] as const) {
              for (const reverse of [false, true]) {
                const limit = [undefined, 0, 1, 7, 1000][Math.floor(rand() * 5)];
                const range: { -readonly [K in keyof KeyRange]: KeyRange[K] } = { reverse };
                if (lower !== 'none') range[lower] = low;
                if (upper !== 'none') range[upper] = high;
                if (limit !== undefined) range.limit = limit;
                const label = JSON.stringify({ lower, upper, reverse, limit, low: low.toString('hex'), high: high.toString('hex') });
                assert.deepEqual(hex(await collect(engine, range)), hex(model(sorted, range)), label);
                assert.deepEqual(hex(await collectChunks(engine, range)), hex(model(sorted, range)), `chunks of ${label}`);
                checked++;
              }
            }
          }
        }
        assert.equal(checked, 60 * 18);
      } finally {
        await engine.close();
      }
    });

    test('the checkpoint is returned after commit, including LSNs past 2^53 and u64 max', async () => {
      const dir = path.join(tempDir(), 'idx');
      let engine = await open(dir);
      try {
        await put(engine, [[Buffer.from('k'), Buffer.from('v')]], 2n ** 53n + 1n);
        assert.equal(await engine.checkpointLsn(), 2n ** 53n + 1n);
        await engine.batch().commit(2n ** 64n - 1n); // an empty batch still moves the checkpoint
        assert.equal(await engine.checkpointLsn(), 2n ** 64n - 1n);
        await engine.close();
        engine = await open(dir);
        assert.equal(await engine.checkpointLsn(), 2n ** 64n - 1n);
      } finally {
        await engine.close();
      }
    });

    test('batches commit in call order', async () => {
      const engine = await open(path.join(tempDir(), 'idx'));
      try {
        const resolved: number[] = [];
        const commits: Promise<void>[] = [];
        for (let i = 1; i <= 60; i++) {
          const batch = engine.batch();
          batch.put(Buffer.from('same'), Buffer.from(String(i)));
          batch.put(Buffer.from(`k${String(i).padStart(3, '0')}`), Buffer.alloc(i * 100, i));
          if (i > 1) batch.del(Buffer.from(`k${String(i - 1).padStart(3, '0')}`));
          commits.push(batch.commit(BigInt(i)).then(() => void resolved.push(i)));
        }
        await Promise.all(commits);
        assert.deepEqual(resolved, Array.from({ length: 60 }, (_, i) => i + 1));
        assert.equal(Buffer.from((await engine.get(Buffer.from('same')))!).toString(), '60');
        assert.equal(await engine.checkpointLsn(), 60n);
        assert.deepEqual((await collect(engine, { lt: Buffer.from('l') })).map(([k]) => k.toString()), ['k060']);
      } finally {
        await engine.close();
      }
    });

    test('reopening after close keeps data and checkpoint', async () => {
      const dir = path.join(tempDir(), 'idx');
      let engine = await open(dir);
      await put(engine, [[Buffer.from('x'), Buffer.from('1')], [Buffer.from('y'), Buffer.from('2')]], 10n);
      await engine.sync();
      await put(engine, [[Buffer.from('z'), Buffer.from('3')]], 11n); // committed, not synced: close makes it durable
      await engine.close();
      engine = await open(dir);
      try {
        assert.equal(await engine.checkpointLsn(), 11n);
        assert.deepEqual((await collect(engine, {})).map(([k, v]) => `${k}=${v}`), ['x=1', 'y=2', 'z=3']);
      } finally {
        await engine.close();
      }
    });

    test('a 100k-entry batch commits and iterates in full, in order', async () => {
      const engine = await open(path.join(tempDir(), 'idx'));
      try {
        const rand = prng(100);
        const count = 100_000;
        const batch = engine.batch();
        const expected = new Map<string, number>();
        for (let i = 0; i < count; i++) {
          const key = Buffer.alloc(16);
          for (let j = 0; j < 16; j += 4) key.writeUInt32BE(Math.floor(rand() * 2 ** 32), j);
          const value = Buffer.alloc(8);
          value.writeDoubleBE(i);
          batch.put(key, value);
          expected.set(key.toString('hex'), i);
        }
        await batch.commit(1n);
        let n = 0;
        let previous: Buffer | undefined;
        for await (const [k, v] of engine.iterate({})) {
          const key = Buffer.from(k);
          if (previous !== undefined) assert.ok(Buffer.compare(previous, key) < 0, 'strictly ascending');
          assert.equal(Buffer.from(v).readDoubleBE(0), expected.get(key.toString('hex')));
          previous = key;
          n++;
        }
        assert.equal(n, expected.size);
        let reversed = 0;
        for await (const _ of engine.iterate({ reverse: true })) reversed++;
        assert.equal(reversed, expected.size);
        const chunked = await collectChunks(engine, {});
        assert.equal(chunked.length, expected.size);
        assert.ok(chunked.every(([k, v], i) => i === 0 || (Buffer.compare(chunked[i - 1]![0], k) < 0 && v.readDoubleBE(0) === expected.get(k.toString('hex')))), 'chunks hold every entry in order');
      } finally {
        await engine.close();
      }
    });

    test('values up to 1 MiB round-trip, and returned buffers stay valid after later reads and writes', async () => {
      const engine = await open(path.join(tempDir(), 'idx'));
      try {
        const sizes = [0, 1, 100, 4095, 4096, 8193, 65_536, 1024 * 1024];
        const value = (size: number, salt: number): Buffer => {
          const out = Buffer.alloc(size);
          for (let i = 0; i < size; i++) out[i] = (i * 7 + salt) & 0xff;
          return out;
        };
        const key = (size: number): Buffer => Buffer.from(`v${String(size).padStart(8, '0')}`);
        await put(engine, sizes.map((s) => [key(s), value(s, 1)] as const), 1n);

        const got = await Promise.all(sizes.map((s) => engine.get(key(s))));
        const many = await engine.getMany(sizes.map(key));
        const scanned: (readonly [Uint8Array, Uint8Array])[] = [];
        for await (const entry of engine.iterate({})) scanned.push(entry); // kept as returned, no copy
        const chunked = await collectChunks(engine, {});
        assert.deepEqual(hex(chunked), hex(scanned), 'chunks of large values');
        // Overwrite everything and read it again: the kept buffers must not change.
        await put(engine, sizes.map((s) => [key(s), value(s, 2)] as const), 2n);
        for await (const _ of engine.iterate({ reverse: true })) {
          // walks the new values through the same read paths
        }
        await Promise.all(sizes.map((s) => engine.get(key(s))));
        sizes.forEach((s, i) => {
          assert.ok(value(s, 1).equals(got[i]!), `get ${s}`);
          assert.ok(value(s, 1).equals(many[i]!), `getMany ${s}`);
          assert.ok(key(s).equals(scanned[i]![0]), `iterate key ${s}`);
          assert.ok(value(s, 1).equals(scanned[i]![1]), `iterate value ${s}`);
        });
        const now = await engine.get(key(1024 * 1024));
        assert.ok(value(1024 * 1024, 2).equals(now!));
      } finally {
        await engine.close();
      }
    });

    test(`keys up to ${ENGINE_KEY_BYTES_MAX} bytes work; longer ones throw KEY_TOO_LARGE`, async () => {
      const engine = await open(path.join(tempDir(), 'idx'));
      try {
        const longest = Buffer.alloc(ENGINE_KEY_BYTES_MAX, 0xab);
        const tooLong = Buffer.alloc(ENGINE_KEY_BYTES_MAX + 1, 0xab);
        const batch = engine.batch();
        batch.put(longest, Buffer.from('ok'));
        assert.throws(() => batch.put(tooLong, Buffer.from('no')), (err) => isSluiceError(err, 'KEY_TOO_LARGE'));
        assert.throws(() => batch.del(tooLong), (err) => isSluiceError(err, 'KEY_TOO_LARGE'));
        await batch.commit(1n);
        assert.equal(Buffer.from((await engine.get(longest))!).toString(), 'ok');
        await assert.rejects(engine.get(tooLong), (err) => isSluiceError(err, 'KEY_TOO_LARGE'));
        await assert.rejects(collect(engine, { gte: tooLong }), (err) => isSluiceError(err, 'KEY_TOO_LARGE'));
        assert.deepEqual((await collect(engine, { gte: longest })).length, 1);
      } finally {
        await engine.close();
      }
    });

    test('close is idempotent; later calls reject with SHUTTING_DOWN', async () => {
      const engine = await open(path.join(tempDir(), 'idx'));
      await put(engine, [[Buffer.from('a'), Buffer.from('1')]], 1n);
      const pending = engine.batch();
      pending.put(Buffer.from('b'), Buffer.from('2'));
      const first = engine.close();
      const second = engine.close();
      await Promise.all([first, second]);
      await engine.close();
      const closed = (err: unknown): boolean => isSluiceError(err, 'SHUTTING_DOWN');
      await assert.rejects(pending.commit(2n), closed);
      assert.throws(() => engine.batch(), closed);
      await assert.rejects(engine.get(Buffer.from('a')), closed);
      await assert.rejects(engine.getMany([Buffer.from('a')]), closed);
      await assert.rejects(engine.checkpointLsn(), closed);
      await assert.rejects(engine.sync(), closed);
      await assert.rejects(collect(engine, {}), closed);
    });

    for (const scanKind of ['iterate', 'iterateChunks'] as const) {
      test(`close during a scan (${scanKind}) ends it with SHUTTING_DOWN; an abandoned scan releases its cursor`, async () => {
        const scan = (e: StorageEngine): AsyncIterable<unknown> => (scanKind === 'iterate' ? e.iterate({}) : e.iterateChunks({}));
        const count = async (e: StorageEngine): Promise<number> => (await (scanKind === 'iterate' ? collect(e, {}) : collectChunks(e, {}))).length;
        const dir = path.join(tempDir(), 'idx');
        const engine = await open(dir);
        await put(engine, Array.from({ length: 5000 }, (_, i) => [Buffer.from(`k${String(i).padStart(5, '0')}`), Buffer.alloc(50, i)] as const), 1n);
        // Abandon one scan early (break), then keep writing: nothing may stay pinned or broken.
        for await (const _ of scan(engine)) break;
        await put(engine, [[Buffer.from('after-break'), Buffer.from('1')]], 2n);
        const iterator = scan(engine)[Symbol.asyncIterator]();
        assert.equal((await iterator.next()).done, false);
        await engine.close();
        await assert.rejects(
          (async () => {
            for (;;) if ((await iterator.next()).done === true) return;
          })(),
          (err) => isSluiceError(err, 'SHUTTING_DOWN'),
        );
        await assert.rejects(count(engine), (err) => isSluiceError(err, 'SHUTTING_DOWN'));
        const reopened = await open(dir);
        try {
          assert.equal(await reopened.checkpointLsn(), 2n);
          assert.equal(await count(reopened), 5001);
        } finally {
          await reopened.close();
        }
      });
    }

    test('SIGKILL during commits: the checkpoint covers exactly the whole batches that survive', { timeout: 120_000 }, async () => {
      const dir = path.join(tempDir(), 'idx');
      let from = 1;
      for (let round = 0; round < 3; round++) {
        const lastResolved = await killLoopChild(kind, dir, from, from + 40 + round * 25);
        const engine = await open(dir);
        try {
          const checkpoint = Number(await engine.checkpointLsn());
          // A commit that resolved before the kill is in the page cache: it must survive.
          assert.ok(checkpoint >= lastResolved, `checkpoint ${checkpoint} >= last resolved ${lastResolved}`);
          await assertBatchesUpTo(engine, checkpoint, 3, loopShape);
          from = checkpoint + 1;
        } finally {
          await engine.close();
        }
      }
    });

    test('a commit that fails (file size limit) leaves neither its data nor its checkpoint, and later commits fail', { timeout: 120_000 }, async () => {
      const dir = path.join(tempDir(), 'idx');
      // 4096 blocks: 2 MiB with 512-byte blocks (dash), 4 MiB with 1 KiB blocks (bash).
      const { lines, stderr } = await runChild([kind, dir, 'fill', '2000'], 4096);
      const report = lines.at(-1);
      assert.ok(report !== undefined, `fill child printed no report: ${stderr}`);
      const lastOk = report.lastOk as number;
      assert.ok(report.failedAt !== null, 'the file size limit made a commit fail');
      assert.equal(report.failedAt, lastOk + 1);
      assert.ok(lastOk >= 1, 'some commits fit under the limit');
      // The failed commit, any commit queued behind it, and three later ones all fail.
      const codes = report.codes as string[];
      assert.ok(['STORAGE_IO', 'DISK_FULL'].includes(codes[0] as string), `fail code ${String(codes[0])}`);
      assert.deepEqual(codes.slice(1), codes.slice(1).map(() => 'STORAGE_IO'));
      assert.ok(codes.length >= 4);
      const engine = await open(dir);
      try {
        assert.equal(Number(await engine.checkpointLsn()), lastOk);
        await assertBatchesUpTo(engine, lastOk, 5, fillShape);
        // And the engine works again once the limit is gone.
        await put(engine, [[Buffer.from('after'), Buffer.from('1')]], BigInt(lastOk + 1));
        assert.equal(await engine.checkpointLsn(), BigInt(lastOk + 1));
      } finally {
        await engine.close();
      }
    });
  });
}
