/**
 * Which PRNG stream (prng.ts) each decision of the workload draws from.
 * A decision has its own stream so that changing how one field is drawn
 * never shifts another: record j's shard key stays the same whatever its
 * table's payload looks like. Counters: records use j, the mix uses the
 * request number r.
 *
 * Payload fields draw from `PAYLOAD_STREAM_BASE + PAYLOAD_STREAMS_PER_FIELD * i`
 * onwards (i: the field's index in its table), each up to
 * PAYLOAD_STREAMS_PER_FIELD streams; a record belongs to one table, so
 * tables may reuse each other's numbers.
 */
export const STREAM = {
  /** Which of the table's keys record j carries. */
  key: 1,
  /** Whether record j's event time is skewed. */
  outOfOrder: 2,
  /** By how much record j's event time is skewed. */
  skew: 3,
  /** Which table request r writes to. */
  mix: 4,
} as const;

/** First stream of payload fields (well above STREAM's). */
export const PAYLOAD_STREAM_BASE = 16;

/** Streams one payload field may use: base, base+1, …, base+7. */
export const PAYLOAD_STREAMS_PER_FIELD = 8;
