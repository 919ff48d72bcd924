/**
 * The kinds of WAL frame a node writes. The WAL itself treats the type as
 * an opaque byte; these are what the rest of storage puts in it.
 */
export const FRAME_TYPES = {
  /** A record-batch-v1 payload of one table. */
  RECORDS: 1,
  /** An atomic batch prepared on this replica: staged, invisible to reads (tx-frame-v1 `prepare`). */
  TX_PREPARE: 2,
  /** A prepared atomic batch committed: its records applied with their commit versions (tx-frame-v1 `commit`). */
  TX_COMMIT: 3,
  /** A prepared atomic batch aborted: its staged records discarded (tx-frame-v1 `abort`). */
  TX_ABORT: 4,
} as const;

export type FrameType = (typeof FRAME_TYPES)[keyof typeof FRAME_TYPES];

/** A frame as it is handed to the index for applying. */
export interface AppliedFrame {
  readonly lsn: bigint;
  readonly type: number;
  readonly payload: Uint8Array;
}
