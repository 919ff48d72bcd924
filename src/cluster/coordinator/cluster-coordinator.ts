/**
 * The coordinator of a node in a cluster: the write path
 * (`cluster-writer.ts`) and the read path (`cluster-reader.ts`) over one
 * replica transport, sharing how a node's part of a write gets delivered
 * or hinted (`delivery.ts`).
 */
import type { Hlc } from '../../core/hlc.ts';
import type { SnowflakeGenerator } from '../../core/snowflake.ts';
import type { TableEntry } from '../../storage/catalog.ts';
import type { FailureDetector } from '../membership/failure-detector.ts';
import type { Placement } from '../placement/placement.ts';
import type { HintQueue } from '../repair/hint-queue.ts';
import type { ReplicaTransport } from '../transport/replica-transport.ts';
import { ClusterReader } from './cluster-reader.ts';
import { ClusterWriter } from './cluster-writer.ts';
import type { Coordinator, RangePage, RangeQuery, ReadOptions, ReadRecord, WriteAck, WriteOptions } from './coordinator.ts';
import { Delivery } from './delivery.ts';
import type { PartitionMode } from './quorum-verdict.ts';

export interface ClusterCoordinatorDeps {
  readonly nodeId: string;
  readonly hlc: Hlc;
  /** The current id generator (its worker id is leased; it changes after a re-registration). */
  readonly ids: () => SnowflakeGenerator;
  /** Throws unless this node's etcd lease is certainly alive. */
  readonly assertLive: () => void;
  readonly placement: () => Placement;
  /** Reads the placement from etcd now (after a replica said ours is stale). */
  readonly refreshPlacement: () => Promise<Placement>;
  /** Reaches this node's own replica and its peers'. */
  readonly transport: ReplicaTransport;
  readonly detector: FailureDetector;
  readonly hints: HintQueue;
  readonly options: {
    readonly shards: number;
    readonly replicaTimeoutMs: number;
    readonly onPartition: PartitionMode;
  };
  readonly observer?: {
    readonly onHinted?: (target: string, records: number) => void;
    readonly onReadRepair?: (target: string, records: number) => void;
  };
}

/** Quorum writes and reads over the cluster's replicas. */
export class ClusterCoordinator implements Coordinator {
  private readonly writer: ClusterWriter;
  private readonly reader: ClusterReader;

  constructor(d: ClusterCoordinatorDeps) {
    const { replicaTimeoutMs } = d.options;
    const delivery = new Delivery({
      nodeId: d.nodeId,
      transport: d.transport,
      detector: d.detector,
      hints: d.hints,
      replicaTimeoutMs,
      ...(d.observer?.onHinted ? { onHinted: d.observer.onHinted } : {}),
    });
    this.writer = new ClusterWriter({
      nodeId: d.nodeId,
      hlc: d.hlc,
      ids: d.ids,
      assertLive: d.assertLive,
      placement: d.placement,
      refreshPlacement: d.refreshPlacement,
      transport: d.transport,
      delivery,
      replicaTimeoutMs,
      onPartition: d.options.onPartition,
    });
    this.reader = new ClusterReader({
      nodeId: d.nodeId,
      shards: d.options.shards,
      placement: d.placement,
      transport: d.transport,
      delivery,
      replicaTimeoutMs,
      ...(d.observer?.onReadRepair ? { onReadRepair: d.observer.onReadRepair } : {}),
    });
  }

  write(entry: TableEntry, batch: Uint8Array, count: number, release: () => void, options?: WriteOptions): Promise<WriteAck> {
    return this.writer.write(entry, batch, count, release, options);
  }

  getById(entry: TableEntry, id: bigint, options?: ReadOptions): Promise<ReadRecord | undefined> {
    return this.reader.getById(entry, id, options);
  }

  queryRange(entry: TableEntry, query: RangeQuery): Promise<RangePage> {
    return this.reader.queryRange(entry, query);
  }

  scanTable(entry: TableEntry, options?: ReadOptions): AsyncIterable<ReadRecord> {
    return this.reader.scanTable(entry, options);
  }
}
