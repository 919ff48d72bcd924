/**
 * The cursor of a range query: the time key and id of the last record of
 * a page (the tail of its record key), base64url. With the query's shard,
 * table and shard key it rebuilds the record key the next page resumes
 * strictly after, on any replica.
 */
import { SluiceError } from '../../core/errors.ts';
import { recordKeyPrefix } from '../../storage/index/key-layout.ts';

/** Bytes of a cursor: the time key and id of the last record returned. */
const CURSOR_BYTES = 16;

/** The cursor of the page after `recordKey`. */
export function encodeCursor(recordKey: Buffer): string {
  return recordKey.subarray(recordKey.length - CURSOR_BYTES).toString('base64url');
}

/** The record key a cursor resumes after. */
export function cursorKey(shard: number, tableId: number, key: Buffer, cursor: string): Buffer {
  const tail = Buffer.from(cursor, 'base64url');
  if (tail.length !== CURSOR_BYTES || tail.toString('base64url') !== cursor) {
    throw new SluiceError('INVALID_CURSOR', 'cursor is not a cursor returned by this query');
  }
  return Buffer.concat([recordKeyPrefix(shard, tableId, key), tail]);
}
