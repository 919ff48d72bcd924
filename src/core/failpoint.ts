/**
 * Failpoints: named steps of the two-phase commit where a node can be made
 * to die, or freeze, on purpose, so the process tests can SIGKILL it at
 * exactly that step, or resume it later as a zombie (FoundationDB's and
 * TiKV's failpoints, reduced to the two actions sluice needs).
 * `SLUICE_FAILPOINT=name[=kill|stop][,…]` in a node's environment arms
 * them: `kill` (the default) is SIGKILL, `stop` is SIGSTOP (the process
 * stays frozen at that step until it gets SIGCONT). Unarmed, a failpoint is
 * one Map lookup.
 */

/** Every failpoint, by the step it marks. */
export const FAILPOINTS = [
  /** Coordinator: every participant acknowledged PREPARE, nothing decided yet. */
  'coord.after-prepare-acks',
  /** Coordinator: within its deadline, about to record the decision in etcd (a zombie frozen here commits late). */
  'coord.before-decision',
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
  /** Kafka source: dead letters produced in their transaction, the transaction (with its offset commit) not yet committed. */
  'kafka.after-dlq-send',
  /** Membership: the node's key is in etcd (others see it join), nothing else done yet (no catch-up, no keep-alive). */
  'member.after-register',
] as const;

export type FailpointName = (typeof FAILPOINTS)[number];

/** What an armed failpoint does. */
type FailpointAction = 'kill' | 'stop';

const armed = new Map<string, FailpointAction>();
for (const spec of (process.env['SLUICE_FAILPOINT'] ?? '').split(',').filter((n) => n.length > 0)) {
  const [name = '', action = 'kill'] = spec.split('=');
  if (!(FAILPOINTS as readonly string[]).includes(name)) throw new Error(`SLUICE_FAILPOINT names an unknown failpoint ${JSON.stringify(name)}; known: ${FAILPOINTS.join(', ')}`);
  if (action !== 'kill' && action !== 'stop') throw new Error(`SLUICE_FAILPOINT action for ${name} must be kill or stop, got ${JSON.stringify(action)}`);
  armed.set(name, action);
}

/** True when `name` is armed (a step may be arranged differently so the failpoint means what it says). */
export function failpointArmed(name: FailpointName): boolean {
  return armed.has(name);
}

/**
 * When `name` is armed: SIGKILL this process (no cleanup, as a crash), or
 * SIGSTOP it (it resumes here on SIGCONT; a `stop` failpoint fires once).
 */
export function failpoint(name: FailpointName): void {
  const action = armed.get(name);
  if (action === undefined) return;
  process.stderr.write(`failpoint ${name}: ${action === 'kill' ? 'SIGKILL' : 'SIGSTOP'}\n`);
  if (action === 'stop') armed.delete(name);
  process.kill(process.pid, action === 'kill' ? 'SIGKILL' : 'SIGSTOP');
}
