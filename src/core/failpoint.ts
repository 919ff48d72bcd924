/**
 * Failpoints: named steps of the two-phase commit where a node can be made
 * to die on purpose, so the process tests can SIGKILL it at exactly that
 * step (FoundationDB's and TiKV's failpoints, reduced to the one action
 * sluice needs). `SLUICE_FAILPOINT=name[,name…]` in a node's environment
 * arms them; unarmed, a failpoint is one Set lookup.
 */

/** Every failpoint, by the step it marks. */
export const FAILPOINTS = [
  /** Coordinator: every participant acknowledged PREPARE, nothing decided yet. */
  'coord.after-prepare-acks',
  /** Coordinator: the commit decision is in etcd, no COMMIT sent. */
  'coord.after-decision',
  /** Coordinator: one replica acknowledged COMMIT, the others not yet sent. */
  'coord.mid-commit',
  /** Participant: the PREPARE frame is fsync'd, the coordinator not yet answered. */
  'part.after-prepare-fsync',
  /** Participant: the COMMIT frame is fsync'd, not yet applied to the index. */
  'part.before-commit-apply',
  /** Resolver: an abort fence was written to etcd, the local abort not yet. */
  'resolver.after-fence',
] as const;

export type FailpointName = (typeof FAILPOINTS)[number];

const armed = new Set((process.env['SLUICE_FAILPOINT'] ?? '').split(',').filter((n) => n.length > 0));
for (const name of armed) {
  if (!(FAILPOINTS as readonly string[]).includes(name)) throw new Error(`SLUICE_FAILPOINT names an unknown failpoint ${JSON.stringify(name)}; known: ${FAILPOINTS.join(', ')}`);
}

/** Kills this process with SIGKILL when `name` is armed (no cleanup, as a crash). */
export function failpoint(name: FailpointName): void {
  if (!armed.has(name)) return;
  process.stderr.write(`failpoint ${name}: SIGKILL\n`);
  process.kill(process.pid, 'SIGKILL');
}
