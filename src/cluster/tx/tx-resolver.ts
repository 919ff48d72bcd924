/**
 * The participant's resolver: every node, every `intervalMs`, looks at the
 * atomic batches prepared here and still undecided after
 * `resolveAfterMs` (their coordinator died, was partitioned, or its COMMIT
 * was lost) and settles each one:
 *
 * 1. the decision in etcd: commit or abort, obeyed;
 * 2. none there: the other participants are asked (a replica that applied
 *    the outcome keeps a done marker): one that committed, or aborted,
 *    settles it;
 * 3. still nothing: an abort fence is written to etcd with
 *    create-if-absent, and whatever etcd then holds is obeyed (a commit
 *    that won the race is obeyed too). No decision means abort.
 *
 * Whoever learns the outcome pushes it to the other participants. To keep
 * the replicas of a batch from all asking at once, each waits
 * `intervalMs` more per place it takes in an order drawn from the txid.
 */
import type { Logger } from 'pino';
import { failpoint } from '../../core/failpoint.ts';
import { SingleFlight } from '../../core/single-flight.ts';
import { murmur3String } from '../../core/murmur3.ts';
import type { Catalog } from '../../storage/catalog.ts';
import type { LocalStore } from '../../storage/local-store.ts';
import type { PendingTx } from '../../storage/tx/staged-txs.ts';
import type { Placement } from '../placement/placement.ts';
import type { ReplicaTransport } from '../transport/replica-transport.ts';
import type { DecisionStore, TxDecision } from './tx-decisions.ts';
import { participantNodes, pushDecision } from './tx-participants.ts';

/** How one resolution ended, for metrics. */
export type ResolutionResult = 'committed' | 'aborted' | 'fenced' | 'failed';

export interface TxResolverDeps {
  readonly nodeId: string;
  readonly store: LocalStore;
  readonly catalog: Catalog;
  readonly decisions: DecisionStore;
  readonly transport: ReplicaTransport;
  readonly placement: () => Placement;
  readonly resolveAfterMs: number;
  readonly intervalMs: number;
  readonly replicaTimeoutMs: number;
  /** The clock-offset bound: past a batch's deadline plus this, no coordinator can still decide it. @default 0 */
  readonly maxClockOffsetMs?: number;
  readonly log: Logger;
  readonly onResolved?: (result: ResolutionResult) => void;
}

/** Settles the atomic batches left pending on this node. */
export class TxResolver {
  private readonly d: TxResolverDeps;
  private timer: NodeJS.Timeout | undefined;
  private readonly passes = new SingleFlight(() => this.pass());
  /** Batches a snapshot read waits on: resolved at the next tick whatever their age. */
  private readonly urgent = new Set<bigint>();

  constructor(deps: TxResolverDeps) {
    this.d = deps;
  }

  /** Starts the periodic pass. */
  start(): void {
    this.timer = setInterval(() => void this.tick(), this.d.intervalMs);
    this.timer.unref();
  }

  /** Stops it; waits for a pass in progress. */
  async stop(): Promise<void> {
    if (this.timer !== undefined) clearInterval(this.timer);
    await this.passes.idle();
  }

  /** Asks for these batches to be resolved at the next pass, whatever their age. */
  hurry(txids: Iterable<bigint>): void {
    for (const txid of txids) this.urgent.add(txid);
  }

  /** One pass over the pending table (one at a time). */
  tick(): Promise<void> {
    return this.passes.run();
  }

  private async pass(): Promise<void> {
    const now = Date.now();
    for (const tx of this.d.store.pendingTxs()) {
      if (tx.decided !== undefined) continue;
      let due = tx.preparedAtMs + this.d.resolveAfterMs + this.rank(tx) * this.d.intervalMs;
      // Found pending at open, a batch may have been committed here before the crash, and plain reads
      // wait for it: resolve it as soon as its coordinator can no longer decide it (no race with a fence).
      if (tx.recovered === true) due = Math.min(due, tx.deadlineMs + (this.d.maxClockOffsetMs ?? 0));
      if (now < due && !this.urgent.has(tx.txid)) continue;
      this.urgent.delete(tx.txid);
      const result = await this.resolve(tx).catch((err: unknown) => {
        this.d.log.warn({ event: 'tx_resolve_failed', txId: String(tx.txid), err: (err as Error).message }, 'resolving an atomic batch failed; will retry');
        return 'failed' as const;
      });
      this.d.onResolved?.(result);
    }
  }

  /** Settles one pending batch (the file comment's three steps). */
  async resolve(tx: PendingTx): Promise<ResolutionResult> {
    const parts = { tableId: tx.tableId, shards: tx.shards };
    let decision = await this.d.decisions.read(tx.txid);
    let fenced = false;
    if (decision === undefined) {
      decision = await this.askParticipants(tx);
      if (decision === undefined) {
        decision = await this.d.decisions.fence(tx.txid, parts);
        fenced = decision.s === 'abort';
        if (fenced) failpoint('resolver.after-fence');
      }
    }
    if (this.d.store.pendingTxs().every((p) => p.txid !== tx.txid || p.decided !== undefined)) return decision.s === 'commit' ? 'committed' : 'aborted';
    if (decision.s === 'commit') await this.d.store.commitTx(tx.txid, BigInt(decision.cv));
    else await this.d.store.abortTx(tx.txid);
    this.d.log.info({ event: 'tx_resolved', txId: String(tx.txid), outcome: decision.s, fenced }, 'resolved an atomic batch whose coordinator did not finish it');
    this.push(tx.txid, decision);
    return fenced ? 'fenced' : decision.s === 'commit' ? 'committed' : 'aborted';
  }

  /** An outcome some other participant already applied, as a decision; undefined when none did. */
  private async askParticipants(tx: PendingTx): Promise<TxDecision | undefined> {
    const peers = this.participants(tx).filter((n) => n !== this.d.nodeId);
    const answers = await Promise.allSettled(peers.map((n) => this.d.transport.call(n, 'TxStatus', { txids: [String(tx.txid)] }, this.d.replicaTimeoutMs)));
    for (const a of answers) {
      const s = a.status === 'fulfilled' ? a.value.states[0] : undefined;
      if (s?.state === 'committed') return { s: 'commit', cv: s.cv ?? '0', coord: tx.coordinator, tableId: tx.tableId, shards: tx.shards, at: Date.now() };
      if (s?.state === 'aborted') return { s: 'abort', tableId: tx.tableId, shards: tx.shards, at: Date.now() };
    }
    return undefined;
  }

  /** Best-effort: tells the other participants the outcome. */
  private push(txid: bigint, decision: TxDecision): void {
    const nodes = participantNodes(decision, this.d.placement(), this.d.catalog).filter((n) => n !== this.d.nodeId);
    for (const node of nodes) pushDecision(this.d.transport, node, String(txid), decision, this.d.replicaTimeoutMs).catch(() => undefined);
  }

  private participants(tx: PendingTx): string[] {
    return participantNodes({ tableId: tx.tableId, shards: tx.shards }, this.d.placement(), this.d.catalog);
  }

  /** This node's place among the batch's participants in an order drawn from the txid (0 goes first). */
  private rank(tx: PendingTx): number {
    const key = (n: string): number => murmur3String(`${tx.txid}:${n}`);
    const order = this.participants(tx).sort((a, b) => key(a) - key(b));
    return Math.max(0, order.indexOf(this.d.nodeId));
  }
}
