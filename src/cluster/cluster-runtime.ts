/**
 * The cluster side of a node, running: started as a lifecycle of named
 * parts (runtime-assembly.ts) and stopped as that lifecycle in reverse; what
 * the API asks of the cluster (status, repair, cleanup, decommission) and
 * the coordinator every write and read goes through.
 */
import type { Logger } from 'pino';
import type { NodeConfig } from '../config.ts';
import { SluiceError } from '../core/errors.ts';
import type { Hlc } from '../core/hlc.ts';
import type { LocalStore } from '../storage/local-store.ts';
import type { Catalog } from '../storage/catalog.ts';
import type { ClusterHooks } from './cluster-hooks.ts';
import type { ClusterCoordinator } from './coordinator/cluster-coordinator.ts';
import { Lifecycle } from './lifecycle.ts';
import type { FailureDetector, PeerState } from './membership/failure-detector.ts';
import type { Membership, NodeInfo } from './membership/membership.ts';
import type { ClusterTables } from './metadata/cluster-tables.ts';
import type { EtcdTokenStore } from './metadata/etcd-token-store.ts';
import type { ServerCredentials } from '@grpc/grpc-js';
import { widestReplicationFactor } from './placement/placement.ts';
import type { PlacementService } from './placement/placement-service.ts';
import type { AntiEntropy, RepairReport } from './repair/anti-entropy.ts';
import { cleanup, type CleanupReport } from './repair/cleanup.ts';
import type { HintQueue } from './repair/hint-queue.ts';
import { assembleCluster, type AssembledParts } from './runtime-assembly.ts';
import type { GrpcService } from './transport/grpc-server.ts';
import type { TxParts } from './tx-parts.ts';

export type { ClusterHooks } from './cluster-hooks.ts';

/** One node's view of the cluster, for GET /v1/cluster. */
export interface ClusterStatus {
  readonly mode: 'cluster';
  readonly nodeId: string;
  readonly leader: boolean;
  readonly live: boolean;
  readonly shardCount: number;
  /** `target`: during a membership change, the ring reads switch to once every target node has copied its shards. */
  readonly placement: { readonly epoch: number; readonly nodes: readonly string[]; readonly target?: readonly string[] };
  /** Nodes an operator asked to leave the ring. */
  readonly decommissioned: readonly string[];
  readonly nodes: readonly {
    readonly id: string;
    readonly state: PeerState;
    readonly registered: boolean;
    readonly http?: string;
    readonly grpc?: string;
    /** The peer listener (Replica, Health). */
    readonly peer?: string;
    readonly workerId?: number;
    readonly shards: number;
    readonly hintsPending: number;
  }[];
  readonly hintsPending: number;
  /** Hints dropped since start because a peer's queue was full. */
  readonly hintsDropped: number;
  /** Hints dropped unreplayed since start because they outlived --hint-window-ms. */
  readonly hintsExpired: number;
  /** Hints skipped since start because their peer refused them for good (decision 59: a table it does not know, a batch it finds invalid). */
  readonly hintsRefused: number;
  readonly transactions: TransactionsStatus;
}

/** What the status page adds to ClusterStatus: the failure detector's timings, heartbeat ages and the shard map. */
export interface ClusterDetail {
  /** The check period, and the silences after which a peer is suspect and dead (a heartbeat is judged against these, not the period). */
  readonly detector: { readonly healthIntervalMs: number; readonly suspectAfterMs: number; readonly deadAfterMs: number };
  /** Milliseconds since each peer last passed a health check or answered a replica call; this node is not listed. */
  readonly heartbeatAgeMs: Readonly<Record<string, number>>;
  /** The replication factor placement uses (the widest of any table). */
  readonly replicationFactor: number;
  /** Per shard (index = shard), its replicas in the current ring, preferred first, and in the target ring during a change. */
  readonly shards: readonly { readonly replicas: readonly string[]; readonly target?: readonly string[] }[];
  /** Where nodes that are not registered now (lease gone: dead, stopped) were last registered, so an operator knows where to look. */
  readonly lastKnown: Readonly<Record<string, Pick<NodeInfo, 'http' | 'grpc' | 'peer' | 'workerId'>>>;
}

/** Registrations remembered for the status page after a node's lease is gone (bounded: ids of nodes long gone are dropped first). */
const LAST_KNOWN_NODES_MAX = 1_024;

/** Atomic batches as one node sees them. */
export interface TransactionsStatus {
  /** Batches prepared on this node whose outcome is not applied yet, their bytes, and the oldest's age. */
  readonly pending: number;
  readonly pendingBytes: number;
  readonly oldestPendingMs: number;
  /** Atomic batches this node coordinates right now. */
  readonly running: number;
  /**
   * Batches undecided or unconcluded for longer than a minute: pending on
   * this node, or (the placement leader) decided in etcd with participants
   * that have not applied the decision.
   */
  readonly undecided: readonly { readonly txId: string; readonly state: string; readonly ageMs: number; readonly coordinator?: string; readonly waitingFor?: readonly string[] }[];
}

/** A batch undecided or unconcluded for longer than this is listed in the status. */
const TX_LISTED_AFTER_MS = 60_000;

/** The parts a running ClusterRuntime answers from. */
interface RuntimeParts extends AssembledParts {
  readonly config: NodeConfig;
  readonly life: Lifecycle;
  readonly log: Logger;
}

/** The running cluster parts of one node. */
export class ClusterRuntime {
  readonly coordinator: ClusterCoordinator;
  readonly tables: ClusterTables;
  /** The cluster's tokens (etcd), for the node's token registry. */
  readonly tokens: EtcdTokenStore;
  private readonly life: Lifecycle;
  private readonly config: NodeConfig;
  private readonly store: LocalStore;
  private readonly catalog: Catalog;
  private readonly membership: Membership;
  private readonly placement: PlacementService;
  private readonly detector: FailureDetector;
  private readonly hints: HintQueue;
  private readonly antiEntropy: AntiEntropy;
  private readonly tx: TxParts;
  private readonly log: Logger;
  private readonly peerCerts: AssembledParts['peerCerts'];
  /** The last registration seen of every node id, most recent last (see ClusterDetail.lastKnown). */
  private readonly lastKnown = new Map<string, NodeInfo>();

  private constructor(parts: RuntimeParts) {
    this.tx = parts.tx;
    this.config = parts.config;
    this.life = parts.life;
    this.store = parts.store;
    this.catalog = parts.catalog;
    this.tables = parts.tables;
    this.membership = parts.membership;
    this.placement = parts.placement;
    this.detector = parts.detector;
    this.hints = parts.hints;
    this.antiEntropy = parts.antiEntropy;
    this.coordinator = parts.coordinator;
    this.tokens = parts.tokens;
    this.log = parts.log;
    this.peerCerts = parts.peerCerts;
    this.remember(parts.membership.members);
    parts.membership.on('members', (members: ReadonlyMap<string, NodeInfo>) => this.remember(members));
  }

  private remember(members: ReadonlyMap<string, NodeInfo>): void {
    for (const [id, info] of members) {
      this.lastKnown.delete(id);
      this.lastKnown.set(id, info);
    }
    for (const id of this.lastKnown.keys()) {
      if (this.lastKnown.size <= LAST_KNOWN_NODES_MAX) break;
      this.lastKnown.delete(id);
    }
  }

  /**
   * Joins the cluster: every part, in order (runtime-assembly.ts). `httpUrl`
   * is what peers and clients are told; `services` are served on the client
   * gRPC port (Replica has its own, the peer listener). A part that fails to
   * start stops those before it.
   */
  static async start(
    config: NodeConfig,
    data: { store: LocalStore; catalog: Catalog },
    hlc: Hlc,
    httpUrl: string,
    hooks: ClusterHooks,
    log: Logger,
    services: readonly GrpcService[] = [],
    credentials?: ServerCredentials,
  ): Promise<ClusterRuntime> {
    const life = new Lifecycle(log);
    try {
      const parts = await assembleCluster({ life, config, ...data, hlc, hooks, log }, httpUrl, services, credentials);
      return new ClusterRuntime({ config, life, log, ...parts });
    } catch (err) {
      await life.stop();
      throw err;
    }
  }

  /** Reloads the peer certificates from --certs-dir now (SIGHUP); false with --insecure-cluster. */
  async reloadPeerCerts(): Promise<boolean> {
    if (this.peerCerts === undefined) return false;
    await this.peerCerts.reload('signal');
    return true;
  }

  /** Runs Merkle repair now (one shard or all this node holds). */
  repair(shard?: number): Promise<RepairReport> {
    if (shard !== undefined && (!Number.isInteger(shard) || shard < 0 || shard >= this.config.shards)) {
      throw new SluiceError('INVALID_ARGUMENT', `shard must be 0..${this.config.shards - 1}`);
    }
    return this.antiEntropy.repair(shard);
  }

  /** Drops the table shards this node no longer replicates, after handing them to their replicas (cleanup.ts). */
  cleanup(): Promise<CleanupReport> {
    const placement = this.placement;
    return cleanup({
      nodeId: this.config.nodeId,
      shards: this.config.shards,
      catalog: this.catalog,
      placement: () => placement.current,
      detector: this.detector,
      antiEntropy: this.antiEntropy,
      store: this.store,
      log: this.log,
    });
  }

  /**
   * Asks the placement leader to move `node` out of the ring (its shards are
   * copied to the nodes that gain them first), or withdraws the request.
   */
  async decommission(node: string, cancel: boolean): Promise<void> {
    const known = this.placement.current.nodes.includes(node) || this.membership.members.has(node) || this.placement.decommissioned.has(node);
    if (!known) throw new SluiceError('NOT_FOUND', `node ${node} is neither in the ring nor registered`);
    await this.placement.decommission(node, cancel);
  }

  /** Nodes registered in etcd (live leases), this one included: each enforces its share of a table's rate limit. */
  get registeredNodes(): number {
    return Math.max(1, this.membership.members.size);
  }

  /** This node's view of the cluster. */
  async status(): Promise<ClusterStatus> {
    const current = this.placement.current;
    const pending = await this.hints.pending();
    const rf = widestReplicationFactor(this.catalog);
    const perNode = current.shardsPerNode(this.config.shards, rf);
    const members = this.membership.members;
    const ids = [...new Set([...current.nodes, ...(current.target ?? []), ...members.keys()])].sort();
    return {
      mode: 'cluster',
      nodeId: this.config.nodeId,
      leader: this.placement.isLeader,
      live: this.membership.live,
      shardCount: this.config.shards,
      placement: { epoch: current.epoch, nodes: current.nodes, ...(current.target === undefined ? {} : { target: current.target }) },
      decommissioned: [...this.placement.decommissioned].sort(),
      nodes: ids.map((id) => {
        const info = members.get(id);
        return {
          id,
          state: id === this.config.nodeId ? (this.membership.live ? 'alive' : 'suspect') : this.detector.state(id),
          registered: info !== undefined,
          ...(info === undefined ? {} : { http: info.http, grpc: info.grpc, ...(info.peer === undefined ? {} : { peer: info.peer }), workerId: info.workerId }),
          shards: perNode[id]?.length ?? 0,
          hintsPending: pending[id] ?? 0,
        };
      }),
      hintsPending: Object.values(pending).reduce((a, b) => a + b, 0),
      hintsDropped: this.hints.dropped,
      hintsExpired: this.hints.expired,
      hintsRefused: this.hints.refused,
      transactions: this.transactions(),
    };
  }

  /** Heartbeat ages, detector timings and the shard map, for the status page (read-only). */
  statusDetail(): ClusterDetail {
    const current = this.placement.current;
    const rf = widestReplicationFactor(this.catalog);
    const heartbeatAgeMs: Record<string, number> = {};
    for (const id of new Set([...current.nodes, ...(current.target ?? []), ...this.membership.members.keys()])) {
      const age = id === this.config.nodeId ? undefined : this.detector.silenceMs(id);
      if (age !== undefined) heartbeatAgeMs[id] = age;
    }
    const shards = Array.from({ length: this.config.shards }, (_, s) => {
      const target = current.targetReplicas(s, rf);
      return { replicas: current.replicas(s, rf), ...(target === undefined ? {} : { target }) };
    });
    const lastKnown: Record<string, Pick<NodeInfo, 'http' | 'grpc' | 'peer' | 'workerId'>> = {};
    for (const [id, info] of this.lastKnown) {
      if (!this.membership.members.has(id)) lastKnown[id] = { http: info.http, grpc: info.grpc, workerId: info.workerId, ...(info.peer === undefined ? {} : { peer: info.peer }) };
    }
    const { healthIntervalMs, suspectAfterMisses, deadAfterMs } = this.config;
    return { detector: { healthIntervalMs, suspectAfterMs: healthIntervalMs * suspectAfterMisses, deadAfterMs }, heartbeatAgeMs, replicationFactor: rf, shards, lastKnown };
  }

  /** Atomic batches pending here, and (on the leader) decisions not yet concluded. */
  private transactions(): TransactionsStatus {
    const now = Date.now();
    const pending = this.store.pendingTxs();
    const oldest = pending.reduce((min, tx) => Math.min(min, tx.preparedAtMs), now);
    const local = pending
      .filter((tx) => now - tx.preparedAtMs > TX_LISTED_AFTER_MS)
      .map((tx) => ({ txId: String(tx.txid), state: tx.decided === undefined ? 'pending' : `${tx.decided.outcome} (applying)`, ageMs: now - tx.preparedAtMs, coordinator: tx.coordinator }));
    const unconcluded = this.placement.isLeader ? this.tx.sweeper.report.unconcluded.filter((u) => u.ageMs > TX_LISTED_AFTER_MS).map((u) => ({ txId: u.txId, state: `${u.decision} (unconcluded)`, ageMs: u.ageMs, waitingFor: u.waitingFor })) : [];
    return { pending: pending.length, pendingBytes: this.store.stagedTxBytes, oldestPendingMs: now - oldest, running: this.coordinator.atomicRunning, undecided: [...local, ...unconcluded] };
  }


  /** Tells peers this node is going (health NOT_SERVING), then stops every part in reverse start order. */
  stop(): Promise<void> {
    return this.life.stop();
  }
}
