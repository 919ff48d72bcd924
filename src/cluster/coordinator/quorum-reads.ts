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
 * when one follows a newer ring.
 */
export async function readQuorum<T>(
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
  let next = 0;
  let lastError: unknown;
  let readTimeout: SluiceError | undefined;
  let clockSkew: SluiceError | undefined;
  let stale: SluiceError | undefined;
  const worker = async (): Promise<void> => {
    while (answers.length < need && next < queue.length && stale === undefined) {
      const node = queue[next++] as string;
      try {
        answers.push({ node, reply: await ask(node) });
      } catch (err) {
        lastError = err;
        if (isSluiceError(err, 'READ_TIMEOUT')) readTimeout = err;
        if (isSluiceError(err, 'CLOCK_SKEW')) clockSkew = err;
        // The replicas were chosen by an outdated ring: no other answer of it counts (the caller routes again).
        if (isSluiceError(err, 'STALE_PLACEMENT')) stale = err;
      }
    }
  };
  await Promise.all(Array.from({ length: need }, worker));
  if (stale !== undefined) throw stale;
  if (answers.length < need) {
    // A replica that could not serve in time (an undecided batch below a snapshot), or that refused the
    // snapshot as ahead of its clock, says so under its own code: the replicas answered.
    const cause = readTimeout ?? clockSkew;
    const code = cause?.code ?? 'NO_QUORUM';
    const why = cause ?? lastError;
    throw new SluiceError(code, `${answers.length} of ${need} required replicas answered (${consistency})${why instanceof Error ? `: ${why.message}` : ''}`, cause?.details ?? []);
  }
  return answers;
}
