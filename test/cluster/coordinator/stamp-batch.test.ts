import { test } from 'node:test';
import assert from 'node:assert/strict';
import { RecordBatchBuilder, RecordBatchReader } from '../../../src/core/codec/record-batch-v1.ts';
import { encodeFields } from '../../../src/core/codec/fields-codec.ts';
import { SnowflakeGenerator } from '../../../src/core/snowflake.ts';
import { Hlc } from '../../../src/core/hlc.ts';
import { ManualClock } from '../../../src/core/clock.ts';
import { stampBatch } from '../../../src/cluster/coordinator/stamp-batch.ts';

function batchOf(n: number): Buffer {
  const b = new RecordBatchBuilder(7, 1, 0);
  for (let i = 0; i < n; i++) b.add(i % 16, `acct-${i}`, undefined, 1_764_000_000_000 + i, encodeFields([`v${i}`]));
  return b.finish();
}

function stamped(buf: Buffer): { ids: bigint[]; versions: bigint[] } {
  const r = new RecordBatchReader(buf);
  const ids: bigint[] = [];
  const versions: bigint[] = [];
  while (r.next()) {
    ids.push(r.id);
    versions.push(r.version);
  }
  return { ids, versions };
}

/** An Hlc whose next batch starts at `first` (to put a 32-bit carry inside a batch). */
function hlcFrom(first: bigint): Hlc {
  return { nowBatch: () => first, now: () => first } as unknown as Hlc;
}

test('fresh ids and versions are stamped into the batch as the ids returned, and versions first + i', () => {
  const clock = new ManualClock(1_764_000_000_000);
  const hlc = new Hlc(clock);
  const generator = new SnowflakeGenerator({ workerId: 5, clock });
  // 5,000 records: more than one millisecond's 4,096 sequence numbers, so the ids cross a ms boundary.
  const buf = batchOf(5_000);
  const ids = stampBatch(new RecordBatchReader(buf), 5_000, { generator, hlc });
  const read = stamped(buf);
  assert.deepEqual(read.ids, ids);
  for (let i = 1; i < ids.length; i++) assert.ok((ids[i] as bigint) > (ids[i - 1] as bigint), `id ${i} increases`);
  const first = read.versions[0] as bigint;
  assert.ok(first > 0n);
  read.versions.forEach((v, i) => assert.equal(v, first + BigInt(i)));
  // The clock is not moved back by stamping: the next version is after the batch's last.
  assert.ok(hlc.now() > (read.versions.at(-1) as bigint));
});

test('batches of every size in turn get their own ids: small after large, large after small', () => {
  const clock = new ManualClock(1_764_000_000_000);
  const hlc = new Hlc(clock);
  const generator = new SnowflakeGenerator({ workerId: 5, clock });
  let last = -1n;
  for (const n of [1, 3_000, 2, 1_024, 1, 9_000, 5]) {
    const buf = batchOf(n);
    const ids = stampBatch(new RecordBatchReader(buf), n, { generator, hlc });
    assert.deepEqual(stamped(buf).ids, ids, `a batch of ${n}: the ids stored are the ids returned`);
    assert.equal(ids.length, n);
    for (const id of ids) {
      assert.ok(id > last, `a batch of ${n}: ids keep increasing across batches`);
      last = id;
    }
  }
});

test('a version sequence that carries out of the low 32 bits is stamped as the BigInt sum would be', () => {
  const generator = new SnowflakeGenerator({ workerId: 1, clock: new ManualClock(1_764_000_000_000) });
  const buf = batchOf(4);
  stampBatch(new RecordBatchReader(buf), 4, { generator, hlc: hlcFrom(0x1_ffff_fffen) });
  assert.deepEqual(stamped(buf).versions, [0x1_ffff_fffen, 0x1_ffff_ffffn, 0x2_0000_0000n, 0x2_0000_0001n]);
});

test('one version for every record (atomic), or 0 (provisional), with fresh ids', () => {
  const generator = new SnowflakeGenerator({ workerId: 2, clock: new ManualClock(1_764_000_000_000) });
  const one = batchOf(3);
  stampBatch(new RecordBatchReader(one), 3, { generator, hlc: hlcFrom(0xabcd_1234_5678n), versions: 'one' });
  assert.deepEqual(stamped(one).versions, [0xabcd_1234_5678n, 0xabcd_1234_5678n, 0xabcd_1234_5678n]);
  const provisional = batchOf(2);
  const ids = stampBatch(new RecordBatchReader(provisional), 2, { generator, hlc: hlcFrom(99n), versions: 'provisional' });
  assert.deepEqual(stamped(provisional), { ids, versions: [0n, 0n] });
});

test('keyed records get the id idOf gives them, versions first + i', () => {
  const generator = new SnowflakeGenerator({ workerId: 3, clock: new ManualClock(1_764_000_000_000) });
  const buf = batchOf(3);
  const given = [42n, 7n, 1n << 60n];
  let i = 0;
  const ids = stampBatch(new RecordBatchReader(buf), 3, { generator, hlc: hlcFrom(0xffff_ffffn), idOf: () => given[i++] as bigint });
  assert.deepEqual(ids, given);
  assert.deepEqual(stamped(buf), { ids: given, versions: [0xffff_ffffn, 0x1_0000_0000n, 0x1_0000_0001n] });
});
