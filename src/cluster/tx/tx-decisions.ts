/**
 * The decision on an atomic batch, as etcd holds it (`tx/<txid>`). One
 * create-if-absent transaction decides: the coordinator's commit, or a
 * participant's abort fence, whichever etcd orders first; the other finds
 * the key taken and obeys it (CockroachDB's transaction record, one
 * consensus round). The coordinator's commit is also conditioned on its own
 * registration (`nodes/<id>` created at the revision it registered with),
 * so a coordinator that lost its lease, even one that has registered again
 * since, cannot commit late: Kafka's producer epoch fencing.
 *
 * No key means no decision: presumed abort. A decision stays until every
 * participant has applied it (the sweeper deletes it); abort fences live
 * on a lease of --tx-done-retention-ms in case nobody concludes them.
 *
 *   tx/<txid> → {"s":"commit","cv":"<decimal>","coord":"n1","tableId":3,
 *                "shards":[1,5],"at":<epoch ms>}
 *             | {"s":"abort","tableId":3,"shards":[1,5],"at":<epoch ms>}
 */
import type { Etcd3, Lease } from 'etcd3';
import { SluiceError } from '../../core/errors.ts';
import type { EtcdKeys } from '../metadata/etcd-keys.ts';

/** Where an atomic batch's records live: its table and participant shards. */
export interface TxParts {
  readonly tableId: number;
  readonly shards: readonly number[];
}

/** A decision record. */
export type TxDecision =
  | (TxParts & { readonly s: 'commit'; readonly cv: string; readonly coord: string; readonly at: number })
  | (TxParts & { readonly s: 'abort'; readonly at: number });

/** The result of the coordinator's commit attempt. */
export type CommitAttempt = { readonly committed: true } | { readonly committed: false; readonly decision: TxDecision | undefined };

/** Largest etcd transaction (etcd's default --max-txn-ops). */
const ETCD_TXN_OPS_MAX = 128;

export interface TxDecisionsOptions {
  /** Deadline of each etcd call. */
  readonly timeoutMs: number;
  /** Lifetime of an abort fence nobody concluded. */
  readonly fenceTtlMs: number;
}

/** Where decisions live: etcd in a cluster (TxDecisions), memory in the in-process tests. */
export interface DecisionStore {
  /** The decision on `txid`, or undefined when none is recorded. */
  read(txid: bigint): Promise<TxDecision | undefined>;
  /** Records the commit unless a decision exists or `registration` no longer holds. */
  commit(txid: bigint, decision: TxDecision & { s: 'commit' }, registration: { key: string; createRevision: string }): Promise<CommitAttempt>;
  /** Writes an abort fence unless a decision exists; returns the decision now held. */
  fence(txid: bigint, parts: TxParts): Promise<TxDecision>;
  /** Deletes concluded decisions. */
  conclude(txids: readonly bigint[]): Promise<void>;
  /** Every recorded decision. */
  list(): Promise<{ txid: bigint; decision: TxDecision }[]>;
}

/** Reads and writes decisions in etcd. */
export class TxDecisions implements DecisionStore {
  private readonly client: Etcd3;
  private readonly keys: EtcdKeys;
  private readonly o: TxDecisionsOptions;
  private fenceLease: { lease: Lease; until: number } | undefined;

  constructor(client: Etcd3, keys: EtcdKeys, options: TxDecisionsOptions) {
    this.client = client;
    this.keys = keys;
    this.o = options;
  }

  /** The decision on `txid`, or undefined when none is recorded. */
  async read(txid: bigint): Promise<TxDecision | undefined> {
    const res = await etcdCall('read', () => this.client.get(this.keys.tx(txid)).options(this.callOptions()).exec());
    const kv = res.kvs[0];
    return kv === undefined ? undefined : parseDecision(kv.value.toString('utf8'));
  }

  /**
   * Records the commit unless a decision exists or `registration` no longer
   * holds (the key gone, or created at another revision). Rejects when etcd
   * does not answer in time: the caller cannot tell whether it was applied.
   */
  async commit(txid: bigint, decision: TxDecision & { s: 'commit' }, registration: { key: string; createRevision: string }): Promise<CommitAttempt> {
    const key = this.keys.tx(txid);
    const res = await etcdCall('commit', () =>
      this.client
        .if(key, 'Create', '==', 0)
        .and(registration.key, 'Create', '==', registration.createRevision)
        .then(this.client.put(key).value(JSON.stringify(decision)))
        .else(this.client.get(key))
        .options(this.callOptions())
        .commit(),
    );
    if (res.succeeded) return { committed: true };
    const kv = res.responses[0]?.response_range?.kvs[0];
    return { committed: false, decision: kv === undefined ? undefined : parseDecision(kv.value.toString('utf8')) };
  }

  /** Writes an abort fence unless a decision exists; returns the decision etcd now holds. */
  async fence(txid: bigint, parts: TxParts): Promise<TxDecision> {
    const key = this.keys.tx(txid);
    const fence: TxDecision = { s: 'abort', tableId: parts.tableId, shards: [...parts.shards], at: Date.now() };
    const lease = await etcdCall('fence lease', () => this.leaseForFences());
    const res = await etcdCall('fence', () =>
      this.client
        .if(key, 'Create', '==', 0)
        .then(lease.put(key).value(JSON.stringify(fence)))
        .else(this.client.get(key))
        .options(this.callOptions())
        .commit(),
    );
    if (res.succeeded) return fence;
    const kv = res.responses[0]?.response_range?.kvs[0];
    if (kv === undefined) throw new SluiceError('INTERNAL', `tx/${txid} was neither absent nor present`);
    return parseDecision(kv.value.toString('utf8'));
  }

  /** Deletes concluded decisions, up to etcd's transaction size at a time. */
  async conclude(txids: readonly bigint[]): Promise<void> {
    for (let i = 0; i < txids.length; i += ETCD_TXN_OPS_MAX) {
      const chunk = txids.slice(i, i + ETCD_TXN_OPS_MAX);
      const ops = chunk.map((txid) => this.client.delete().key(this.keys.tx(txid)));
      // A compare that always holds (a key's version is never negative): etcd3 builds no transaction without one.
      await etcdCall('conclude', () => this.client.if(this.keys.tx(chunk[0] as bigint), 'Version', '>', -1).then(...ops).options(this.callOptions()).commit());
    }
  }

  /** Every recorded decision. */
  async list(): Promise<{ txid: bigint; decision: TxDecision }[]> {
    const all = await etcdCall('list', () => this.client.getAll().prefix(this.keys.txs).options(this.callOptions()).strings());
    return Object.entries(all).flatMap(([k, v]) => {
      const id = k.slice(this.keys.txs.length);
      return /^[0-9]{1,20}$/.test(id) ? [{ txid: BigInt(id), decision: parseDecision(v) }] : [];
    });
  }

  private callOptions(): { deadline: number } {
    return { deadline: Date.now() + this.o.timeoutMs };
  }

  /** A lease for abort fences, renewed (a new one) once half its life has passed; never kept alive. */
  private async leaseForFences(): Promise<Lease> {
    const now = Date.now();
    if (this.fenceLease !== undefined && now < this.fenceLease.until) return this.fenceLease.lease;
    const lease = this.client.lease(Math.ceil(this.o.fenceTtlMs / 1000), { autoKeepAlive: false });
    await lease.grant();
    this.fenceLease = { lease, until: now + this.o.fenceTtlMs / 2 };
    return lease;
  }
}

/**
 * An etcd call whose failure (etcd unreachable, a deadline passed) becomes
 * NO_QUORUM: a client asking `GET /v1/tx/{id}` then gets 503 and retries,
 * not 500. The caller cannot tell whether a write that failed this way was
 * applied.
 */
async function etcdCall<T>(what: string, call: () => Promise<T>): Promise<T> {
  try {
    return await call();
  } catch (err) {
    if (err instanceof SluiceError) throw err;
    throw new SluiceError('NO_QUORUM', `etcd did not answer the decision ${what}: ${err instanceof Error ? err.message : String(err)}`, [], { cause: err });
  }
}

/** A decision record from its JSON; anything else is a foreign key (INTERNAL). */
export function parseDecision(json: string): TxDecision {
  const v = JSON.parse(json) as Partial<TxDecision> & { s?: unknown };
  const parts = typeof v.tableId === 'number' && Array.isArray(v.shards);
  if (v.s === 'commit' && parts && typeof (v as { cv?: unknown }).cv === 'string') return v as TxDecision;
  if (v.s === 'abort' && parts) return v as TxDecision;
  throw new SluiceError('INTERNAL', `not a transaction decision: ${json.slice(0, 200)}`);
}
