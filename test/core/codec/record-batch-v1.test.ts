import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  RecordBatchBuilder,
  RecordBatchReader,
  readStoredValue,
  readTimeKey,
  writeTimeKey,
} from '../../../src/core/codec/record-batch-v1.ts';
import { encodeFields, decodeFields } from '../../../src/core/codec/fields-codec.ts';
import { prng } from '../../support/prng.ts';


test('time keys round-trip and sort like the numbers they encode', () => {
  const times = [-8.64e15, -1e12, -1, 0, 1, 255, 256, 2 ** 31, 2 ** 32 - 1, 2 ** 32, 1_717_200_000_000, 8.64e15];
  const keys = times.map((t) => {
    const b = Buffer.alloc(8);
    writeTimeKey(b, 0, t);
    assert.equal(readTimeKey(b, 0), t);
    return b;
  });
  for (let i = 1; i < keys.length; i++) assert.equal(Buffer.compare(keys[i - 1] as Buffer, keys[i] as Buffer), -1, `${times[i - 1]} < ${times[i]}`);
});

test('random time keys keep memcmp order equal to numeric order', () => {
  const r = prng(7);
  for (let i = 0; i < 5000; i++) {
    const a = Math.trunc((r() - 0.5) * 2 * 8.64e15);
    const b = Math.trunc((r() - 0.5) * 2 * 8.64e15);
    const ka = Buffer.alloc(8);
    const kb = Buffer.alloc(8);
    writeTimeKey(ka, 0, a);
    writeTimeKey(kb, 0, b);
    assert.equal(Math.sign(Buffer.compare(ka, kb)), Math.sign(a - b));
    assert.equal(readTimeKey(ka, 0), a);
    // The stored form: the time as a big-endian int64 with its sign bit flipped.
    const want = Buffer.alloc(8);
    want.writeBigInt64BE(BigInt(a));
    want[0] = (want[0] as number) ^ 0x80;
    assert.deepEqual(ka, want, `time key of ${a}`);
  }
});

test('a batch round-trips every entry; ids and versions are stamped in place', () => {
  const r = prng(42);
  const b = new RecordBatchBuilder(7, 3, 1_700_000_000_123, 64);
  const expected: { shard: number; key: string; pk: string | undefined; time: number; values: unknown[] }[] = [];
  for (let i = 0; i < 500; i++) {
    const key = `k-${Math.floor(r() * 1e6)}-é✓`.repeat(1 + Math.floor(r() * 3));
    const pk = r() < 0.5 ? undefined : `pk-${i}-ü`;
    const values = [i, `s${i}`, r() < 0.5 ? null : { nested: [i, 'x'] }, 2n ** 60n + BigInt(i)];
    const time = Math.trunc(r() * 2e12) - 1e12;
    const shard = Math.floor(r() * 4096);
    b.add(shard, key, pk, time, encodeFields(values));
    expected.push({ shard, key, pk, time, values });
  }
  const batch = b.finish();
  const reader = new RecordBatchReader(batch);
  assert.equal(reader.tableId, 7);
  assert.equal(reader.count, 500);
  let i = 0;
  while (reader.next()) {
    const e = expected[i] as (typeof expected)[number];
    assert.equal(reader.shard, e.shard);
    assert.equal(reader.key, e.key);
    assert.equal(reader.pk, e.pk);
    assert.equal(reader.timeMs, e.time);
    assert.equal(reader.id, 0n);
    reader.id = 1000n + BigInt(i);
    reader.version = 2n ** 63n + BigInt(i);
    const stored = readStoredValue(reader.value);
    assert.equal(stored.schemaVersion, 3);
    assert.equal(stored.ingestedAtMs, 1_700_000_000_123);
    assert.deepEqual(decodeFields(stored.fields), e.values);
    i++;
  }
  assert.equal(i, 500);
  // Stamps are visible to a second reader of the same bytes.
  const again = new RecordBatchReader(batch);
  let j = 0;
  while (again.next()) {
    assert.equal(again.id, 1000n + BigInt(j));
    assert.equal(readStoredValue(again.value).version, 2n ** 63n + BigInt(j));
    j++;
  }
});

test('a reader refuses a buffer that is not a record batch', () => {
  assert.throws(() => new RecordBatchReader(Buffer.alloc(4)));
  assert.throws(() => new RecordBatchReader(Buffer.alloc(12)));
});

test('a truncated batch is refused when its entries are read', () => {
  const b = new RecordBatchBuilder(1, 1, 0);
  b.add(0, 'key', undefined, 0, encodeFields(['v']));
  const batch = b.finish();
  const reader = new RecordBatchReader(batch.subarray(0, batch.length - 3));
  assert.throws(() => reader.next());
});

test('an entry written in place equals one added whole; an aborted one leaves nothing', () => {
  const values = ['acct-1', 42, 'é'.repeat(40), null, true];
  const whole = new RecordBatchBuilder(3, 2, 1_000, 16);
  whole.add(5, 'acct-1', 'pk-1', 7_000, encodeFields(values));
  whole.add(6, 'k2', undefined, -5, encodeFields([1]));
  const inPlace = new RecordBatchBuilder(3, 2, 1_000, 16);
  inPlace.beginEntry(5, 'acct-1', 'pk-1', 7_000);
  inPlace.writer.arrayHeader(values.length);
  for (const v of values) assert.ok(inPlace.writer.json(v));
  inPlace.endEntry();
  inPlace.beginEntry(9, 'dropped', 'x'.repeat(500), 1);
  inPlace.writer.str('y'.repeat(5000));
  inPlace.abortEntry();
  inPlace.beginEntry(6, 'k2', undefined, -5);
  inPlace.writer.arrayHeader(1);
  inPlace.writer.num(1);
  inPlace.endEntry();
  assert.equal(inPlace.count, 2);
  assert.deepEqual(inPlace.finish(), whole.finish());
});

test('a key past 65,535 bytes throws and the builder stays as it was', () => {
  const b = new RecordBatchBuilder(1, 1, 0);
  b.add(0, 'a', undefined, 1, encodeFields(['a']));
  const before = Buffer.from(b.finish());
  assert.throws(() => b.add(0, 'k'.repeat(70_000), undefined, 1, encodeFields([1])), RangeError);
  assert.throws(() => b.add(70_000, 'k', undefined, 1, encodeFields([1])), RangeError);
  assert.deepEqual(b.finish(), before);
});
