/**
 * One Loki push from body bytes to the records body the pipeline takes:
 * decode (snappy protobuf or JSON), parse the labels, build the records.
 * Pure and synchronous, so it runs inline for a small push or in a worker
 * thread for a large one (loki-decode-pool.ts); a bad push comes back as
 * an answer carrying its error, since a SluiceError does not survive the
 * trip between threads.
 */
import { isSluiceError, type ErrorCode, type ErrorDetail } from '../../../../core/errors.ts';
import { decodeJsonPush } from './loki-push-json.ts';
import { decodeProtoPush } from './loki-push-proto.ts';
import { lokiRecordsBody } from './loki-records.ts';

/** How a push body is encoded. */
export type PushEncoding = 'protobuf' | 'json';

/** A push to decode. */
export interface LokiDecodeTask {
  /** The body as read (gzip undone; a protobuf push still a snappy block). */
  readonly body: Uint8Array;
  readonly encoding: PushEncoding;
  /** Limit of the decompressed body and of the records body (`bodyBytesMax`). */
  readonly bytesMax: number;
}

/** The records of a push, or the error that refuses it. */
export type LokiDecodeAnswer =
  | {
      readonly ok: true;
      /** A JSON array of records (empty array when `count` is 0). */
      readonly records: Uint8Array;
      readonly count: number;
      /** Bytes the snappy block decompressed to (0 for JSON): held while decoding, counted by admission. */
      readonly decodedBytes: number;
    }
  | { readonly ok: false; readonly error: { readonly code: ErrorCode; readonly message: string; readonly details: readonly ErrorDetail[] } };

/** Decodes one push; never throws for bad input (the answer carries the error). */
export function runLokiDecode(task: LokiDecodeTask): LokiDecodeAnswer {
  try {
    const decoded = task.encoding === 'json' ? { streams: decodeJsonPush(task.body, task.bytesMax), decodedBytes: 0 } : decodeProtoPush(task.body, task.bytesMax);
    const { body, records } = lokiRecordsBody(decoded.streams, task.bytesMax);
    return { ok: true, records: body, count: records, decodedBytes: decoded.decodedBytes };
  } catch (err) {
    if (!isSluiceError(err)) throw err;
    return { ok: false, error: { code: err.code, message: err.message, details: err.details } };
  }
}
