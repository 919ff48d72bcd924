/**
 * Getting one node's part of a write onto that node: a replica write over
 * the transport while the failure detector says the node is up, else (or
 * when the write fails) a durable hint on this node. A replica that is
 * reached counts as a passing health check; one that fails for a reason
 * that says it is unreachable is suspected at once rather than after the
 * detector's window.
 */
import { isSluiceError, type SluiceError } from '../../core/errors.ts';
import type { FailureDetector } from '../membership/failure-detector.ts';
import type { HintQueue } from '../repair/hint-queue.ts';
import type { ReplicaTransport } from '../transport/replica-transport.ts';

/** What one replica node did with its part of a write. */
export interface NodeResult {
  readonly lsn?: string;
  /** Neither written nor hinted. */
  readonly lost?: boolean;
  /** The node follows a newer placement than the one this write was routed by. */
  readonly stale?: boolean;
  /** The node refused the versions as too far ahead of its clock (CLOCK_SKEW): the write's answer, short of W acks. */
  readonly clockSkew?: SluiceError;
}

export interface DeliveryDeps {
  readonly nodeId: string;
  readonly transport: ReplicaTransport;
  readonly detector: FailureDetector;
  readonly hints: HintQueue;
  readonly replicaTimeoutMs: number;
  readonly onHinted?: (target: string, records: number) => void;
}

/** Writes parts of batches to replicas, hinting what does not arrive. */
export class Delivery {
  private readonly d: DeliveryDeps;

  constructor(deps: DeliveryDeps) {
    this.d = deps;
  }

  /** True for this node, and for peers the failure detector believes alive. */
  isUp(node: string): boolean {
    return node === this.d.nodeId || this.d.detector.state(node) === 'alive';
  }

  /** Writes `part` to `node` (routed by placement `epoch` when given, naming the caller's `requestId`); on failure stores it as a hint. */
  async sendOrHint(node: string, part: Buffer, records: number, epoch?: number, requestId?: string): Promise<NodeResult> {
    let stale = false;
    if (this.isUp(node)) {
      try {
        const reply = await this.d.transport.call(node, 'Write', { batch: part, ...(epoch === undefined ? {} : { epoch }), ...(requestId === undefined ? {} : { requestId }) }, this.d.replicaTimeoutMs);
        if (node !== this.d.nodeId) this.d.detector.reportSuccess(node);
        return { lsn: reply.lsn };
      } catch (err) {
        stale = isSluiceError(err) && err.code === 'STALE_PLACEMENT';
        if (node === this.d.nodeId) {
          // The placement moved on while this write was in flight; this node still holds the shard's data.
          if (!stale) return { lost: true };
          return this.d.transport.call(node, 'Write', { batch: part }, this.d.replicaTimeoutMs).then((reply) => ({ lsn: reply.lsn }), () => ({ lost: true }));
        }
        if (!isSluiceError(err) || err.code === 'NO_QUORUM' || err.code === 'SHUTTING_DOWN' || err.code === 'NOT_READY') this.d.detector.reportFailure(node);
        // Hinted like any failure (replayed once the clocks agree), and reported as what it is.
        if (isSluiceError(err) && err.code === 'CLOCK_SKEW') return { ...(await this.hint(node, part, records)), clockSkew: err };
      }
    }
    return this.hint(node, part, records, stale);
  }

  /** Stores `part` as a hint for `node`. A stale refusal is hinted too: the node is a replica in some ring, and a hint (replayed without an epoch) converges it. */
  async hint(node: string, part: Buffer, records: number, stale = false): Promise<NodeResult> {
    try {
      if (!(await this.d.hints.add(node, part))) return { lost: true, stale };
      this.d.onHinted?.(node, records);
      return { stale };
    } catch {
      return { lost: true, stale };
    }
  }
}
