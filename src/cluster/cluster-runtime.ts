/**
 * The cluster side of a node, assembled: etcd client, membership (lease,
 * worker id, fencing), cluster catalog, placement (watch + election), the
 * gRPC server (Replica + Health), peer channels, failure detector, hint
 * queues and their replayer, anti-entropy, and the cluster coordinator.
 * Start order matters: the gRPC server listens before the node registers,
 * so no peer ever sees a registered node it cannot reach.
 */
import path from 'node:path';
import { Etcd3 } from 'etcd3';
import type { Logger } from 'pino';
import type { NodeConfig } from '../config.ts';
import { SluiceError } from '../core/errors.ts';
import type { Hlc } from '../core/hlc.ts';
import { SnowflakeGenerator } from '../core/snowflake.ts';
import { systemClock } from '../core/clock.ts';
import type { LocalStore } from '../storage/local-store.ts';
import type { Catalog } from '../storage/catalog.ts';
import type { IndexStore } from '../storage/index/index-store.ts';
import { readJsonFile, writeFileAtomic } from '../storage/atomic-file.ts';
import { AntiEntropy, type RepairReport } from './repair/anti-entropy.ts';
import { cleanup, type CleanupReport } from './repair/cleanup.ts';
import { ClusterCoordinator } from './coordinator/cluster-coordinator.ts';
import { ClusterTables } from './metadata/cluster-tables.ts';
import { EtcdKeys } from './metadata/etcd-keys.ts';
import { FailureDetector, type PeerState } from './membership/failure-detector.ts';
import { HintQueue } from './repair/hint-queue.ts';
import { Membership } from './membership/membership.ts';
import { PlacementService, widestReplicationFactor, type Placement } from './placement/placement.ts';
import { replicaHandlers } from './replica/replica-endpoint.ts';
import { GrpcServer, replicaGrpcService, type GrpcService } from './transport/grpc-server.ts';
import { PeerClients } from './transport/peer-clients.ts';

/** Hooks the node wires to metrics (the cluster layer never imports the API layer). */
export interface ClusterHooks {
  readonly onPeerState?: (peer: string, state: PeerState) => void;
  readonly onHinted?: (peer: string, records: number) => void;
  readonly onHintsReplayed?: (batches: number) => void;
  readonly onReadRepair?: (peer: string, records: number) => void;
  readonly onRepaired?: (report: RepairReport) => void;
  readonly onReplicaWrite?: (records: number) => void;
  readonly onClockEvent?: ConstructorParameters<typeof SnowflakeGenerator>[0]['onClockEvent'];
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
}

/** Where this node remembers its last worker id and lease (DATA_DIR/cluster.json). */
interface ClusterFile {
  readonly nodeId: string;
  readonly workerId: number;
  readonly leaseId: string;
}

/** The running cluster parts of one node. */
export class ClusterRuntime {
  readonly coordinator: ClusterCoordinator;
  readonly tables: ClusterTables;
  private readonly client: Etcd3;
  private readonly membership: Membership;
  private readonly placement: PlacementService;
  private readonly grpc: GrpcServer;
  private readonly peers: PeerClients;
  private readonly detector: FailureDetector;
  private readonly hints: HintQueue;
  private readonly antiEntropy: AntiEntropy;
  private readonly index: IndexStore;
  private readonly config: NodeConfig;
  private readonly catalog: Catalog;
  private readonly hooks: ClusterHooks;
  private readonly log: Logger;
  private hintTimer: NodeJS.Timeout | undefined;

  private constructor(parts: {
    config: NodeConfig;
    client: Etcd3;
    membership: Membership;
    placement: PlacementService;
    grpc: GrpcServer;
    peers: PeerClients;
    detector: FailureDetector;
    hints: HintQueue;
    antiEntropy: AntiEntropy;
    index: IndexStore;
    coordinator: ClusterCoordinator;
    tables: ClusterTables;
    hooks: ClusterHooks;
    log: Logger;
  }) {
    this.config = parts.config;
    this.catalog = parts.tables.catalog;
    this.client = parts.client;
    this.membership = parts.membership;
    this.placement = parts.placement;
    this.grpc = parts.grpc;
    this.peers = parts.peers;
    this.detector = parts.detector;
    this.hints = parts.hints;
    this.antiEntropy = parts.antiEntropy;
    this.index = parts.index;
    this.coordinator = parts.coordinator;
    this.tables = parts.tables;
    this.hooks = parts.hooks;
    this.log = parts.log;
  }

  /**
   * Joins the cluster: everything above, in order. `httpUrl` is what peers
   * and clients are told; `services` are served on the gRPC port beside Replica.
   */
  static async start(config: NodeConfig, store: LocalStore, hlc: Hlc, httpUrl: string, hooks: ClusterHooks, log: Logger, services: readonly GrpcService[] = []): Promise<ClusterRuntime> {
    const keys = new EtcdKeys(config.etcdPrefix);
    const client = new Etcd3({
      hosts: [...config.etcdUrls],
      dialTimeout: 5_000,
      // gRPC's default reconnect backoff grows to minutes; an etcd restart must be noticed within a keep-alive or two.
      grpcOptions: { 'grpc.initial_reconnect_backoff_ms': 100, 'grpc.max_reconnect_backoff_ms': 1_000 },
    });
    const stack: (() => Promise<void> | void)[] = [() => client.close()];
    try {
      await checkSharedConfig(client, keys, config.shards);
      const tables = new ClusterTables(client, keys, store.catalog, log);
      await tables.start();
      stack.push(() => tables.stop());

      const placement = new PlacementService({ client, keys, nodeId: config.nodeId, leaseTtlMs: config.leaseTtlMs, log });
      const local = replicaHandlers({
        store,
        hlc,
        epoch: () => placement.current.epoch,
        reloadTables: () => tables.reload(),
        readBarrierMsMax: config.readBarrierMsMax,
        unindexedBytesMax: config.inFlightBytesMax,
        ...(hooks.onReplicaWrite ? { onReplicaWrite: hooks.onReplicaWrite } : {}),
      });
      const grpc = await GrpcServer.start(config.grpcHost, config.grpcPort, [replicaGrpcService(local), ...services]);
      stack.push(() => grpc.stop(1_000));
      const advertise = config.advertiseHost || config.grpcHost;

      const file = path.join(config.dataDir, 'cluster.json');
      const saved = (await readJsonFile(file)) as ClusterFile | undefined;
      const membership = new Membership({
        client,
        keys,
        self: { nodeId: config.nodeId, http: httpUrl, grpc: `${advertise}:${grpc.port}`, startedAtMs: Date.now() },
        leaseTtlMs: config.leaseTtlMs,
        keepAliveMs: config.keepAliveMs,
        ...(saved !== undefined && saved.nodeId === config.nodeId ? { previous: { workerId: saved.workerId, leaseId: saved.leaseId } } : {}),
        remember: (claim) => writeFileAtomic(file, JSON.stringify({ nodeId: config.nodeId, ...claim })),
        log,
      });

      const peers = new PeerClients();
      const detector = new FailureDetector(peers, config);
      const hints = new HintQueue({
        dir: path.join(config.dataDir, 'hints'),
        bytesMaxPerPeer: config.hintBytesMaxPerPeer,
        segmentBytesMax: 8 * 1024 * 1024,
        frameBytesMax: Math.max(64 * 1024 * 1024, 4 * config.bodyBytesMax),
        log,
      });
      await hints.open();
      stack.push(() => hints.close());
      let ids: SnowflakeGenerator | undefined;
      let lastIssuedFloor = store.maxIdAtOpen;
      const makeIds = (workerId: number): void => {
        const next = new SnowflakeGenerator({ workerId, clock: systemClock, ...(hooks.onClockEvent ? { onClockEvent: hooks.onClockEvent } : {}) });
        next.observe(lastIssuedFloor);
        ids = next;
      };
      membership.on('registered', (info: { workerId: number }) => {
        if (ids !== undefined) lastIssuedFloor = ids.next();
        makeIds(info.workerId);
      });
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

      await membership.start();
      stack.push(() => membership.stop());
      await placement.start();
      stack.push(() => placement.stop());
      detector.start();
      stack.push(() => detector.stop());

      const coordinator = new ClusterCoordinator({
        nodeId: config.nodeId,
        store,
        hlc,
        ids: () => {
          if (ids === undefined) throw new SluiceError('NOT_READY', 'no worker id leased yet');
          return ids;
        },
        assertLive: () => membership.assertLive(),
        placement: () => placement.current,
        refreshPlacement: () => placement.refresh(),
        peers,
        detector,
        hints,
        local,
        options: { shards: config.shards, replicaTimeoutMs: config.replicaTimeoutMs, onPartition: config.onPartition },
        observer: {
          onHinted: (peer, n) => hooks.onHinted?.(peer, n),
          onReadRepair: (peer, n) => hooks.onReadRepair?.(peer, n),
        },
      });
      const antiEntropy = new AntiEntropy({
        nodeId: config.nodeId,
        shards: config.shards,
        catalog: store.catalog,
        placement: () => placement.current,
        local,
        peers,
        detector,
        timeoutMs: Math.max(config.replicaTimeoutMs, 30_000),
        log,
        ...(hooks.onRepaired ? { onRepaired: hooks.onRepaired } : {}),
      });
      antiEntropy.start(config.antiEntropyIntervalMs);
      followTransitions(placement, antiEntropy, config, log);
      if (store.maxIdAtOpen === 0n) bootstrapWhenPeersAlive(antiEntropy, detector, () => placement.current, config, log);
      const runtime = new ClusterRuntime({ config, client, membership, placement, grpc, peers, detector, hints, antiEntropy, index: store.index, coordinator, tables, hooks, log });
      runtime.startHintReplay();
      return runtime;
    } catch (err) {
      for (const undo of stack.reverse()) await Promise.resolve(undo()).catch(() => undefined);
      throw err;
    }
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
      index: this.index,
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
    };
  }

  /** Tells peers this node is going (health NOT_SERVING), then stops every part. */
  async stop(): Promise<void> {
    if (this.hintTimer !== undefined) clearInterval(this.hintTimer);
    this.grpc.setNotServing();
    this.antiEntropy.stop();
    this.detector.stop();
    await this.placement.stop();
    await this.membership.stop();
    await this.tables.stop();
    await this.grpc.stop(2_000);
    this.peers.close();
    await this.hints.close();
    this.client.close();
  }

  private startHintReplay(): void {
    const tick = async (): Promise<void> => {
      for (const target of await this.hints.targets()) {
        const current = this.placement.current;
        // (An empty ring is a placement not read yet, not one without the target.)
        if (current.nodes.length > 0 && !current.nodes.includes(target) && current.target?.includes(target) !== true) {
          // In neither ring (decommissioned, or a joiner that went away before it was ready): it
          // replicates nothing, the replicas that do hold what it missed, and if it comes back it
          // copies its shards when it joins.
          const discarded = await this.hints.discard(target);
          this.log.info({ event: 'hints_discarded', target, hints: discarded }, 'hints for a node outside the ring discarded');
          continue;
        }
        if (this.detector.state(target) !== 'alive') continue;
        await this.hints
          .replay(target, async (batch) => {
            await this.peers.call(target, 'Write', { batch }, this.config.replicaTimeoutMs);
            // Counted as each hint lands, before the queue marks it delivered: a reader who sees
            // no hints pending also sees them counted as replayed.
            this.hooks.onHintsReplayed?.(1);
          })
          .catch((err: unknown) => this.log.warn({ event: 'hint_replay_failed', target, err: (err as Error).message }, 'hint replay stopped; will retry'));
      }
    };
    let busy = false;
    const run = (): void => {
      if (busy) return;
      busy = true;
      void tick().finally(() => {
        busy = false;
      });
    };
    this.hintTimer = setInterval(run, this.config.hintReplayIntervalMs);
    this.hintTimer.unref();
    this.detector.on('state', (_peer: string, state: PeerState) => {
      if (state === 'alive') run();
    });
  }
}

/**
 * In a placement transition that names this node in the target ring, copies
 * the shards it gains, then tells the leader (ready/<epoch>/<id>), which
 * switches reads to the target once every registered target node is ready.
 * A failed copy is retried while the transition lasts.
 */
function followTransitions(placement: PlacementService, antiEntropy: AntiEntropy, config: NodeConfig, log: Logger): void {
  let done = 0;
  let running = false;
  const follow = (): void => {
    const current = placement.current;
    if (running || current.target === undefined || !current.target.includes(config.nodeId) || done >= current.epoch) return;
    running = true;
    void antiEntropy
      .catchUp(current.epoch)
      .then(() => placement.reportReady(current.epoch))
      .then(
        () => {
          done = current.epoch;
        },
        (err: unknown) => {
          log.warn({ event: 'catch_up_failed', epoch: current.epoch, err: (err as Error).message }, 'copying gained shards failed; retrying');
          setTimeout(follow, config.healthIntervalMs * 5).unref();
        },
      )
      .finally(() => {
        running = false;
        follow();
      });
  };
  placement.on('change', follow);
  follow();
}

/**
 * A node that starts with an empty index (its disk was replaced, or it is
 * the first start of a node already in the ring) copies its shards from
 * their other replicas (all of them, or after 30 s those alive and then
 * the rest as they come back) instead of waiting for the next anti-entropy
 * round. A node joining through a transition copies its
 * shards before it is in the ring, and skips this.
 */
function bootstrapWhenPeersAlive(
  antiEntropy: AntiEntropy,
  detector: FailureDetector,
  placement: () => Placement,
  config: NodeConfig,
  log: Logger,
): void {
  const deadline = Date.now() + 10 * 60_000;
  // A record acknowledged at W < RF may sit on one peer only: copy from every replica, so wait a while for
  // all of them; past the patience, copy from those alive and again once more peers are.
  const patience = Date.now() + 30_000;
  let copiedFrom = 0;
  let done = false;
  const tick = (): void => {
    if (done) return;
    const current = placement();
    if (current.target?.includes(config.nodeId) === true && !current.nodes.includes(config.nodeId)) return;
    const ring = current.nodes;
    const peers = ring.filter((n) => n !== config.nodeId);
    const alive = peers.filter((n) => detector.state(n) === 'alive').length;
    // Wait for the leader to add this node to the ring: before that it holds no shard to copy.
    if (ring.includes(config.nodeId) && alive > copiedFrom && (alive === peers.length || Date.now() > patience)) {
      copiedFrom = alive;
      const everyPeer = alive === peers.length;
      log.info({ event: 'bootstrap_repair', peersAlive: alive, peers: peers.length }, 'empty index: copying shards from their replicas');
      antiEntropy.repair().then(
        (report) => {
          // A peer that stopped being alive mid-run was skipped: it may hold the only other copy of some record.
          if (everyPeer && report.skipped === 0) done = true;
          else if (report.skipped > 0) copiedFrom = 0;
        },
        (err: unknown) => {
          copiedFrom = 0;
          log.warn({ event: 'bootstrap_repair_failed', err: (err as Error).message }, 'bootstrap repair failed; retrying');
        },
      );
    }
    if (Date.now() < deadline) setTimeout(tick, config.healthIntervalMs).unref();
  };
  // Let the failure detector check every peer once before trusting "alive".
  setTimeout(tick, config.healthIntervalMs * 2).unref();
}

/** Settings every node must share; the first node to start writes them. */
async function checkSharedConfig(client: Etcd3, keys: EtcdKeys, shards: number): Promise<void> {
  await client.if(keys.config, 'Create', '==', 0).then(client.put(keys.config).value(JSON.stringify({ shards }))).commit();
  const stored = JSON.parse((await client.get(keys.config).string()) ?? '{}') as { shards?: number };
  if (stored.shards !== shards) {
    throw new SluiceError('INVALID_ARGUMENT', `this cluster has ${stored.shards} shards per table; start the node with --shards ${stored.shards}`);
  }
}
