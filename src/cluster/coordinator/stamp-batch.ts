/**
 * Stamping ids and versions into an encoded batch, the one place both
 * coordinators do it. Records without a key get fresh snowflake ids in one
 * call; records with a primary or dedupe key get the id `idOf` finds for
 * them (the id the key was stored with, or a new one).
 *
 * Versions are HLC timestamps. A plain batch takes one per record in batch
 * order. An atomic batch takes one for all its records: a snapshot read
 * shows records at or below a version, so versions spread over a batch
 * would let a snapshot fall inside it and show part of it. A later record
 * of a batch still wins over an earlier one with the same key: the index
 * applies equal versions in batch order. An atomic batch across shards is
 * stamped 0 (provisional) and gets its version at the commit.
 *
 * Synchronous from the first id to the last version: a coordinator that
 * appends right after keeps ids, versions and LSNs increasing together.
 */
import type { RecordBatchReader } from '../../core/codec/record-batch-v1.ts';
import type { Hlc } from '../../core/hlc.ts';
import type { SnowflakeGenerator } from '../../core/snowflake.ts';

/** Where the ids of a batch come from. */
export interface StampSource {
  readonly generator: SnowflakeGenerator;
  readonly hlc: Hlc;
  /** The id of a keyed record (called once per record, in order); absent: every record gets a fresh id. */
  readonly idOf?: (reader: RecordBatchReader) => bigint;
  /**
   * `sequence`: first + i for record i (a plain batch); `one`: one version
   * for every record (an atomic batch); `provisional`: 0, the commit version
   * comes later (an atomic batch across shards, storage/tx/). @default 'sequence'
   */
  readonly versions?: 'sequence' | 'one' | 'provisional';
}

const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;
const LO = LITTLE_ENDIAN ? 0 : 1;
const HI = 1 - LO;
const TWO_32 = 2 ** 32;

/** Fresh ids of one batch and their 32-bit halves, reused: two typed arrays per request were ~1.5% of the single-record path. */
interface IdScratch {
  readonly ids: BigUint64Array;
  readonly words: Uint32Array;
}

function idScratch(count: number): IdScratch {
  const ids = new BigUint64Array(2 ** Math.ceil(Math.log2(Math.max(count, 1024))));
  return { ids, words: new Uint32Array(ids.buffer) };
}

// Safe to share: stampFresh is synchronous and copies every id out before it returns.
let scratch = idScratch(1024);

/** Stamps every entry of `reader`'s batch; returns the ids in batch order. Leaves the reader rewound. */
export function stampBatch(reader: RecordBatchReader, count: number, source: StampSource): bigint[] {
  const { idOf } = source;
  const mode = source.versions ?? 'sequence';
  const firstVersion = mode === 'provisional' ? 0n : mode === 'one' ? source.hlc.now() : source.hlc.nowBatch(count);
  if (idOf === undefined) return stampFresh(reader, count, source.generator, firstVersion, mode === 'sequence' ? 1 : 0);
  const step = mode === 'sequence' ? 1n : 0n;
  const ids = new Array<bigint>(count);
  reader.rewind();
  let i = 0;
  while (reader.next()) {
    const id = idOf(reader);
    reader.id = id;
    reader.version = firstVersion + step * BigInt(i);
    ids[i] = id;
    i++;
  }
  reader.rewind();
  return ids;
}

/**
 * Fresh ids and `firstVersion + step * i` written as big-endian 32-bit
 * halves: the bulk path stamps every record, and a BigInt write and two
 * BigInt operations per record were about 4% of the main thread.
 */
function stampFresh(reader: RecordBatchReader, count: number, generator: SnowflakeGenerator, firstVersion: bigint, step: number): bigint[] {
  if (count > scratch.ids.length) scratch = idScratch(count);
  const { ids: fresh, words } = scratch;
  generator.nextInto(count, fresh);
  let versionHi = Number(firstVersion / 0x1_0000_0000n);
  let versionLo = Number(firstVersion % 0x1_0000_0000n);
  const ids = new Array<bigint>(count);
  const buf = reader.buf;
  reader.rewind();
  let i = 0;
  while (reader.next()) {
    const idAt = reader.idOffset;
    buf.writeUInt32BE(words[2 * i + HI] as number, idAt);
    buf.writeUInt32BE(words[2 * i + LO] as number, idAt + 4);
    const versionAt = reader.valueOffset;
    buf.writeUInt32BE(versionHi, versionAt);
    buf.writeUInt32BE(versionLo, versionAt + 4);
    versionLo += step;
    if (versionLo === TWO_32) {
      versionLo = 0;
      versionHi++;
    }
    ids[i] = fresh[i] as bigint;
    i++;
  }
  reader.rewind();
  return ids;
}
