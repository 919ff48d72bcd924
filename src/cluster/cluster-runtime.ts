/**
 * The cluster side of a node, assembled as a lifecycle of named parts
 * (lifecycle.ts): etcd client, cluster catalog, hint queues, the replica
 * transport, the gRPC server (Replica + Health), membership (lease, worker
 * id, fencing), placement (watch + election), the failure detector,
 * anti-entropy, the hint replayer, and the cluster coordinator. Start
 * order matters: the gRPC server listens before the node registers, so no
 * peer ever sees a registered node it cannot reach; stop is the start in
 * reverse, beginning with telling peers this node is going.
 */
import path from 'node:path';
import { Etcd3 } from 'etcd3';
import type { Logger } from 'pino';
import { walFrameBytesMax, type NodeConfig } from '../config.ts';
import { SluiceError } from '../core/errors.ts';
import type { Hlc } from '../core/hlc.ts';
import { SnowflakeGenerator } from '../core/snowflake.ts';
import { systemClock } from '../core/clock.ts';
import type { LocalStore } from '../storage/local-store.ts';
import type { Catalog } from '../storage/catalog.ts';
import { readJsonFile, writeFileAtomic } from '../storage/atomic-file.ts';
import { ClusterCoordinator } from './coordinator/cluster-coordinator.ts';
import { Lifecycle } from './lifecycle.ts';
import { FailureDetector, type PeerState } from './membership/failure-detector.ts';
import { Membership } from './membership/membership.ts';
import { ClusterTables } from './metadata/cluster-tables.ts';
import { EtcdKeys } from './metadata/etcd-keys.ts';
import { checkSharedConfig } from './metadata/shared-config.ts';
import { widestReplicationFactor } from './placement/placement.ts';
import { PlacementService } from './placement/placement-service.ts';
import { followTransitions } from './placement/transition-follower.ts';
import { AntiEntropy, type RepairReport } from './repair/anti-entropy.ts';
import { bootstrapWhenPeersAlive } from './repair/bootstrap-repair.ts';
import { cleanup, type CleanupReport } from './repair/cleanup.ts';
import { HintQueue } from './repair/hint-queue.ts';
import { HintReplayer } from './repair/hint-replayer.ts';
import { replicaHandlers } from './replica/replica-endpoint.ts';
import { GrpcServer, replicaGrpcService, type GrpcService } from './transport/grpc-server.ts';
import { GrpcTransport } from './transport/grpc-transport.ts';
import { LocalTransport } from './transport/local-transport.ts';
import type { TxOutcomeLabel } from './tx/atomic-writer.ts';
import { startTxParts, type TxHooks, type TxParts } from './tx/tx-parts.ts';

/** Hooks the node wires to metrics (the cluster layer never imports the API layer). */
export interface ClusterHooks extends TxHooks {
  readonly onPeerState?: (peer: string, state: PeerState) => void;
  readonly onHinted?: (peer: string, records: number) => void;
  readonly onHintsReplayed?: (batches: number) => void;
  readonly onReadRepair?: (peer: string, records: number) => void;
  readonly onRepaired?: (report: RepairReport) => void;
  readonly onReplicaWrite?: (records: number) => void;
  readonly onClockEvent?: ConstructorParameters<typeof SnowflakeGenerator>[0]['onClockEvent'];
  readonly onTx?: (outcome: TxOutcomeLabel, phaseMs: { prepare?: number; decide?: number; commit?: number }) => void;
  readonly onSnapshotWait?: (ms: number) => void;
}

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
    readonly workerId?: number;
    readonly shards: number;
    readonly hintsPending: number;
  }[];
  readonly hintsPending: number;
  /** Hints dropped since start because a peer's queue was full. */
  readonly hintsDropped: number;
  readonly transactions: TransactionsStatus;
}

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

/** Where this node remembers its last worker id and lease (DATA_DIR/cluster.json). */
interface ClusterFile {
  readonly nodeId: string;
  readonly workerId: number;
  readonly leaseId: string;
}


/** The parts a running ClusterRuntime answers from. */
interface RuntimeParts {
  readonly config: NodeConfig;
  readonly life: Lifecycle;
  readonly store: LocalStore;
  readonly catalog: Catalog;
  readonly tables: ClusterTables;
  readonly membership: Membership;
  readonly placement: PlacementService;
  readonly detector: FailureDetector;
  readonly hints: HintQueue;
  readonly antiEntropy: AntiEntropy;
  readonly coordinator: ClusterCoordinator;
  readonly tx: TxParts;
  readonly log: Logger;
}

/** The running cluster parts of one node. */
export class ClusterRuntime {
  readonly coordinator: ClusterCoordinator;
  readonly tables: ClusterTables;
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
    this.log = parts.log;
  }

  /**
   * Joins the cluster: every part, in order (the file comment). `httpUrl`
   * is what peers and clients are told; `services` are served on the gRPC
   * port beside Replica. A part that fails to start stops those before it.
   */
  static async start(
    config: NodeConfig,
    data: { store: LocalStore; catalog: Catalog },
    hlc: Hlc,
    httpUrl: string,
    hooks: ClusterHooks,
    log: Logger,
    services: readonly GrpcService[] = [],
  ): Promise<ClusterRuntime> {
    const life = new Lifecycle(log);
    try {
      return await ClusterRuntime.assemble(life, config, data, hlc, httpUrl, hooks, log, services);
    } catch (err) {
      await life.stop();
      throw err;
    }
  }

  private static async assemble(
    life: Lifecycle,
    config: NodeConfig,
    { store, catalog }: { store: LocalStore; catalog: Catalog },
    hlc: Hlc,
    httpUrl: string,
    hooks: ClusterHooks,
    log: Logger,
    services: readonly GrpcService[],
  ): Promise<ClusterRuntime> {
    const keys = new EtcdKeys(config.etcdPrefix);
    const client = await life.add('etcd', () => etcdClient(config), (c) => c.close());
    await checkSharedConfig(client, keys, config.shards);
    const tables = await life.add('tables', async () => {
      const t = new ClusterTables(client, keys, catalog, log);
      await t.start();
      return t;
    }, (t) => t.stop());
    const hints = await life.add('hints', async () => {
      const q = new HintQueue({
        dir: path.join(config.dataDir, 'hints'),
        bytesMaxPerPeer: config.hintBytesMaxPerPeer,
        segmentBytesMax: 8 * 1024 * 1024,
        frameBytesMax: walFrameBytesMax(config),
        log,
      });
      await q.open();
      return q;
    }, (q) => q.close());
    const peers = await life.add('peers', () => new GrpcTransport(), (p) => p.close());
    const placement = new PlacementService({ client, keys, nodeId: config.nodeId, leaseTtlMs: config.leaseTtlMs, log });
    // Bound once the resolver runs: a snapshot read that gave up waiting hurries the batches in its way.
    let hurry: (txids: bigint[]) => void = () => undefined;
    const local = replicaHandlers({
      store,
      catalog,
      hlc,
      epoch: () => placement.current.epoch,
      reloadTables: () => tables.reload(),
      readBarrierMsMax: config.readBarrierMsMax,
      unindexedBytesMax: config.inFlightBytesMax,
      txReadWaitMs: config.txReadWaitMs,
      onSnapshotBlocked: (txids) => hurry(txids),
      ...(hooks.onSnapshotWait ? { onSnapshotWait: hooks.onSnapshotWait } : {}),
      startedAtMs: Date.now(),
      maxClockOffsetMs: config.maxClockOffsetMs,
      ...(hooks.onReplicaWrite ? { onReplicaWrite: hooks.onReplicaWrite } : {}),
    });
    const transport = new LocalTransport(config.nodeId, local, peers);
    const grpc = await life.add('grpc', () => GrpcServer.start(config.grpcHost, config.grpcPort, [replicaGrpcService(local), ...services]), (g) => g.stop(2_000));
    const detector = new FailureDetector(transport, config);
    const membership = await newMembership(config, client, keys, httpUrl, `${config.advertiseHost || config.grpcHost}:${grpc.port}`, log);
    const ids = workerIds(membership, store.maxIdAtOpen, hooks);
    membership.on('members', (members: ReadonlyMap<string, { grpc: string }>) => {
      for (const [id, info] of members) if (id !== config.nodeId) peers.setAddress(id, info.grpc);
      for (const id of new Set([...placement.current.nodes, ...(placement.current.target ?? []), ...members.keys()])) if (id !== config.nodeId) detector.track(id, members.has(id));
      placement.observeMembers(members.keys());
    });
    placement.on('change', () => {
      for (const id of [...placement.current.nodes, ...(placement.current.target ?? [])]) if (id !== config.nodeId) detector.track(id, membership.members.has(id));
    });
    detector.on('state', (peer: string, state: PeerState) => {
      log.info({ event: 'peer_state', peer, state }, `peer ${peer} is ${state}`);
      hooks.onPeerState?.(peer, state);
    });
    await life.add('membership', () => membership.start(), () => membership.stop());
    await life.add('placement', () => placement.start(), () => placement.stop());
    await life.add('detector', () => detector.start(), () => detector.stop());

    const tx = await startTxParts(life, { config, client, keys, store, catalog, transport, placement: () => placement.current, isLeader: () => placement.isLeader, hooks, log });
    hurry = (txids) => tx.resolver.hurry(txids);
    const coordinator = new ClusterCoordinator({
      nodeId: config.nodeId,
      hlc,
      ids,
      assertLive: () => membership.assertLive(),
      placement: () => placement.current,
      refreshPlacement: () => placement.refresh(),
      transport,
      detector,
      hints,
      options: { shards: config.shards, replicaTimeoutMs: config.replicaTimeoutMs, onPartition: config.onPartition, snapshotWaitMs: config.txReadWaitMs, maxClockOffsetMs: config.maxClockOffsetMs },
      tx: {
        decisions: tx.decisions,
        concluder: tx.concluder,
        registration: () => membership.registration,
        limits: { txBytesMax: config.txBytesMax, txRecordsMax: config.txRecordsMax, txInFlightMax: config.txInFlightMax, txCommitDeadlineMs: config.txCommitDeadlineMs },
      },
      observer: {
        onHinted: (peer, n) => hooks.onHinted?.(peer, n),
        onReadRepair: (peer, n) => hooks.onReadRepair?.(peer, n),
        onTx: (outcome, phases) => hooks.onTx?.(outcome, phases),
      },
    });
    const antiEntropy = await life.add('anti-entropy', () => {
      const ae = new AntiEntropy({
        nodeId: config.nodeId,
        shards: config.shards,
        catalog,
        placement: () => placement.current,
        transport,
        detector,
        timeoutMs: Math.max(config.replicaTimeoutMs, 30_000),
        log,
        ...(hooks.onRepaired ? { onRepaired: hooks.onRepaired } : {}),
      });
      ae.start(config.antiEntropyIntervalMs);
      followTransitions(placement, ae, config, log);
      if (store.maxIdAtOpen === 0n) bootstrapWhenPeersAlive(ae, detector, () => placement.current, config, log);
      return ae;
    }, (ae) => ae.stop());
    await life.add('hint-replay', () => {
      const replayer = new HintReplayer({
        hints,
        transport,
        detector,
        placement: () => placement.current,
        replicaTimeoutMs: config.replicaTimeoutMs,
        intervalMs: config.hintReplayIntervalMs,
        log,
        ...(hooks.onHintsReplayed ? { onReplayed: hooks.onHintsReplayed } : {}),
      });
      replayer.start();
      return replayer;
    }, (r) => r.stop());
    // Stopped first: peers stop sending to this node before anything else goes.
    await life.add('serving', () => undefined, () => grpc.setNotServing());
    return new ClusterRuntime({ config, life, store, catalog, tables, membership, placement, detector, hints, antiEntropy, coordinator, tx, log });
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
          ...(info === undefined ? {} : { http: info.http, grpc: info.grpc, workerId: info.workerId }),
          shards: perNode[id]?.length ?? 0,
          hintsPending: pending[id] ?? 0,
        };
      }),
      hintsPending: Object.values(pending).reduce((a, b) => a + b, 0),
      hintsDropped: this.hints.dropped,
      transactions: this.transactions(),
    };
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

/** The etcd client of a node. */
function etcdClient(config: NodeConfig): Etcd3 {
  return new Etcd3({
    hosts: [...config.etcdUrls],
    dialTimeout: 5_000,
    // gRPC's default reconnect backoff grows to minutes; an etcd restart must be noticed within a keep-alive or two.
    grpcOptions: { 'grpc.initial_reconnect_backoff_ms': 100, 'grpc.max_reconnect_backoff_ms': 1_000 },
  });
}

/** This node's registration, remembering its worker id and lease in DATA_DIR/cluster.json. */
async function newMembership(config: NodeConfig, client: Etcd3, keys: EtcdKeys, httpUrl: string, grpcAddress: string, log: Logger): Promise<Membership> {
  const file = path.join(config.dataDir, 'cluster.json');
  const saved = (await readJsonFile(file)) as ClusterFile | undefined;
  return new Membership({
    client,
    keys,
    self: { nodeId: config.nodeId, http: httpUrl, grpc: grpcAddress, startedAtMs: Date.now() },
    leaseTtlMs: config.leaseTtlMs,
    keepAliveMs: config.keepAliveMs,
    ...(saved !== undefined && saved.nodeId === config.nodeId ? { previous: { workerId: saved.workerId, leaseId: saved.leaseId } } : {}),
    remember: (claim) => writeFileAtomic(file, JSON.stringify({ nodeId: config.nodeId, ...claim })),
    log,
  });
}

/**
 * The id generator of the worker id this node holds: a new one after each
 * (re-)registration, never issuing below an id this node issued or stored.
 */
function workerIds(membership: Membership, maxIdAtOpen: bigint, hooks: ClusterHooks): () => SnowflakeGenerator {
  let ids: SnowflakeGenerator | undefined;
  let lastIssuedFloor = maxIdAtOpen;
  membership.on('registered', (info: { workerId: number }) => {
    if (ids !== undefined) lastIssuedFloor = ids.next();
    const next = new SnowflakeGenerator({ workerId: info.workerId, clock: systemClock, ...(hooks.onClockEvent ? { onClockEvent: hooks.onClockEvent } : {}) });
    next.observe(lastIssuedFloor);
    ids = next;
  });
  return () => {
    if (ids === undefined) throw new SluiceError('NOT_READY', 'no worker id leased yet');
    return ids;
  };
}
