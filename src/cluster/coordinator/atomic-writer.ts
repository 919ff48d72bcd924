/**
 * The coordinator of an atomic batch across shards (`atomic=true`):
 * presumed-abort two-phase commit with the decision in etcd.
 *
 * 1. Admit: within --tx-bytes-max, --tx-records-max and --tx-in-flight-max;
 *    every shard has W live replicas (never buffered). Ids are stamped as
 *    for any write; the version is provisional (0: one version for the
 *    whole batch, known at the commit).
 * 2. PREPARE each replica of every participant shard (both rings in a
 *    transition) with its part; it stages the part durably, out of sight of
 *    every read, and answers its prepare time `pt`.
 * 3. Vote: short of W PREPARE acks per shard, ABORT (best effort; no etcd
 *    write: presumed abort) and answer 503 NO_QUORUM; a stale placement
 *    aborts and retries with a new txid.
 * 4. Decide: the commit version cv above every pt (HLC), then one
 *    create-if-absent in etcd,
 *    conditioned on this node's registration (tx-decisions.ts). A fence
 *    found there means 409 TX_ABORTED; no answer from etcd, 504 TX_IN_DOUBT.
 * 5. COMMIT to every replica; a replica that did not take PREPARE or COMMIT
 *    gets the committed records (version cv) as a hint. Answer once W
 *    replicas per shard took it: a replica answers COMMIT once claimed over
 *    its durable PREPARE, before the COMMIT's own fsync, and holds plain
 *    reads of the batch's shards until it is applied (tx-endpoint.ts).
 * 6. Conclude: when every replica took both, the decision is deleted from
 *    etcd once they report the COMMIT durable (batched, tx-concluder.ts);
 *    otherwise the sweeper concludes it later.
 *
 * Failpoints mark the steps the process tests kill the coordinator at.
 */
import { subBatch } from '../../core/codec/batch-slices.ts';
import { SluiceError, isSluiceError } from '../../core/errors.ts';
import { failpoint, failpointArmed } from '../../core/failpoint.ts';
import { currentDef, type TableEntry } from '../../storage/catalog.ts';
import { committedBatch } from '../../storage/tx/tx-frame-v1.ts';
import type { ClusterWriter } from './cluster-writer.ts';
import { routeBatch, type Routing } from './cluster-writer.ts';
import type { Consistency, WriteAck, WriteOptions } from './coordinator.ts';
import type { Delivery } from './delivery.ts';
import type { WriteContext } from './write-context.ts';
import { availability, writeVerdict } from './quorum-verdict.ts';
import { encodeClusterToken } from './read-token.ts';
import type { TxConcluder } from '../tx/tx-concluder.ts';
import type { DecisionStore, TxDecision } from '../tx/tx-decisions.ts';

/** Retries of a batch whose placement turned out stale, each with a new txid. */
const STALE_RETRIES = 3;

/** How an atomic batch ended, for metrics. */
export type TxOutcomeLabel = 'committed' | 'aborted' | 'no_quorum' | 'in_doubt' | 'refused';

/** Limits and timeouts of the coordinator side. */
export interface AtomicLimits {
  readonly txBytesMax: number;
  readonly txRecordsMax: number;
  readonly txInFlightMax: number;
  readonly txCommitDeadlineMs: number;
  readonly replicaTimeoutMs: number;
}

export interface AtomicWriterDeps extends WriteContext {
  readonly delivery: Delivery;
  /** The plain write path: stamping, and batches inside one shard (one WAL frame per replica: no 2PC). */
  readonly writer: ClusterWriter;
  readonly decisions: DecisionStore;
  readonly concluder: TxConcluder;
  /** This node's registration in etcd (the decision is fenced on it). */
  readonly registration: () => Registration;
  readonly limits: AtomicLimits;
  readonly onOutcome?: (outcome: TxOutcomeLabel, phaseMs: { prepare?: number; decide?: number; commit?: number }) => void;
}

/** A node's registration in etcd: its key and the revision that created it. */
type Registration = { readonly key: string; readonly createRevision: string };

/** What PREPARE gathered. */
interface Prepared {
  readonly acked: ReadonlySet<string>;
  readonly maxPt: bigint;
}

/** Two-phase commit of atomic batches across shards. */
export class AtomicWriter {
  private readonly d: AtomicWriterDeps;
  private inFlight = 0;

  constructor(deps: AtomicWriterDeps) {
    this.d = deps;
  }

  /** Atomic batches this coordinator runs now. */
  get running(): number {
    return this.inFlight;
  }

  /** Writes `batch` all or nothing (see the file comment). */
  async write(entry: TableEntry, batch: Uint8Array, count: number, release: () => void, options: WriteOptions = {}): Promise<WriteAck> {
    const buf = Buffer.isBuffer(batch) ? batch : Buffer.from(batch.buffer, batch.byteOffset, batch.byteLength);
    const { limits } = this.d;
    if (count > limits.txRecordsMax || buf.length > limits.txBytesMax) {
      release();
      this.d.onOutcome?.('refused', {});
      throw new SluiceError('TX_TOO_LARGE', `an atomic batch holds at most ${limits.txRecordsMax} records and ${limits.txBytesMax} encoded bytes; this one has ${count} records, ${buf.length} bytes`);
    }
    let placement = this.d.placement();
    if (placement.nodes.length === 0) {
      release();
      throw new SluiceError('NO_QUORUM', 'the cluster has no placement yet');
    }
    const rf = currentDef(entry).replicationFactor;
    // Inside one shard every replica gets the whole batch in one WAL frame: atomic without 2PC.
    if (routeBatch(buf, placement, rf).shards.size <= 1) return this.d.writer.write(entry, buf, count, release, { ...options, atomic: true });
    if (this.inFlight >= limits.txInFlightMax) {
      release();
      this.d.onOutcome?.('refused', {});
      throw new SluiceError('OVERLOADED', `${this.inFlight} atomic batches are running on this coordinator (--tx-in-flight-max ${limits.txInFlightMax}); retry after the Retry-After delay`);
    }
    this.inFlight++;
    try {
      this.d.assertLive();
      // The registration the ids are stamped under: a decision conditioned on it fails if the
      // lease (and with it the worker id) was lost meanwhile, even if the node registered again.
      const registration = this.d.registration();
      const consistency = options.consistency ?? 'quorum';
      const stamped = await this.d.writer.stamp(entry, buf, count, placement, options.keyed === true, 'provisional');
      const ids = stamped.ids;
      placement = stamped.placement;
      for (let attempt = 0; ; attempt++) {
        try {
          return { ids, ...(await this.attempt(entry, buf, routeBatch(buf, placement, rf), placement.epoch, consistency, registration, options.requestId)) };
        } catch (err) {
          if (!isSluiceError(err, 'STALE_PLACEMENT') || attempt >= STALE_RETRIES) throw err;
          placement = await this.d.refreshPlacement();
        }
      }
    } finally {
      this.inFlight--;
      release();
    }
  }

  /** One two-phase commit under a new txid: prepare, decide, commit. */
  private async attempt(entry: TableEntry, buf: Buffer, routing: Routing, epoch: number, consistency: Consistency, registration: Registration, requestId?: string): Promise<{ token: string; txId: string }> {
    const available = availability(routing.shards, (n) => this.d.delivery.isUp(n), consistency, 'refuse');
    if (available instanceof SluiceError) throw available;
    const txid = this.d.ids().next();
    const txId = String(txid);
    const shards = [...routing.shards.keys()].sort((a, b) => a - b);
    const parts = { tableId: entry.id, shards };
    const t0 = performance.now();
    const deadlineMs = Date.now() + this.d.limits.txCommitDeadlineMs;
    const prepared = await this.prepare(txid, buf, routing, { epoch, deadlineMs, shards, consistency, ...(requestId === undefined ? {} : { requestId }) });
    const t1 = performance.now();
    failpoint('coord.after-prepare-acks');
    const cv = this.commitVersion(prepared.maxPt);
    if (Date.now() > deadlineMs) {
      this.abortEverywhere(txid, routing);
      this.d.onOutcome?.('aborted', { prepare: t1 - t0 });
      throw new SluiceError('TX_ABORTED', `atomic batch ${txId}: the coordinator passed its decision deadline; nothing was stored`, [], { txId });
    }
    failpoint('coord.before-decision');
    await this.decide(txid, cv, parts, routing, registration);
    const t2 = performance.now();
    failpoint('coord.after-decision');
    const lsns = await this.commit(txid, cv, buf, routing, prepared, consistency);
    const t3 = performance.now();
    this.d.onOutcome?.('committed', { prepare: t1 - t0, decide: t2 - t1, commit: t3 - t2 });
    return { token: encodeClusterToken(lsns, cv), txId };
  }

  /** Sends PREPARE to every replica; resolves with W acks per shard, or aborts and throws. `requestId` goes along for the replicas' audit lines. */
  private async prepare(txid: bigint, buf: Buffer, routing: Routing, o: { epoch: number; deadlineMs: number; shards: readonly number[]; consistency: Consistency; requestId?: string }): Promise<Prepared> {
    const { epoch, deadlineMs, shards, consistency } = o;
    const acked = new Set<string>();
    const failed = new Set<string>();
    let maxPt = 0n;
    let stale = false;
    let overloaded: SluiceError | undefined;
    const verdict = await new Promise<'ok' | SluiceError>((resolve) => {
      let outstanding = routing.byNode.size;
      for (const [node, positions] of routing.byNode) {
        const request = { txid: String(txid), epoch, deadlineMs, coordinator: this.d.nodeId, shards: [...shards], batch: subBatch(buf, positions), ...(o.requestId === undefined ? {} : { requestId: o.requestId }) };
        void this.d.transport.call(node, 'Prepare', request, this.d.limits.replicaTimeoutMs).then(
          (reply) => {
            acked.add(node);
            const pt = BigInt(reply.pt);
            if (pt > maxPt) maxPt = pt;
          },
          (err: unknown) => {
            failed.add(node);
            if (isSluiceError(err, 'STALE_PLACEMENT')) stale = true;
            if (isSluiceError(err, 'OVERLOADED')) overloaded = err;
          },
        ).finally(() => {
          outstanding--;
          // Failed PREPAREs are never hinted: the batch is decided without them, or aborted.
          const v = writeVerdict({ shards: routing.shards.values(), acked, failed, consistency, degraded: false, stale });
          if (v === 'ok' || v instanceof SluiceError) resolve(v);
          else if (outstanding === 0) resolve(new SluiceError('NO_QUORUM', 'PREPARE reached too few replicas'));
        });
      }
    });
    if (verdict === 'ok') return { acked, maxPt };
    this.abortEverywhere(txid, routing);
    this.d.onOutcome?.('no_quorum', {});
    if (overloaded !== undefined && verdict.code !== 'STALE_PLACEMENT') throw overloaded;
    throw verdict;
  }

  /**
   * The commit version: above every prepare time, so a snapshot below any
   * participant's prepare time (which that participant may have served
   * already) does not include the batch.
   */
  private commitVersion(maxPt: bigint): bigint {
    this.d.hlc.update(maxPt);
    return this.d.hlc.now();
  }

  /** Records the commit in etcd, or learns it was fenced (409), or cannot tell (504). */
  private async decide(txid: bigint, cv: bigint, parts: { tableId: number; shards: readonly number[] }, routing: Routing, registration: Registration): Promise<void> {
    const txId = String(txid);
    const record: TxDecision & { s: 'commit' } = { s: 'commit', cv: String(cv), coord: this.d.nodeId, tableId: parts.tableId, shards: [...parts.shards], at: Date.now() };
    let decision: TxDecision | undefined;
    try {
      const attempt = await this.d.decisions.commit(txid, record, registration);
      if (attempt.committed) return;
      // A fence, or our registration is gone (a lease lost meanwhile): make sure of an abort.
      decision = attempt.decision ?? (await this.d.decisions.fence(txid, parts));
    } catch {
      // etcd did not answer: the commit may or may not be recorded. Ask again, then fence.
      try {
        decision = (await this.d.decisions.read(txid)) ?? (await this.d.decisions.fence(txid, parts));
      } catch {
        this.d.onOutcome?.('in_doubt', {});
        throw new SluiceError('TX_IN_DOUBT', `atomic batch ${txId}: etcd did not record the decision in time; it will be all or nothing, GET /v1/tx/${txId} tells which once decided`, [], { txId });
      }
    }
    if (decision.s === 'commit' && decision.coord === this.d.nodeId && decision.cv === String(cv)) return;
    this.abortEverywhere(txid, routing);
    this.d.onOutcome?.('aborted', {});
    throw new SluiceError('TX_ABORTED', `atomic batch ${txId} was aborted (its coordinator was fenced or too slow); nothing of it is stored, retry it`, [], { txId });
  }

  /**
   * COMMIT to every replica; resolves once W replicas per shard took it (claimed; see the file comment),
   * or every replica answered. Fewer than W is still a commit: the decision
   * is in etcd and W replicas per shard hold the prepared records, so their
   * resolvers apply it. Replicas that missed PREPARE or COMMIT get the
   * committed records as hints.
   */
  private async commit(txid: bigint, cv: bigint, buf: Buffer, routing: Routing, prepared: Prepared, consistency: Consistency): Promise<Map<string, string>> {
    const lsns = new Map<string, string>();
    const acked = new Set<string>();
    const failed = new Set<string>();
    let early = false;
    const nodes = [...routing.byNode.keys()];
    let settled: Promise<void> = Promise.resolve();
    await new Promise<void>((resolve) => {
      const check = (): void => {
        if (writeVerdict({ shards: routing.shards.values(), acked, failed, consistency, degraded: false, stale: false }) !== 'wait') resolve();
      };
      const send = (node: string): Promise<void> =>
        this.d.transport
          .call(node, 'Commit', { txid: String(txid), cv: String(cv) }, this.d.limits.replicaTimeoutMs)
          .then(
            (reply) => {
              lsns.set(node, reply.lsn);
              acked.add(node);
              if (reply.durable === false) early = true;
            },
            () => {
              failed.add(node);
            },
          )
          .finally(check);
      settled = (async () => {
        if (!failpointArmed('coord.mid-commit')) {
          await Promise.all(nodes.map(send));
          return;
        }
        // Armed: the first replica alone, so the failpoint dies with exactly one COMMIT applied.
        const [first, ...rest] = nodes;
        if (first !== undefined) await send(first);
        failpoint('coord.mid-commit');
        await Promise.all(rest.map(send));
      })();
      void settled.finally(resolve);
    });
    void settled.then(() => this.afterCommit(txid, cv, buf, routing, nodes.filter((n) => !acked.has(n) || !prepared.acked.has(n)), early ? nodes : []));
    return lsns;
  }

  /**
   * Hints the committed records to replicas that missed PREPARE or COMMIT;
   * concludes when none did (once `unconfirmed`, the replicas that answered
   * before the COMMIT's fsync, report it durable).
   */
  private async afterCommit(txid: bigint, cv: bigint, buf: Buffer, routing: Routing, missed: readonly string[], unconfirmed: readonly string[]): Promise<void> {
    if (missed.length === 0) {
      if (unconfirmed.length > 0) this.d.concluder.confirm(txid, unconfirmed);
      else this.d.concluder.add(txid);
      return;
    }
    const committed = committedBatch(buf, cv);
    for (const node of missed) {
      const positions = routing.byNode.get(node) ?? [];
      await this.d.delivery.hint(node, subBatch(committed, positions), positions.length);
    }
  }

  /** Best-effort ABORT to every replica of the batch (presumed abort: nothing waits on it). */
  private abortEverywhere(txid: bigint, routing: Routing): void {
    for (const node of routing.byNode.keys()) {
      void this.d.transport.call(node, 'Abort', { txid: String(txid) }, this.d.limits.replicaTimeoutMs).catch(() => undefined);
    }
  }
}
