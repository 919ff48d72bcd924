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
import { SingleFlight } from '../../core/single-flight.ts';
import type { Catalog } from '../../storage/catalog.ts';
import type { Placement } from '../placement/placement.ts';
import type { ReplicaTransport } from '../transport/replica-transport.ts';
import type { DecisionStore, TxDecision } from './tx-decisions.ts';
import { participantNodes, pushDecision } from './tx-participants.ts';

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

/** Decisions settled per round of TxStatus calls (one call per node for the chunk). */
const SWEEP_CHUNK_DECISIONS = 500;
/** Decisions pushed to pending replicas at once. */
const SWEEP_PUSHES_IN_FLIGHT_MAX = 16;

/** Re-drives and concludes decisions left in etcd. */
export class TxSweeper {
  private readonly d: TxSweeperDeps;
  private timer: NodeJS.Timeout | undefined;
  private readonly passes = new SingleFlight(() => this.pass());
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
    await this.passes.idle();
  }

  /** One sweep now (one at a time). */
  sweep(): Promise<SweepReport> {
    return this.passes.run();
  }

  private async pass(): Promise<SweepReport> {
    const now = Date.now();
    const all = await this.d.decisions.list();
    const due = all.filter(({ decision }) => now - decision.at >= this.d.settleMs);
    const unconcluded: SweepReport['unconcluded'][number][] = [];
    let concluded = 0;
    for (let i = 0; i < due.length; i += SWEEP_CHUNK_DECISIONS) {
      const chunk = due.slice(i, i + SWEEP_CHUNK_DECISIONS);
      const waiting = await this.settle(chunk);
      const done = chunk.filter(({ txid }) => (waiting.get(txid) ?? []).length === 0).map(({ txid }) => txid);
      // Deleted as the pass goes: a long pass (many decisions, a node down) still concludes what it can.
      await this.d.decisions.conclude(done);
      concluded += done.length;
      for (const { txid, decision } of chunk) {
        const nodes = waiting.get(txid) ?? [];
        if (nodes.length > 0) unconcluded.push({ txId: String(txid), decision: decision.s, ageMs: now - decision.at, waitingFor: nodes });
      }
    }
    this.last = { decisions: all.length, concluded, unconcluded };
    if (concluded > 0 || unconcluded.length > 0) this.d.log.info({ event: 'tx_swept', decisions: all.length, concluded, unconcluded: unconcluded.length }, 'swept atomic batch decisions');
    this.d.onSwept?.(this.last);
    return this.last;
  }

  /**
   * Asks every participant of a chunk of decisions what it holds, one
   * TxStatus call per node for the whole chunk; pushes each decision to the
   * replicas still pending it (a bounded number of pushes at a time).
   * Returns, per decision, the nodes that were pending or did not answer.
   */
  private async settle(chunk: readonly { txid: bigint; decision: TxDecision }[]): Promise<Map<bigint, string[]>> {
    const placement = this.d.placement();
    const byNode = new Map<string, bigint[]>();
    const waiting = new Map<bigint, string[]>();
    for (const { txid, decision } of chunk) {
      for (const node of participantNodes(decision, placement, this.d.catalog)) byNode.set(node, [...(byNode.get(node) ?? []), txid]);
    }
    const pushes: (() => Promise<unknown>)[] = [];
    const decisions = new Map(chunk.map(({ txid, decision }) => [txid, decision]));
    const wait = (txid: bigint, node: string): void => void waiting.set(txid, [...(waiting.get(txid) ?? []), node]);
    await Promise.all(
      [...byNode].map(async ([node, txids]) => {
        let states: { txid: string; state: string }[];
        try {
          states = (await this.d.transport.call(node, 'TxStatus', { txids: txids.map(String) }, this.d.replicaTimeoutMs)).states;
        } catch {
          for (const txid of txids) wait(txid, node);
          return;
        }
        for (const s of states) {
          if (s.state !== 'pending') continue;
          const txid = BigInt(s.txid);
          const decision = decisions.get(txid);
          if (decision === undefined) continue;
          wait(txid, node);
          pushes.push(() => pushDecision(this.d.transport, node, s.txid, decision, this.d.replicaTimeoutMs));
        }
      }),
    );
    await runBounded(pushes, SWEEP_PUSHES_IN_FLIGHT_MAX);
    for (const nodes of waiting.values()) nodes.sort();
    return waiting;
  }
}

/** Runs `tasks` with at most `limit` in flight; a failed task counts as done (the next sweep retries it). */
async function runBounded(tasks: readonly (() => Promise<unknown>)[], limit: number): Promise<void> {
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < tasks.length) {
      const task = tasks[next++] as () => Promise<unknown>;
      await task().catch(() => undefined);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, tasks.length) }, worker));
}
