/**
 * (b) Damaged WAL files on a real node: a torn tail is truncated at the last
 * good frame and logged, and the node starts with every acknowledged
 * record; a corrupted frame before the tail stops start-up with an error
 * naming the segment and offset, unless `--wal-recovery=truncate`.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { appendFileSync, readdirSync, readFileSync, writeFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { NodeProcess, http, tempDir } from './harness.ts';
import { createLedger } from './load.ts';

const SEGMENT_HEADER_BYTES = 20;
const FRAME_HEADER_BYTES = 8;
/** The classic layout these byte-level checks were written for: segments that grow by appending. */
const APPENDING = ['--wal-prealloc-segments-ahead', '0'];
/** Preallocated segments small enough that the first spare is ready at once. */
const PREALLOCATED = ['--wal-prealloc-segments-ahead', '1', '--wal-segment-bytes-max', String(1024 * 1024), '--disk-free-bytes-min', '0'];

function lastSegment(dataDir: string): string {
  const dir = path.join(dataDir, 'wal');
  const names = readdirSync(dir).filter((n) => n.endsWith('.wal')).sort();
  const last = names.at(-1);
  assert.ok(last !== undefined, 'a WAL segment exists');
  return path.join(dir, last);
}

/** Byte offsets of every frame in a segment (walking the length fields). */
function frameOffsets(file: string): number[] {
  const buf = readFileSync(file);
  const offsets: number[] = [];
  let at = SEGMENT_HEADER_BYTES;
  while (at + FRAME_HEADER_BYTES <= buf.length) {
    const len = buf.readUInt32LE(at);
    if (len === 0 || at + FRAME_HEADER_BYTES + len > buf.length) break;
    offsets.push(at);
    at += FRAME_HEADER_BYTES + len;
  }
  return offsets;
}

async function writeBatches(url: string, requests: number): Promise<string[]> {
  const ids: string[] = [];
  for (let r = 0; r < requests; r++) {
    const body = Array.from({ length: 10 }, (_, i) => JSON.stringify({ account: `a${i % 3}`, ts: r * 100 + i, tag: `r${r}-${i}`, amount: '1.00', n: i })).join('\n');
    const res = await http(`${url}/v1/tables/ledger/records`, { method: 'POST', body, headers: { 'content-type': 'application/x-ndjson' } });
    assert.equal(res.status, 200, res.text);
    ids.push(...(res.body.ids as string[]));
  }
  return ids;
}

/**
 * Flips a byte in the payload of the 11th frame of `seg` (its CRC no longer
 * matches, valid frames follow) and checks that a node started with `args`
 * refuses to start, naming the segment and the frame's offset.
 */
async function flipEarlyFrameAndFailStart(dataDir: string, seg: string, args: readonly string[]): Promise<void> {
  const offsets = frameOffsets(seg);
  assert.ok(offsets.length >= 30, `expected many frames, found ${offsets.length}`);
  const victim = offsets[10] as number;
  const buf = readFileSync(seg);
  const at = victim + FRAME_HEADER_BYTES + 20;
  buf[at] = (buf[at] as number) ^ 0xff;
  writeFileSync(seg, buf);
  const broken = NodeProcess.spawn({ dataDir, args });
  const exit = await broken.waitExit();
  assert.notEqual(exit.code, 0, 'start-up must fail');
  const text = broken.stderr + JSON.stringify(broken.logs);
  assert.match(text, /WAL_CORRUPT/);
  assert.ok(text.includes(path.basename(seg)), `the error names the segment: ${text.slice(0, 2000)}`);
  assert.ok(text.includes(String(victim)), `the error names the offset ${victim}`);
}

test('a torn WAL tail is truncated at the last good frame and reported', async (t) => {
  const dataDir = tempDir(t);
  const node = await NodeProcess.start(t, { dataDir, args: APPENDING });
  await createLedger(node.url);
  const ids = await writeBatches(node.url, 20);
  await node.kill('SIGKILL');

  const seg = lastSegment(dataDir);
  const sizeBefore = statSync(seg).size;
  // A frame header promising 4 KiB and only part of it: what a crash mid-write leaves.
  const torn = Buffer.alloc(FRAME_HEADER_BYTES + 100, 0x5a);
  torn.writeUInt32LE(4096, 0);
  appendFileSync(seg, torn);

  const again = await NodeProcess.start(t, { dataDir, args: APPENDING });
  const recovered = again.events('wal_recovered')[0];
  assert.ok(recovered !== undefined);
  assert.ok(recovered['tornTail'] !== null && typeof recovered['tornTail'] === 'object', `torn tail reported: ${JSON.stringify(recovered)}`);
  assert.equal(statSync(seg).size, sizeBefore, 'the torn bytes were cut off exactly');
  for (const id of [ids[0], ids[ids.length - 1]]) {
    const got = await http(`${again.url}/v1/tables/ledger/records/${id}`);
    assert.equal(got.status, 200);
  }
  const all = await http(`${again.url}/v1/tables/ledger/export`);
  assert.equal(all.text.trim().split('\n').length, ids.length);
});

test('a corrupted frame before the tail stops start-up naming segment and offset; truncate mode starts', async (t) => {
  const dataDir = tempDir(t);
  const node = await NodeProcess.start(t, { dataDir, args: APPENDING });
  await createLedger(node.url);
  const ids = await writeBatches(node.url, 30);
  await node.kill('SIGKILL');

  const seg = lastSegment(dataDir);
  await flipEarlyFrameAndFailStart(dataDir, seg, APPENDING);

  const truncated = await NodeProcess.start(t, { dataDir, args: [...APPENDING, '--wal-recovery', 'truncate'] });
  const recovered = truncated.events('wal_recovered')[0];
  assert.ok(recovered?.['corruption'] !== null && recovered?.['corruption'] !== undefined, 'the corruption is reported');
  const health = await http(`${truncated.url}/readyz`);
  assert.equal(health.status, 200);
  // Whatever the index had applied before the crash stays; the node serves and takes writes again.
  const first = await http(`${truncated.url}/v1/tables/ledger/records/${ids[0]}`);
  assert.equal(first.status, 200);
  const w = await http(`${truncated.url}/v1/tables/ledger/records`, {
    method: 'POST',
    body: JSON.stringify({ account: 'z', ts: 1, tag: 'after', amount: '2', n: 2 }),
  });
  assert.equal(w.status, 200, w.text);
});

/** Waits until the node moved into a preallocated segment (its header flag), so the writes below land in one. */
async function untilPreallocated(dataDir: string): Promise<string> {
  for (let i = 0; i < 100; i++) {
    const seg = lastSegment(dataDir);
    if (statSync(seg).size === 1024 * 1024 && ((readFileSync(seg)[6] ?? 0) & 1) === 1) return seg;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  assert.fail('the node never moved into a preallocated segment');
}

test('preallocated segments: a torn write over the zero tail is cut at the last good frame; nothing acknowledged is lost', async (t) => {
  const dataDir = tempDir(t);
  const node = await NodeProcess.start(t, { dataDir, args: PREALLOCATED });
  await createLedger(node.url);
  await writeBatches(node.url, 1); // the write that moves the node into its spare
  const seg = await untilPreallocated(dataDir);
  const ids = await writeBatches(node.url, 20);
  await node.kill('SIGKILL');

  const offsets = frameOffsets(seg);
  const buf = readFileSync(seg);
  const end = offsets.at(-1)! + FRAME_HEADER_BYTES + buf.readUInt32LE(offsets.at(-1)!);
  assert.ok(buf.subarray(end).every((b) => b === 0), 'a zero tail follows the frames');
  // A frame header promising 4 KiB and only part of it, written over the zeros.
  const torn = Buffer.alloc(FRAME_HEADER_BYTES + 100, 0x5a);
  torn.writeUInt32LE(4096, 0);
  torn.copy(buf, end);
  writeFileSync(seg, buf);

  const again = await NodeProcess.start(t, { dataDir, args: PREALLOCATED });
  const recovered = again.events('wal_recovered')[0];
  assert.ok(recovered !== undefined);
  const tornTail = recovered['tornTail'] as { offset?: number } | null;
  assert.equal(tornTail?.offset, end, `torn tail reported at the end of the frames: ${JSON.stringify(recovered)}`);
  assert.equal(recovered['corruption'], null);
  for (const id of [ids[0], ids[ids.length - 1]]) {
    const got = await http(`${again.url}/v1/tables/ledger/records/${id}`);
    assert.equal(got.status, 200);
  }
  const all = await http(`${again.url}/v1/tables/ledger/export`);
  assert.equal(all.text.trim().split('\n').length, ids.length + 10);
});

test('preallocated segments: a corrupted frame before the tail still stops start-up naming segment and offset', async (t) => {
  const dataDir = tempDir(t);
  const node = await NodeProcess.start(t, { dataDir, args: PREALLOCATED });
  await createLedger(node.url);
  await writeBatches(node.url, 1);
  const seg = await untilPreallocated(dataDir);
  await writeBatches(node.url, 30);
  await node.kill('SIGKILL');

  await flipEarlyFrameAndFailStart(dataDir, seg, PREALLOCATED);
});
