import assert from 'node:assert/strict';
import { test } from 'node:test';
import { dedupeKeyAt } from '../../../src/ingest/dedupe-keys.ts';
import { lettersOf } from '../../../src/sources/kafka/dead-letter.ts';
import { OFFSET_DIGITS, PackedBatch, type KafkaMessage } from '../../../src/sources/kafka/packed-batch.ts';

/** A message as the client delivers one: only the fields the source reads are real. */
function message(partition: number, offset: bigint, value: string | undefined, key?: string, headers: [string, string][] = []): KafkaMessage {
  return {
    topic: 'payments',
    partition,
    offset,
    leaderEpoch: partition + 7,
    key: key === undefined ? undefined : Buffer.from(key),
    value: value === undefined ? undefined : Buffer.from(value),
    headers: new Map(headers.map(([k, v]) => [Buffer.from(k), Buffer.from(v)])),
  } as unknown as KafkaMessage;
}

/** Packs `messages` greedily, as the source does: a new batch whenever the next message does not fit. */
function pack(messages: KafkaMessage[], recordsMax: number, bytesMax: number): PackedBatch[] {
  const batches: PackedBatch[] = [];
  for (const m of messages) {
    let open = batches.at(-1);
    if (open === undefined || !open.fits(m)) batches.push((open = new PackedBatch('payments', recordsMax, bytesMax)));
    open.add(m);
  }
  return batches;
}

/** Deterministic pseudo-random messages over three partitions, offsets rising per partition, values 0–300 bytes. */
function randomMessages(n: number, seed: number): KafkaMessage[] {
  let s = seed;
  const rand = (): number => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
  const next = [0n, 1000n, 2n ** 40n];
  return Array.from({ length: n }, (_, i) => {
    const p = Math.floor(rand() * 3);
    const offset = (next[p] as bigint) + BigInt(Math.floor(rand() * 3));
    next[p] = offset + 1n;
    const value = rand() < 0.05 ? undefined : `{"i":${i},"pad":"${'x'.repeat(Math.floor(rand() * 300))}"}`;
    const key = rand() < 0.2 ? undefined : `k-${i}`;
    const headers: [string, string][] = rand() < 0.1 ? [[`h${i}`, `v${i}`]] : [];
    return message(p, offset, value, key, headers);
  });
}

test('batches keep their bounds: at most recordsMax messages, and past one message at most bytesMax value bytes', () => {
  const messages = randomMessages(2_000, 7);
  for (const [recordsMax, bytesMax] of [[100, 1_000_000], [5_000, 4_096], [3, 200], [1, 10]] as const) {
    const batches = pack(messages, recordsMax, bytesMax);
    assert.equal(batches.reduce((n, b) => n + b.count, 0), messages.length);
    for (const b of batches) {
      assert.ok(b.count >= 1 && b.count <= recordsMax, `count ${b.count} within 1..${recordsMax}`);
      if (b.count > 1) assert.ok(b.bytes <= bytesMax, `${b.bytes} bytes within ${bytesMax}`);
    }
    // Greedy: a batch was closed only because the next message did not fit it.
    for (let i = 0; i + 1 < batches.length; i++) {
      const b = batches[i] as PackedBatch;
      const firstOfNext = (batches[i + 1] as PackedBatch).letterMessage(0);
      assert.ok(b.count === recordsMax || b.bytes + (firstOfNext.value?.length ?? 0) > bytesMax);
    }
  }
});

test('the body, frames, dedupe keys and offsets equal what the messages say, across many batches and past the first slots', () => {
  const messages = randomMessages(5_000, 11);
  // 700 messages or 64 KiB; then batches of up to 3,000, past the 1,024 message slots a batch starts with.
  for (const [recordsMax, bytesMax] of [[700, 64 * 1024], [3_000, 10 * 1024 * 1024]] as const) checkBatches(messages, pack(messages, recordsMax, bytesMax));
});

function checkBatches(messages: KafkaMessage[], batches: PackedBatch[]): void {
  let at = 0;
  for (const b of batches) {
    const { body, frames } = b.frameBody();
    const batchMessages = messages.slice(at, at + b.count);
    at += b.count;
    assert.equal(frames.length, b.count);
    assert.deepEqual(body, Buffer.concat(batchMessages.map((m) => m.value ?? Buffer.alloc(0))));
    assert.deepEqual([...frames], batchMessages.map((m) => m.value?.length ?? 0));
    const dedupe = b.dedupeKeys();
    batchMessages.forEach((m, i) => {
      assert.equal(dedupeKeyAt(dedupe, i), `kafka:payments:${m.partition}:${String(m.offset).padStart(OFFSET_DIGITS, '0')}`);
    });
    const newest = new Map<number, KafkaMessage>();
    for (const m of batchMessages) if ((newest.get(m.partition)?.offset ?? -1n) < m.offset) newest.set(m.partition, m);
    assert.deepEqual(b.nextOffsets(), new Map([...newest].map(([p, m]) => [p, { offset: m.offset + 1n, leaderEpoch: p + 7 }])));
    assert.deepEqual(b.newest, newest);
    // Letters read the same slots the write does.
    assert.equal(b.letterMessage(b.count - 1).offset, batchMessages.at(-1)?.offset);
  }
  assert.equal(at, messages.length);
}

test('a dead letter gets its message back: key, value, headers, partition and offset, tombstones and keyless ones too', () => {
  const messages = randomMessages(500, 3);
  const [b] = pack(messages, 1_000, 10_000_000);
  assert.ok(b !== undefined && b.count === messages.length);
  messages.forEach((m, i) => {
    const got = b.letterMessage(i);
    assert.deepEqual(got.key, m.key);
    assert.deepEqual(got.value, m.value);
    assert.deepEqual([...got.headers], [...m.headers]);
    assert.equal(got.topic, 'payments');
    assert.equal(got.partition, m.partition);
    assert.equal(got.offset, m.offset);
  });
  assert.ok(messages.some((m) => m.value === undefined) && messages.some((m) => m.key === undefined) && messages.some((m) => m.headers.size > 0));
  assert.throws(() => b.letterMessage(messages.length), RangeError);
});

test('a letter holds copies, not views of the client buffers it came from', () => {
  const m = message(0, 5n, '{"a":1}', 'key', [['h', 'v']]);
  const b = new PackedBatch('payments', 10, 1_000);
  b.add(m);
  (m.value as Buffer).fill(0);
  (m.key as Buffer).fill(0);
  for (const [k, v] of m.headers) {
    k.fill(0);
    v.fill(0);
  }
  const got = b.letterMessage(0);
  assert.equal(got.value?.toString(), '{"a":1}');
  assert.equal(got.key?.toString(), 'key');
  assert.deepEqual([...got.headers].map(([k, v]) => [k.toString(), v.toString()]), [['h', 'v']]);
});

test('an offset past 2^53 is refused when the batch is written, as a number would round it', () => {
  const b = new PackedBatch('payments', 10, 1_000);
  b.add(message(2, 2n ** 53n + 2n, '{}'));
  assert.throws(() => b.dedupeKeys(), /offset 9007199254740994 of partition 2 is past 2\^53/);
  const ok = new PackedBatch('payments', 10, 1_000);
  ok.add(message(2, 2n ** 53n - 1n, '{}'));
  assert.equal(dedupeKeyAt(ok.dedupeKeys(), 0), `kafka:payments:2:${String(2n ** 53n - 1n).padStart(OFFSET_DIGITS, '0')}`);
});

test('an empty batch takes a message larger than its byte bound; a full one takes nothing more', () => {
  const b = new PackedBatch('payments', 2, 10);
  const big = message(0, 0n, 'x'.repeat(50));
  assert.ok(b.fits(big));
  b.add(big);
  assert.ok(b.full);
  assert.equal(b.fits(message(0, 1n, '')), false);
  const c = new PackedBatch('payments', 2, 1_000);
  c.add(message(0, 0n, 'a'));
  c.add(message(0, 1n, 'b'));
  assert.ok(c.full);
  assert.equal(c.fits(message(0, 2n, '')), false);
});

test('a batch holding a refused message twice (a partition fetched again after a rebalance) makes one dead letter of it', () => {
  const batch = new PackedBatch('payments', 100, 1 << 20);
  // Offsets 2..4 of partition 0, then the group's rewind to its committed offset 0: 0..4 again.
  for (const o of [2, 3, 4, 0, 1, 2, 3, 4]) batch.add(message(0, BigInt(o), o === 3 ? 'POISON' : `{"o":${o}}`));
  const refused = new Set([1, 6]);
  const result = {
    written: 6,
    ids: { isWritten: (i: number) => !refused.has(i) },
    token: null,
    rejected: [...refused].map((index) => ({ index, code: 'INVALID_JSON', path: '', message: 'not JSON' })),
    rejectedCount: refused.size,
  };
  const letters = lettersOf(batch, result as unknown as Parameters<typeof lettersOf>[1]);
  assert.deepEqual(letters.map((l) => `${l.message.partition}@${l.message.offset}:${l.code}`), ['0@3:INVALID_JSON']);
});
