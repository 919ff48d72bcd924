/**
 * The kinds of WAL frame a node writes. The WAL itself treats the type as
 * an opaque byte; these are what the rest of storage puts in it.
 */
export const FRAME_TYPES = {
  /** A record-batch-v1 payload of one table. */
  RECORDS: 1,
} as const;

export type FrameType = (typeof FRAME_TYPES)[keyof typeof FRAME_TYPES];

/** A frame as it is handed to the index for applying. */
export interface AppliedFrame {
  readonly lsn: bigint;
  readonly type: number;
  readonly payload: Uint8Array;
}
