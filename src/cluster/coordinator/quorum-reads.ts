/**
 * Asking replicas until enough have answered: R of them for a read, or
 * fewer, falling back to the next replica when one fails. Replicas that
 * acknowledged the write a read token names are asked first (they hold
 * what the reader must see), then this node, then live peers, then the
 * rest. A replica that follows a newer placement ends the read at once
 * (STALE_PLACEMENT): the set asked is no longer the shard's.
 */
import { SluiceError, isSluiceError } from '../../core/errors.ts';
import { requiredReplicas, type Consistency } from './coordinator.ts';

/** One replica's answer. */
export interface ReplicaAnswer<T> {
  readonly node: string;
  readonly reply: T;
}

/** Who is asked first. */
export interface ReadOrder {
  readonly self: string;
  readonly isUp: (node: string) => boolean;
}

/**
 * Asks `replicas` until `consistency` of them answered; NO_QUORUM when too
 * few do (READ_TIMEOUT or CLOCK_SKEW when that is why), STALE_PLACEMENT
 * when one follows a newer ring. At most R asks are in flight at once (the
 * next replica is asked only in place of one that failed), and the read
 * answers as soon as R answered: a replica still being asked then (a hung
 * peer, waited on until its timeout) is left to finish on its own.
 */
export function readQuorum<T>(
  replicas: readonly string[],
  consistency: Consistency,
  token: ReadonlyMap<string, string> | undefined,
  order: ReadOrder,
  ask: (node: string) => Promise<T>,
): Promise<ReplicaAnswer<T>[]> {
  const need = requiredReplicas(consistency, replicas.length);
  const rank = (n: string): number => (token?.has(n) === true ? 0 : n === order.self ? 1 : order.isUp(n) ? 2 : 3);
  const queue = [...replicas].sort((a, b) => rank(a) - rank(b));
  const answers: ReplicaAnswer<T>[] = [];
  const errors = new RefusalCauses();
  let next = 0;
  let inFlight = 0;
  let settled = false;
  return new Promise((resolve, reject) => {
    const pump = (): void => {
      if (settled) return;
      // The replicas were chosen by an outdated ring: no other answer of it counts (the caller routes again).
      if (errors.stale !== undefined) return void ((settled = true), reject(errors.stale));
      if (answers.length >= need) return void ((settled = true), resolve(answers));
      while (answers.length + inFlight < need && next < queue.length) {
        const node = queue[next++] as string;
        inFlight++;
        // Called from an async function: a synchronous throw is a refusal like any other.
        (async () => ask(node))().then(
          (reply) => answers.push({ node, reply }),
          (err: unknown) => errors.add(err),
        ).finally(() => {
          inFlight--;
          pump();
        });
      }
      if (inFlight === 0) {
        settled = true;
        reject(errors.refusal(answers.length, need, consistency));
      }
    };
    pump();
  });
}

/** Why replicas did not answer, kept for the refusal's code and message. */
class RefusalCauses {
  last: unknown;
  readTimeout: SluiceError | undefined;
  clockSkew: SluiceError | undefined;
  stale: SluiceError | undefined;

  add(err: unknown): void {
    this.last = err;
    if (isSluiceError(err, 'READ_TIMEOUT')) this.readTimeout = err;
    if (isSluiceError(err, 'CLOCK_SKEW')) this.clockSkew = err;
    if (isSluiceError(err, 'STALE_PLACEMENT')) this.stale = err;
  }

  /**
   * Too few answered. A replica that could not serve in time (an undecided batch below a snapshot),
   * or that refused the snapshot as ahead of its clock, says so under its own code: the replicas answered.
   */
  refusal(answered: number, need: number, consistency: Consistency): SluiceError {
    const cause = this.readTimeout ?? this.clockSkew;
    const why = cause ?? this.last;
    return new SluiceError(cause?.code ?? 'NO_QUORUM', `${answered} of ${need} required replicas answered (${consistency})${why instanceof Error ? `: ${why.message}` : ''}`, cause?.details ?? []);
  }
}
