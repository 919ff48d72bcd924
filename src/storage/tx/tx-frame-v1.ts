/**
 * tx-frame v1: the WAL payloads of an atomic batch's two-phase commit on a
 * participant replica (frame types TX_PREPARE, TX_COMMIT, TX_ABORT in
 * frame-types.ts), and the value of its done marker in the index. The WAL
 * frame's CRC covers integrity; a payload that does not decode is a bug or
 * a foreign file and fails loudly (WAL_CORRUPT), never silently skipped.
 *
 *   prepare := version u8 (1) | txid u64be | epoch u32be | deadlineMs f64be
 *              | pt u64be            HLC prepare time this replica chose
 *              | coordLen u8 | coordinator [coordLen] (UTF-8 node id)
 *              | shardCount u16be | shard u16be {shardCount}
 *                                    every participant shard of the batch
 *              | batch               record-batch-v1 (the rest): this
 *                                    replica's entries, ids stamped,
 *                                    versions provisional (0)
 *   commit  := version u8 (1) | txid u64be | cv u64be
 *                                    every entry is stored with version cv
 *   abort   := version u8 (1) | txid u64be
 *   done    := outcome u8 (1 committed, 2 aborted) | atMs f64be | cv u64be
 *                                    (cv 0 when aborted)
 */
import { RecordBatchReader } from '../../core/codec/record-batch-v1.ts';
import { SluiceError } from '../../core/errors.ts';

const TX_FRAME_VERSION = 1;
const PREPARE_FIXED_BYTES = 1 + 8 + 4 + 8 + 8 + 1;
const COMMIT_BYTES = 1 + 8 + 8;
const ABORT_BYTES = 1 + 8;
const DONE_BYTES = 1 + 8 + 8;

/** What a replica knows of a prepared atomic batch besides its records. */
export interface PrepareMeta {
  readonly txid: bigint;
  /** Placement epoch the coordinator routed the batch by. */
  readonly epoch: number;
  /** Coordinator's wall-clock deadline for deciding (epoch ms); no PREPARE is accepted past it. */
  readonly deadlineMs: number;
  /** The HLC prepare time this replica gave it. */
  readonly pt: bigint;
  readonly coordinator: string;
  /** Every participant shard of the batch (not only this replica's). */
  readonly shards: readonly number[];
}

/** A decoded prepare payload. */
export interface PreparePayload extends PrepareMeta {
  /** This replica's entries (a view into the payload). */
  readonly batch: Buffer;
}

/** The outcome of a decided atomic batch. */
export type TxOutcome = 'committed' | 'aborted';

/** A done marker: outcome, when this replica applied it, and the commit version base. */
export interface TxDone {
  readonly outcome: TxOutcome;
  readonly atMs: number;
  readonly cv: bigint;
}

/** Encodes a prepare payload. */
export function encodePrepare(meta: PrepareMeta, batch: Uint8Array): Buffer {
  const coord = Buffer.from(meta.coordinator, 'utf8');
  if (coord.length > 255) throw new SluiceError('INVALID_ARGUMENT', 'coordinator id longer than 255 bytes');
  const out = Buffer.allocUnsafe(PREPARE_FIXED_BYTES + coord.length + 2 + 2 * meta.shards.length + batch.length);
  let at = out.writeUInt8(TX_FRAME_VERSION, 0);
  at = out.writeBigUInt64BE(meta.txid, at);
  at = out.writeUInt32BE(meta.epoch, at);
  at = out.writeDoubleBE(meta.deadlineMs, at);
  at = out.writeBigUInt64BE(meta.pt, at);
  at = out.writeUInt8(coord.length, at);
  at += coord.copy(out, at);
  at = out.writeUInt16BE(meta.shards.length, at);
  for (const s of meta.shards) at = out.writeUInt16BE(s, at);
  out.set(batch, at);
  return out;
}

/** Decodes a prepare payload (the batch is a view into it). */
export function decodePrepare(payload: Uint8Array): PreparePayload {
  const buf = asBuffer(payload);
  check(buf.length >= PREPARE_FIXED_BYTES + 2 && buf[0] === TX_FRAME_VERSION, 'prepare');
  const txid = buf.readBigUInt64BE(1);
  const epoch = buf.readUInt32BE(9);
  const deadlineMs = buf.readDoubleBE(13);
  const pt = buf.readBigUInt64BE(21);
  const coordLen = buf.readUInt8(29);
  let at = 30 + coordLen;
  check(buf.length >= at + 2, 'prepare');
  const coordinator = buf.toString('utf8', 30, at);
  const n = buf.readUInt16BE(at);
  at += 2;
  check(buf.length >= at + 2 * n, 'prepare');
  const shards: number[] = [];
  for (let i = 0; i < n; i++, at += 2) shards.push(buf.readUInt16BE(at));
  return { txid, epoch, deadlineMs, pt, coordinator, shards, batch: buf.subarray(at) };
}

/** The txid of a prepare payload, without decoding the rest. */
export function prepareTxid(payload: Uint8Array): bigint {
  const buf = asBuffer(payload);
  check(buf.length >= 9 && buf[0] === TX_FRAME_VERSION, 'prepare');
  return buf.readBigUInt64BE(1);
}

/** Encodes a commit payload. */
export function encodeCommit(txid: bigint, cv: bigint): Buffer {
  const out = Buffer.allocUnsafe(COMMIT_BYTES);
  out.writeUInt8(TX_FRAME_VERSION, 0);
  out.writeBigUInt64BE(txid, 1);
  out.writeBigUInt64BE(cv, 9);
  return out;
}

/** Decodes a commit payload. */
export function decodeCommit(payload: Uint8Array): { txid: bigint; cv: bigint } {
  const buf = asBuffer(payload);
  check(buf.length === COMMIT_BYTES && buf[0] === TX_FRAME_VERSION, 'commit');
  return { txid: buf.readBigUInt64BE(1), cv: buf.readBigUInt64BE(9) };
}

/** Encodes an abort payload. */
export function encodeAbort(txid: bigint): Buffer {
  const out = Buffer.allocUnsafe(ABORT_BYTES);
  out.writeUInt8(TX_FRAME_VERSION, 0);
  out.writeBigUInt64BE(txid, 1);
  return out;
}

/** Decodes an abort payload. */
export function decodeAbort(payload: Uint8Array): { txid: bigint } {
  const buf = asBuffer(payload);
  check(buf.length === ABORT_BYTES && buf[0] === TX_FRAME_VERSION, 'abort');
  return { txid: buf.readBigUInt64BE(1) };
}

/** Encodes a done marker. */
export function encodeDone(done: TxDone): Buffer {
  const out = Buffer.allocUnsafe(DONE_BYTES);
  out.writeUInt8(done.outcome === 'committed' ? 1 : 2, 0);
  out.writeDoubleBE(done.atMs, 1);
  out.writeBigUInt64BE(done.cv, 9);
  return out;
}

/** Decodes a done marker. */
export function decodeDone(value: Uint8Array): TxDone {
  const buf = asBuffer(value);
  check(buf.length === DONE_BYTES && (buf[0] === 1 || buf[0] === 2), 'done marker');
  return { outcome: buf[0] === 1 ? 'committed' : 'aborted', atMs: buf.readDoubleBE(1), cv: buf.readBigUInt64BE(9) };
}

function check(ok: boolean, what: string): asserts ok {
  if (!ok) throw new SluiceError('WAL_CORRUPT', `a transaction ${what} payload does not decode as tx-frame v1`);
}

function asBuffer(u: Uint8Array): Buffer {
  return Buffer.isBuffer(u) ? u : Buffer.from(u.buffer, u.byteOffset, u.byteLength);
}

/**
 * A staged batch as it is committed: a copy whose every entry carries the
 * commit version `cv`. One version for the whole batch, so no snapshot can
 * fall inside it; every replica stores the same, so their Merkle summaries
 * agree.
 */
export function committedBatch(staged: Uint8Array, cv: bigint): Buffer {
  const copy = Buffer.from(staged);
  const reader = new RecordBatchReader(copy);
  while (reader.next()) reader.version = cv;
  return copy;
}
