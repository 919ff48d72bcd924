/**
 * Every option of a sluice node in one typed place, with its default and
 * its bounds. Names carry their unit last (`flushDelayMsMax`). The CLI and
 * tests build a `NodeConfig` with `resolveConfig`, which rejects values out
 * of bounds instead of clamping them silently.
 */
import type { KafkaSourceConfig } from './sources/kafka/kafka-source-config.ts';
import type { EngineKind } from './storage/engine/storage-engine.ts';
import { SluiceError } from './core/errors.ts';

const KiB = 1024;
const MiB = 1024 * KiB;

/** How the WAL decides when to flush a group commit. */
export type FlushMode = 'idle' | 'adaptive';
/** What WAL recovery does with a bad frame before the tail. */
export type WalRecoveryMode = 'strict' | 'truncate';
/** What a coordinator does when a write cannot reach W replicas. */
export type OnPartition = 'refuse' | 'buffer';

/** The full configuration of one node. */
export interface NodeConfig {
  /** Directory holding wal/, index/, catalog.json. @default './sluice-data' */
  readonly dataDir: string;
  /** HTTP listen host. @default '127.0.0.1' */
  readonly httpHost: string;
  /** HTTP listen port (0 = pick a free one). @default 8080 */
  readonly httpPort: number;
  /**
   * Index engine of a new data dir (`level` when unset); an existing data
   * dir keeps the engine it was created with, and naming another is refused.
   */
  readonly engine?: EngineKind;
  /** Shards per table; fixed for the life of a data dir. @default 16 */
  readonly shards: number;
  /** Snowflake datacenter id, 0..31. @default 0 */
  readonly datacenterId: number;
  /** Snowflake machine id, 0..31. @default 0 */
  readonly machineId: number;

  /** Largest request body after decompression. @default 16 MiB */
  readonly bodyBytesMax: number;
  /** Request body bytes admitted at once (reading, decoding, awaiting the WAL and the index); past it: 429. @default 64 MiB */
  readonly inFlightBytesMax: number;
  /** Write requests admitted at once; past it: 429. @default 4096 */
  readonly inFlightRequestsMax: number;
  /** Retry-After seconds sent with 429. @default 1 */
  readonly retryAfterSeconds: number;
  /** Bodies at least this large are decoded and validated in the worker pool. @default 64 KiB */
  readonly workerBodyBytesMin: number;
  /** Decode worker threads (0 = decode on the main thread only). @default 2 */
  readonly decodeThreads: number;
  /** Rejections listed in one error answer. @default 100 */
  readonly errorDetailsMax: number;
  /** Nesting depth of `json` values. @default 32 */
  readonly jsonDepthMax: number;
  /** Largest shard key or primary key, UTF-8 bytes. @default 1 KiB */
  readonly keyBytesMax: number;
  /** How long an alias of a renamed field keeps accepting writes. @default 7 days */
  readonly aliasTtlMs: number;

  /** WAL segment size before rotation. @default 64 MiB */
  readonly walSegmentBytesMax: number;
  /** Group commit flushes once this many bytes are buffered. @default 64 KiB */
  readonly walFlushBytesMax: number;
  /** Longest a frame waits for its group commit. @default 200 */
  readonly walFlushDelayMsMax: number;
  /** `idle` flushes as soon as nothing else is queued; `adaptive` waits for more under a rising rate. @default 'idle' */
  readonly walFlushMode: FlushMode;
  /** Bounds of the adaptive flush delay. @default 0 and 10 */
  readonly walAdaptiveDelayMsMin: number;
  readonly walAdaptiveDelayMsMax: number;
  /** `strict` refuses to start on a corrupt frame before the tail; `truncate` drops it and what follows. @default 'strict' */
  readonly walRecovery: WalRecoveryMode;
  /** Writes are refused with 507 DISK_FULL when free space falls below this. @default 256 MiB */
  readonly diskFreeBytesMin: number;

  /** Records applied to the index in one engine transaction. @default 20_000 */
  readonly applyBatchRecordsMax: number;
  /** Index commits in flight at once (LMDB fsyncs each on its own thread). @default 4 */
  readonly applyCommitsInFlightMax: number;
  /** The index is fsync'd and old WAL segments released this often. @default 5_000 */
  readonly indexSyncIntervalMs: number;
  /** WAL bytes read per replay step at start-up. @default 16 MiB */
  readonly replayBatchBytesMax: number;
  /** Longest a read waits for the index to catch up with acknowledged writes. @default 10_000 */
  readonly readBarrierMsMax: number;
  /** Largest page of a range query. @default 10_000 */
  readonly queryLimitMax: number;
  /** Default page of a range query. @default 1_000 */
  readonly queryLimitDefault: number;
  /** Rows in one row group of a Parquet export; an export holds about one row group in memory. @default 16_384 (64k rows cost ≈ 300 MB of transient heap in a test, 16k ≈ 150 MB, at the same speed) */
  readonly exportRowGroupRowsMax: number;
  /** A Parquet export row group is also cut at this many bytes of values (estimated before encoding). @default 16 MiB */
  readonly exportRowGroupBytesMax: number;
  /** Exports (NDJSON or Parquet) a node streams at once; past it 429 OVERLOADED. Each holds a scan snapshot and, for Parquet, a row group in memory. @default 4 */
  readonly exportsInFlightMax: number;
  /** In a cluster, the replication factor of a table created without one. */
  readonly replicationFactorDefault: number;
  /** Largest body of `POST /v1/tables/{t}/import` (spooled to `<data-dir>/import-spool/`, not held in memory). @default 1 GiB */
  readonly importBodyBytesMax: number;
  /** Graceful shutdown waits this long for in-flight requests. @default 10_000 */
  readonly shutdownGraceMs: number;
  /** Log level (pino). @default 'info' */
  readonly logLevel: string;

  /** etcd client URLs; empty runs a single node with no cluster. @default [] */
  readonly etcdUrls: readonly string[];
  /** This node's id in the cluster (letters, digits, `-_.`). @default 'n1' */
  readonly nodeId: string;
  /** Prefix of every sluice key in etcd (several clusters may share one etcd). @default 'sluice/' */
  readonly etcdPrefix: string;
  /** gRPC listen host and port (Ingest and Health; Replica in a cluster). @default 127.0.0.1:7070 */
  readonly grpcHost: string;
  readonly grpcPort: number;
  /** Serve gRPC (Ingest, Health) on a single node; a cluster node always serves it. @default false */
  readonly grpcEnabled: boolean;
  /** Host peers and clients use to reach this node (default: the listen host). @default '' */
  readonly advertiseHost: string;
  /** `refuse`: 503 NO_QUORUM when W replicas are unreachable; `buffer`: accept into the hint queue, 202 degraded. @default 'refuse' */
  readonly onPartition: OnPartition;
  /** etcd lease TTL of the node's registration. @default 10_000 */
  readonly leaseTtlMs: number;
  /** Lease keep-alive period. @default 3_000 */
  readonly keepAliveMs: number;
  /** gRPC health check period per peer. @default 1_000 */
  readonly healthIntervalMs: number;
  /** Consecutive failed checks (or a lost lease) before a peer is suspect. @default 3 */
  readonly suspectAfterMisses: number;
  /** A suspect peer is dead after this long without a successful check. @default 30_000 */
  readonly deadAfterMs: number;
  /** Deadline of one replica RPC. @default 5_000 */
  readonly replicaTimeoutMs: number;
  /** Background anti-entropy: one round over every shard this often (0: off); each round scans every record the node holds. @default 600_000 */
  readonly antiEntropyIntervalMs: number;
  /** How often hint queues are retried toward live peers. @default 1_000 */
  readonly hintReplayIntervalMs: number;
  /** Disk one peer's hint queue may take; past it hints are dropped and anti-entropy repairs the peer. @default 4 GiB */
  readonly hintBytesMaxPerPeer: number;

  /** Kafka topics this node consumes into tables (`--kafka-*` flags). @default [] */
  readonly kafkaSources: readonly KafkaSourceConfig[];
}

/** The defaults of every option. */
export const DEFAULT_CONFIG: NodeConfig = {
  dataDir: './sluice-data',
  httpHost: '127.0.0.1',
  httpPort: 8080,
  shards: 16,
  datacenterId: 0,
  machineId: 0,
  bodyBytesMax: 16 * MiB,
  inFlightBytesMax: 64 * MiB,
  inFlightRequestsMax: 4096,
  retryAfterSeconds: 1,
  workerBodyBytesMin: 64 * KiB,
  decodeThreads: 2,
  errorDetailsMax: 100,
  jsonDepthMax: 32,
  keyBytesMax: KiB,
  aliasTtlMs: 7 * 24 * 3600 * 1000,
  walSegmentBytesMax: 64 * MiB,
  walFlushBytesMax: 64 * KiB,
  walFlushDelayMsMax: 200,
  walFlushMode: 'idle',
  walAdaptiveDelayMsMin: 0,
  walAdaptiveDelayMsMax: 10,
  walRecovery: 'strict',
  diskFreeBytesMin: 256 * MiB,
  applyBatchRecordsMax: 20_000,
  applyCommitsInFlightMax: 4,
  indexSyncIntervalMs: 5_000,
  replayBatchBytesMax: 16 * MiB,
  readBarrierMsMax: 10_000,
  queryLimitMax: 10_000,
  queryLimitDefault: 1_000,
  exportRowGroupRowsMax: 16_384,
  exportRowGroupBytesMax: 16 * MiB,
  exportsInFlightMax: 4,
  replicationFactorDefault: 3,
  importBodyBytesMax: 1024 * MiB,
  shutdownGraceMs: 10_000,
  logLevel: 'info',
  etcdUrls: [],
  nodeId: 'n1',
  etcdPrefix: 'sluice/',
  grpcHost: '127.0.0.1',
  grpcPort: 7070,
  grpcEnabled: false,
  kafkaSources: [],
  advertiseHost: '',
  onPartition: 'refuse',
  leaseTtlMs: 10_000,
  keepAliveMs: 3_000,
  healthIntervalMs: 1_000,
  suspectAfterMisses: 3,
  deadAfterMs: 30_000,
  replicaTimeoutMs: 5_000,
  antiEntropyIntervalMs: 600_000,
  hintReplayIntervalMs: 1_000,
  hintBytesMaxPerPeer: 4096 * MiB,
};

type NumericKey = { [K in keyof NodeConfig]-?: NodeConfig[K] extends number ? K : never }[keyof NodeConfig];

/** Inclusive bounds of numeric options; a value outside is a configuration error. */
const BOUNDS: Partial<Record<NumericKey, readonly [number, number]>> = {
  httpPort: [0, 65535],
  shards: [1, 4096],
  datacenterId: [0, 31],
  machineId: [0, 31],
  bodyBytesMax: [1 * KiB, 1024 * MiB],
  inFlightBytesMax: [64 * KiB, 64 * 1024 * MiB],
  inFlightRequestsMax: [1, 1_000_000],
  retryAfterSeconds: [1, 3600],
  workerBodyBytesMin: [0, 1024 * MiB],
  decodeThreads: [0, 64],
  errorDetailsMax: [1, 10_000],
  jsonDepthMax: [1, 1000],
  keyBytesMax: [1, 64 * KiB - 1],
  walSegmentBytesMax: [64 * KiB, 4096 * MiB],
  walFlushBytesMax: [1, 256 * MiB],
  walFlushDelayMsMax: [0, 200],
  walAdaptiveDelayMsMin: [0, 200],
  walAdaptiveDelayMsMax: [0, 200],
  diskFreeBytesMin: [0, Number.MAX_SAFE_INTEGER],
  applyBatchRecordsMax: [1, 1_000_000],
  applyCommitsInFlightMax: [1, 64],
  indexSyncIntervalMs: [10, 3_600_000],
  replayBatchBytesMax: [64 * KiB, 1024 * MiB],
  readBarrierMsMax: [1, 600_000],
  queryLimitMax: [1, 1_000_000],
  queryLimitDefault: [1, 1_000_000],
  exportRowGroupRowsMax: [1, 1_048_576],
  exportRowGroupBytesMax: [64 * KiB, 1024 * MiB],
  exportsInFlightMax: [1, 1024],
  replicationFactorDefault: [1, 7],
  importBodyBytesMax: [1 * MiB, 16 * 1024 * MiB],
  shutdownGraceMs: [0, 600_000],
  grpcPort: [0, 65535],
  leaseTtlMs: [2_000, 600_000],
  keepAliveMs: [100, 300_000],
  healthIntervalMs: [50, 60_000],
  suspectAfterMisses: [1, 100],
  deadAfterMs: [100, 86_400_000],
  replicaTimeoutMs: [10, 600_000],
  antiEntropyIntervalMs: [0, 86_400_000],
  hintReplayIntervalMs: [10, 600_000],
  hintBytesMaxPerPeer: [8 * MiB, Number.MAX_SAFE_INTEGER],
};

/** Merges overrides onto the defaults and checks every bound. */
export function resolveConfig(overrides: Partial<NodeConfig> = {}): NodeConfig {
  const config: NodeConfig = { ...DEFAULT_CONFIG, ...dropUndefined(overrides) };
  const problems: { path: string; message: string }[] = [];
  for (const [key, [min, max]] of Object.entries(BOUNDS) as [NumericKey, readonly [number, number]][]) {
    const value = config[key];
    if (!Number.isFinite(value) || value < min || value > max) {
      problems.push({ path: key, message: `${key} must be between ${min} and ${max}, got ${value}` });
    }
  }
  if (config.engine !== undefined && config.engine !== 'lmdb' && config.engine !== 'level') problems.push({ path: 'engine', message: 'engine must be lmdb or level' });
  if (config.walFlushMode !== 'idle' && config.walFlushMode !== 'adaptive') problems.push({ path: 'walFlushMode', message: 'walFlushMode must be idle or adaptive' });
  if (config.walRecovery !== 'strict' && config.walRecovery !== 'truncate') problems.push({ path: 'walRecovery', message: 'walRecovery must be strict or truncate' });
  if (config.walAdaptiveDelayMsMin > config.walAdaptiveDelayMsMax) problems.push({ path: 'walAdaptiveDelayMsMin', message: 'walAdaptiveDelayMsMin must not exceed walAdaptiveDelayMsMax' });
  if (config.queryLimitDefault > config.queryLimitMax) problems.push({ path: 'queryLimitDefault', message: 'queryLimitDefault must not exceed queryLimitMax' });
  if (config.onPartition !== 'refuse' && config.onPartition !== 'buffer') problems.push({ path: 'onPartition', message: 'onPartition must be refuse or buffer' });
  if (!/^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$/.test(config.nodeId)) problems.push({ path: 'nodeId', message: `nodeId must be 1-63 letters, digits, '-', '_' or '.', got ${JSON.stringify(config.nodeId)}` });
  if (config.keepAliveMs * 2 > config.leaseTtlMs) problems.push({ path: 'keepAliveMs', message: 'keepAliveMs must be at most half of leaseTtlMs' });
  if (problems.length > 0) throw new SluiceError('INVALID_ARGUMENT', `invalid configuration: ${problems.map((p) => p.message).join('; ')}`, problems);
  return config;
}

function dropUndefined<T extends object>(value: T): Partial<T> {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as Partial<T>;
}
