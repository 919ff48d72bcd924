/**
 * What the HTTP routes need from the node. The server starts listening
 * before recovery finishes (so /healthz and /readyz answer during a long
 * WAL replay); until then `services()` throws NOT_READY.
 */
import type { Logger } from 'pino';
import type { NodeConfig } from '../../config.ts';
import type { Coordinator } from '../../cluster/coordinator/coordinator.ts';
import type { TableAdmin } from '../../cluster/metadata/cluster-tables.ts';
import type { ClusterDetail, ClusterStatus } from '../../cluster/cluster-runtime.ts';
import type { RepairReport } from '../../cluster/repair/anti-entropy.ts';
import type { CleanupReport } from '../../cluster/repair/cleanup.ts';
import type { Admission } from '../../ingest/admission.ts';
import type { IngestPipeline } from '../../ingest/pipeline.ts';
import type { IngestDoor } from '../../ingest/ingest-door.ts';
import type { EndpointIngestor } from '../../ingest/endpoint-ingestor.ts';
import type { IngestorStatus } from '../../ingest/ingestor.ts';
import type { Catalog } from '../../storage/catalog.ts';
import type { NodeMetrics } from '../metrics.ts';
import type { RecordView } from '../record-view.ts';
import type { HttpAuthOptions } from './auth-hook.ts';
import type { StatusSources } from './status/status-snapshot.ts';

/** Lifecycle of a node as the API reports it. */
export type NodePhase = 'starting' | 'ready' | 'stopping' | 'failed';

/** The parts that exist once the node is ready. */
export interface NodeServices {
  readonly catalog: Catalog;
  /** Table changes: the local catalog, or the cluster catalog in etcd. */
  readonly tables: TableAdmin;
  /** The cluster parts, when the node runs with --etcd. */
  readonly cluster: ClusterControl | undefined;
  readonly coordinator: Coordinator;
  readonly pipeline: IngestPipeline;
}

/** What the API may ask of the cluster. */
export interface ClusterControl {
  status(): Promise<ClusterStatus>;
  /** Heartbeat ages, detector timings and the shard map (the status page). */
  statusDetail(): ClusterDetail;
  repair(shard?: number): Promise<RepairReport>;
  cleanup(): Promise<CleanupReport>;
  decommission(node: string, cancel: boolean): Promise<void>;
}

/** Everything a route handler may use. */
export interface ApiContext {
  readonly config: NodeConfig;
  readonly log: Logger;
  readonly metrics: NodeMetrics;
  readonly admission: Admission;
  /** Admission + pipeline: what every source writes through. */
  readonly door: IngestDoor;
  /** The request/response sources, counting what they write. */
  readonly endpoints: { readonly http: EndpointIngestor; readonly grpc: EndpointIngestor };
  readonly view: RecordView;
  /** Who may call, and the audit log. */
  readonly auth: HttpAuthOptions;
  /** What the status page reads besides the above (start time, version, storage, its counter samples). */
  readonly status: StatusSources;
  /** Every source of the node and its status. */
  sources(): IngestorStatus[];
  phase(): NodePhase;
  /** The services, or NOT_READY / SHUTTING_DOWN. */
  services(): NodeServices;
}
