/**
 * A Fetch of many record keys from one replica, reply by reply: a reply
 * ends at its byte bound and says how many keys it looked at (`next`), so
 * the asker goes on with the rest (decision 47). Each record comes with
 * its dedupe key when the replica knows one (decision 54). Anti-entropy
 * copies each reply as it comes; read repair collects them.
 */
import type { ReplicaTransport } from '../transport/replica-transport.ts';
import type { WireRecord } from '../transport/replica-messages.ts';
import { fetchedDedupeKeys } from './record-batches.ts';

/** One Fetch reply's records and their dedupe keys (undefined: a replica of an earlier release sent none). */
export interface FetchedPage {
  readonly records: readonly WireRecord[];
  readonly dedupeKeys: readonly (Buffer | null)[] | undefined;
}

/** The records of `keys` that `node` holds, a Fetch reply at a time. */
export async function* fetchPages(transport: ReplicaTransport, node: string, keys: readonly Buffer[], timeoutMs: number): AsyncGenerator<FetchedPage> {
  for (let rest = keys; rest.length > 0; ) {
    const reply = await transport.call(node, 'Fetch', { keys: rest, withDedupeKeys: true }, timeoutMs);
    yield { records: reply.records, dedupeKeys: fetchedDedupeKeys(reply) };
    // An answer that looked at no key would never end (a replica holds at least one record per reply).
    rest = reply.next === undefined || reply.next <= 0 ? [] : rest.slice(reply.next);
  }
}
