/**
 * How old a peer's last heartbeat may be. It is judged against the failure
 * detector's timeouts (suspect after `suspectAfterMs` of silence, dead after
 * `deadAfterMs`), not against the check period: a heartbeat two periods old
 * is normal jitter, and Mimir once flagged healthy ingesters by comparing
 * with the period (mimir#1917).
 */

/** `fresh`: within the suspect timeout; `late`: past it; `overdue`: past the dead timeout. */
export type HeartbeatVerdict = 'fresh' | 'late' | 'overdue';

/** The failure detector's timeouts. */
export interface DetectorTimeouts {
  readonly suspectAfterMs: number;
  readonly deadAfterMs: number;
}

/** Judges a heartbeat `ageMs` old. */
export function judgeHeartbeat(ageMs: number, timeouts: DetectorTimeouts): HeartbeatVerdict {
  if (ageMs >= timeouts.deadAfterMs) return 'overdue';
  if (ageMs >= timeouts.suspectAfterMs) return 'late';
  return 'fresh';
}
