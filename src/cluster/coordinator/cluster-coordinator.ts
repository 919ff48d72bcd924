/**
 * The coordinator of a node in a cluster: the write path
 * (`cluster-writer.ts`), atomic batches across shards (two-phase commit,
 * `tx/atomic-writer.ts`) and the read path (`cluster-reader.ts`) over one
 * replica transport, sharing how a node's part of a write gets delivered
 * or hinted (`delivery.ts`).
 */
import type { TableEntry } from '../../storage/catalog.ts';
import type { FailureDetector } from '../membership/failure-detector.ts';
import type { HintQueue } from '../repair/hint-queue.ts';
import { AtomicWriter, type AtomicLimits, type TxOutcomeLabel } from './atomic-writer.ts';
import type { TxConcluder } from '../tx/tx-concluder.ts';
import type { DecisionStore } from '../tx/tx-decisions.ts';
import { ClusterReader } from './cluster-reader.ts';
import { ClusterWriter } from './cluster-writer.ts';
import type { Coordinator, RangePage, RangeQuery, ReadOptions, ReadRecord, TxStatus, WriteAck, WriteOptions } from './coordinator.ts';
import { Delivery } from './delivery.ts';
import { writeContextOf, type WriteContext } from './write-context.ts';
import type { PartitionMode } from './quorum-verdict.ts';

export interface ClusterCoordinatorDeps extends WriteContext {
  readonly detector: FailureDetector;
  readonly hints: HintQueue;
  readonly options: {
    readonly shards: number;
    readonly replicaTimeoutMs: number;
    readonly onPartition: PartitionMode;
    /** Longest a replica holds a snapshot read for undecided batches. */
    readonly snapshotWaitMs: number;
    /** Bound on the clock offset between nodes: snapshots are taken this far ahead. */
    readonly maxClockOffsetMs: number;
  };
  /** Two-phase commit of atomic batches across shards. */
  readonly tx: {
    readonly decisions: DecisionStore;
    readonly concluder: TxConcluder;
    /** This node's registration in etcd (a decision is fenced on it). */
    readonly registration: () => { key: string; createRevision: string };
    readonly limits: Omit<AtomicLimits, 'replicaTimeoutMs'>;
  };
  readonly observer?: {
    readonly onHinted?: (target: string, records: number) => void;
    readonly onReadRepair?: (target: string, records: number) => void;
    readonly onTx?: (outcome: TxOutcomeLabel, phaseMs: { prepare?: number; decide?: number; commit?: number }) => void;
  };
}

/** Quorum writes and reads over the cluster's replicas. */
export class ClusterCoordinator implements Coordinator {
  private readonly writer: ClusterWriter;
  private readonly atomic: AtomicWriter;
  private readonly reader: ClusterReader;
  private readonly d: ClusterCoordinatorDeps;

  constructor(d: ClusterCoordinatorDeps) {
    this.d = d;
    const { replicaTimeoutMs } = d.options;
    const delivery = new Delivery({
      nodeId: d.nodeId,
      transport: d.transport,
      detector: d.detector,
      hints: d.hints,
      replicaTimeoutMs,
      ...(d.observer?.onHinted ? { onHinted: d.observer.onHinted } : {}),
    });
    const context = writeContextOf(d);
    this.writer = new ClusterWriter({
      ...context,
      delivery,
      replicaTimeoutMs,
      onPartition: d.options.onPartition,
    });
    this.atomic = new AtomicWriter({
      ...context,
      delivery,
      writer: this.writer,
      decisions: d.tx.decisions,
      concluder: d.tx.concluder,
      registration: d.tx.registration,
      limits: { ...d.tx.limits, replicaTimeoutMs },
      ...(d.observer?.onTx ? { onOutcome: d.observer.onTx } : {}),
    });
    this.reader = new ClusterReader({
      nodeId: d.nodeId,
      hlc: d.hlc,
      shards: d.options.shards,
      placement: d.placement,
      refreshPlacement: d.refreshPlacement,
      transport: d.transport,
      delivery,
      replicaTimeoutMs,
      snapshotWaitMs: d.options.snapshotWaitMs,
      maxClockOffsetMs: d.options.maxClockOffsetMs,
      ...(d.observer?.onReadRepair ? { onReadRepair: d.observer.onReadRepair } : {}),
    });
  }

  write(entry: TableEntry, batch: Uint8Array, count: number, release: () => void, options?: WriteOptions): Promise<WriteAck> {
    if (options?.atomic === true) return this.atomic.write(entry, batch, count, release, options);
    return this.writer.write(entry, batch, count, release, options);
  }

  /** Atomic batches this coordinator runs now. */
  get atomicRunning(): number {
    return this.atomic.running;
  }

  getById(entry: TableEntry, id: bigint, options?: ReadOptions): Promise<ReadRecord | undefined> {
    return this.reader.getById(entry, id, options);
  }

  queryRange(entry: TableEntry, query: RangeQuery): Promise<RangePage> {
    return this.reader.queryRange(entry, query);
  }

  scanTable(entry: TableEntry, options?: ReadOptions): AsyncIterable<readonly ReadRecord[]> {
    return this.reader.scanTable(entry, options);
  }

  snapshot(token?: string): bigint {
    return this.reader.snapshot(token);
  }

  asOfMax(): bigint {
    return this.reader.asOfMax();
  }

  /** The decision in etcd; once it is concluded, what the live nodes' done markers say. */
  async txStatus(txid: bigint): Promise<TxStatus> {
    const decision = await this.d.tx.decisions.read(txid);
    if (decision !== undefined) return decision.s === 'commit' ? 'committed' : 'aborted';
    const nodes = this.d.placement().nodes.filter((n) => n === this.d.nodeId || this.d.detector.state(n) === 'alive');
    const answers = await Promise.allSettled(nodes.map((n) => this.d.transport.call(n, 'TxStatus', { txids: [String(txid)] }, this.d.options.replicaTimeoutMs)));
    const states = answers.flatMap((a) => (a.status === 'fulfilled' ? [a.value.states[0]?.state] : []));
    if (states.includes('committed')) return 'committed';
    if (states.includes('aborted')) return 'aborted';
    return 'unknown';
  }
}
