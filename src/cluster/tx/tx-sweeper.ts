/**
 * The sweeper, run by the placement leader every `intervalMs`: it walks
 * the decisions in etcd and finishes what their coordinators left. For each
 * decision whose PREPARE deadline is safely past (no late PREPARE can still
 * be accepted anywhere), it asks every participant replica what it holds:
 *
 * - a replica still pending gets the decision pushed to it (COMMIT with the
 *   commit version, or ABORT), and the decision stays for the next round;
 * - when every replica answered and none is pending, the decision is
 *   deleted: nobody can ask for it any more (presumed abort then covers
 *   only batches nobody holds);
 * - a replica that does not answer keeps the decision: it may hold the
 *   batch staged. Such decisions are counted as unconcluded.
 */
import type { Logger } from 'pino';
import type { Catalog } from '../../storage/catalog.ts';
import type { Placement } from '../placement/placement.ts';
import type { ReplicaTransport } from '../transport/replica-transport.ts';
import type { DecisionStore, TxDecision } from './tx-decisions.ts';
import { participantNodes } from './tx-participants.ts';

/** What one sweep found. */
export interface SweepReport {
  readonly decisions: number;
  readonly concluded: number;
  /** Decisions kept because a participant was pending or did not answer. */
  readonly unconcluded: readonly { readonly txId: string; readonly decision: TxDecision['s']; readonly ageMs: number; readonly waitingFor: readonly string[] }[];
}

export interface TxSweeperDeps {
  readonly nodeId: string;
  readonly decisions: DecisionStore;
  readonly transport: ReplicaTransport;
  readonly placement: () => Placement;
  readonly catalog: Catalog;
  readonly isLeader: () => boolean;
  readonly intervalMs: number;
  /** A decision is swept only this long after it was made: the PREPARE deadline and twice the clock offset. */
  readonly settleMs: number;
  readonly replicaTimeoutMs: number;
  readonly log: Logger;
  readonly onSwept?: (report: SweepReport) => void;
}

/** Re-drives and concludes decisions left in etcd. */
export class TxSweeper {
  private readonly d: TxSweeperDeps;
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<SweepReport> | undefined;
  private last: SweepReport = { decisions: 0, concluded: 0, unconcluded: [] };

  constructor(deps: TxSweeperDeps) {
    this.d = deps;
  }

  /** The last sweep's report (empty on a node that is not the leader). */
  get report(): SweepReport {
    return this.last;
  }

  /** Starts sweeping every `intervalMs` while this node leads. */
  start(): void {
    this.timer = setInterval(() => {
      if (this.d.isLeader()) void this.sweep().catch((err: unknown) => this.d.log.warn({ event: 'tx_sweep_failed', err: (err as Error).message }, 'sweeping decisions failed'));
    }, this.d.intervalMs);
    this.timer.unref();
  }

  /** Stops sweeping; waits for a sweep in progress. */
  async stop(): Promise<void> {
    if (this.timer !== undefined) clearInterval(this.timer);
    await this.running?.catch(() => undefined);
  }

  /** One sweep now (one at a time). */
  sweep(): Promise<SweepReport> {
    this.running ??= this.pass().finally(() => {
      this.running = undefined;
    });
    return this.running;
  }

  private async pass(): Promise<SweepReport> {
    const now = Date.now();
    const all = await this.d.decisions.list();
    const concluded: bigint[] = [];
    const unconcluded: SweepReport['unconcluded'][number][] = [];
    for (const { txid, decision } of all) {
      if (now - decision.at < this.d.settleMs) continue;
      const waitingFor = await this.settle(txid, decision);
      if (waitingFor.length === 0) concluded.push(txid);
      else unconcluded.push({ txId: String(txid), decision: decision.s, ageMs: now - decision.at, waitingFor });
    }
    await this.d.decisions.conclude(concluded);
    this.last = { decisions: all.length, concluded: concluded.length, unconcluded };
    if (concluded.length > 0 || unconcluded.length > 0) this.d.log.info({ event: 'tx_swept', decisions: all.length, concluded: concluded.length, unconcluded: unconcluded.length }, 'swept atomic batch decisions');
    this.d.onSwept?.(this.last);
    return this.last;
  }

  /** Asks every participant; pushes the decision to the pending ones; returns those still pending or silent. */
  private async settle(txid: bigint, decision: TxDecision): Promise<string[]> {
    const nodes = participantNodes(decision, this.d.placement(), this.d.catalog);
    const waiting: string[] = [];
    await Promise.all(
      nodes.map(async (node) => {
        try {
          const { states } = await this.d.transport.call(node, 'TxStatus', { txids: [String(txid)] }, this.d.replicaTimeoutMs);
          if (states[0]?.state !== 'pending') return;
          waiting.push(node);
          if (decision.s === 'commit') await this.d.transport.call(node, 'Commit', { txid: String(txid), cv: decision.cv }, this.d.replicaTimeoutMs);
          else await this.d.transport.call(node, 'Abort', { txid: String(txid) }, this.d.replicaTimeoutMs);
        } catch {
          if (!waiting.includes(node)) waiting.push(node);
        }
      }),
    );
    return waiting.sort();
  }
}
