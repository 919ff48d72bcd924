/**
 * Which answers of a peer to a replayed hint mean it will never take that
 * hint (decision 59). Replay is in order and stops at the first failure, so
 * a hint refused for good held every later hint for its peer until the hint
 * window (3 h) expired it; such a hint is skipped instead, counted and
 * logged, as Cassandra drops the hints of a dropped table. Anti-entropy is
 * what then compares the peer with the other replicas.
 *
 * Only codes that say the hint itself can never be stored there are in the
 * set. Everything else keeps the hint queued and backs the peer off:
 *
 * - OVERLOADED, RATE_LIMITED, DISK_FULL, NOT_READY (a range being handed
 *   off: the next attempt routes the hint by the placement then),
 *   SHUTTING_DOWN, NO_QUORUM (a timeout): the peer's state, which passes.
 * - STALE_PLACEMENT: the routing is old, not the hint; it is routed again by
 *   the current placement at every attempt, and may be a buffered write's
 *   only copy.
 * - CLOCK_SKEW: the hint's versions are ahead of the peer's clock; once the
 *   clocks agree it is taken (decision 52), and that is the hint's peer
 *   catching up, not refusing it.
 * - REPLICA_PROTOCOL, UNAUTHENTICATED, PERMISSION_DENIED and the INTERNAL a
 *   refused certificate becomes: the two nodes, which an operator fixes;
 *   dropping on them would throw away every hint for the peer.
 * - INTERNAL otherwise, WAL_IO, STORAGE_IO, WAL_CORRUPT, and any error
 *   without a code: nothing proves the hint is at fault.
 */
import { isSluiceError, type ErrorCode } from '../../core/errors.ts';

/** Codes with which a peer refuses a hint it can never store. */
export const HINT_REFUSED_FOR_GOOD: ReadonlySet<ErrorCode> = new Set<ErrorCode>([
  // Unknown to the peer after it reloaded the tables from the cluster's metadata: the table is gone.
  'TABLE_NOT_FOUND',
  // The batch holds what the peer can never read (an HLC version out of range), or is refused as invalid.
  'INVALID_ARGUMENT',
  'BAD_REQUEST',
  'SCHEMA_VIOLATION',
  'KEY_TOO_LARGE',
  // A schema version the peer can never load.
  'SCHEMA_INCOMPATIBLE',
  // Larger than the peer's WAL frame bound (from its --body-bytes-max): refused at every attempt until an operator raises it.
  'PAYLOAD_TOO_LARGE',
]);

/** The code of `err` when it says the peer will never take the hint, else undefined (retry later). */
export function refusedForGood(err: unknown): ErrorCode | undefined {
  return isSluiceError(err) && HINT_REFUSED_FOR_GOOD.has(err.code) ? err.code : undefined;
}
