/**
 * Assembling the cluster side of a node as a lifecycle of named parts
 * (lifecycle.ts), in the order they depend on each other:
 *
 *   peer certificates → etcd client → cluster catalog → hint queues →
 *   peer channels → client gRPC server (Ingest + Health) → peer gRPC
 *   server (Replica + Health, mutual TLS) → peer certificate reload →
 *   membership → placement → failure detector → two-phase commit parts → coordinator →
 *   anti-entropy → hint replay → "serving"
 *
 * Both gRPC servers listen before the node registers, so no peer ever sees
 * a registered node it cannot reach; stop runs the list backwards, so the
 * first thing a stopping node does is tell its peers (health NOT_SERVING).
 * Replica is served on the peer listener only, to callers whose
 * certificate names a registered, not decommissioned node (peer-auth.ts,
 * peer-roster.ts).
 */
import os from 'node:os';
import path from 'node:path';
import { noop } from 'cockatiel';
import { Etcd3 } from 'etcd3';
import type { ServerCredentials } from '@grpc/grpc-js';
import type { Logger } from 'pino';
import { GRPC_RECONNECT_BACKOFF_MS_INITIAL, clientGrpcMessageBytesMax, GRPC_RECONNECT_BACKOFF_MS_MAX, HINT_SEGMENT_BYTES_MAX, PEER_CHECK_FAILURE_LOG_INTERVAL_MS, grpcPeerListen, walFrameBytesMax, type NodeConfig } from '../config.ts';
import { SluiceError } from '../core/errors.ts';
import type { Hlc } from '../core/hlc.ts';
import { SnowflakeGenerator } from '../core/snowflake.ts';
import { systemClock } from '../core/clock.ts';
import type { LocalStore } from '../storage/local-store.ts';
import { currentDef, type Catalog } from '../storage/catalog.ts';
import { readJsonFile, writeFileAtomic } from '../storage/atomic-file.ts';
import { missedRings, readRingSeen, writeRingSeen } from './repair/ring-seen.ts';
import type { ClusterHooks } from './cluster-hooks.ts';
import { ClusterCoordinator } from './coordinator/cluster-coordinator.ts';
import type { Lifecycle } from './lifecycle.ts';
import { FailureDetector, type PeerState } from './membership/failure-detector.ts';
import { Membership, type NodeInfo } from './membership/membership.ts';
import { PeerRoster } from './membership/peer-roster.ts';
import { ClusterTables } from './metadata/cluster-tables.ts';
import { EtcdTokenStore } from './metadata/etcd-token-store.ts';
import { EtcdKeys } from './metadata/etcd-keys.ts';
import { checkEtcdAccess, etcdSecurityOptions, warnPlaintextEtcd } from './metadata/etcd-connect.ts';
import { checkSharedConfig } from './metadata/shared-config.ts';
import { PlacementService } from './placement/placement-service.ts';
import { followTransitions } from './repair/transition-follower.ts';
import { AntiEntropy } from './repair/anti-entropy.ts';
import { bootstrapWhenPeersAlive } from './repair/bootstrap-repair.ts';
import { HintQueue } from './repair/hint-queue.ts';
import { HintReplayer } from './repair/hint-replayer.ts';
import { replicaHandlers } from './replica/replica-endpoint.ts';
import { GrpcServer, type GrpcService } from './transport/grpc-server.ts';
import { GrpcTransport } from './transport/grpc-transport.ts';
import { LocalTransport } from './transport/local-transport.ts';
import type { ReplicaTransport } from './transport/replica-transport.ts';
import { leftTheRing, startPeerListener } from './peer-listener.ts';
import { loadPeerSecurity, type StartedPeerSecurity } from './peer-security.ts';
import { startPeerCertReload } from './peer-cert-reload.ts';
import type { LoadedCertPair } from '../security/certs/load-cert-pair.ts';
import type { CertReloader } from '../security/tls/cert-reloader.ts';
import { startTxParts, type TxParts } from './tx-parts.ts';

/** Anti-entropy RPCs move whole Merkle leaves: they get at least this long. */
const REPAIR_TIMEOUT_MS_MIN = 30_000;
/** How long a stopping node's gRPC server lets calls in flight finish. */
const GRPC_STOP_GRACE_MS = 2_000;

/** What the assembly starts from. */
export interface AssemblyContext {
  readonly life: Lifecycle;
  readonly config: NodeConfig;
  readonly store: LocalStore;
  readonly catalog: Catalog;
  readonly hlc: Hlc;
  readonly hooks: ClusterHooks;
  readonly log: Logger;
}

/** The parts a running node's cluster side answers from. */
export interface AssembledParts {
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
  readonly tokens: EtcdTokenStore;
  /** The reloader of the peer certificates; none with --insecure-cluster. */
  readonly peerCerts: CertReloader<LoadedCertPair> | undefined;
}

/** What the metadata and storage parts give the rest. */
interface Foundation {
  readonly peerTls: StartedPeerSecurity;
  readonly client: Etcd3;
  readonly keys: EtcdKeys;
  readonly tables: ClusterTables;
  readonly hints: HintQueue;
  readonly peers: GrpcTransport;
  readonly tokens: EtcdTokenStore;
}

/** What the network and membership parts give the rest. */
interface Network {
  readonly placement: PlacementService;
  readonly transport: ReplicaTransport;
  readonly detector: FailureDetector;
  readonly membership: Membership;
  readonly ids: () => SnowflakeGenerator;
  readonly grpc: GrpcServer;
  readonly peerGrpc: GrpcServer;
  readonly peerCerts: CertReloader<LoadedCertPair> | undefined;
  /** Binds a snapshot read's "hurry these batches" to the resolver, once it runs. */
  readonly bindResolver: (hurry: (txids: bigint[]) => void) => void;
}

/** Starts every part in `ctx.life`, in order (the file comment). */
export async function assembleCluster(ctx: AssemblyContext, httpUrl: string, services: readonly GrpcService[], credentials?: ServerCredentials): Promise<AssembledParts> {
  const { life, config, store, catalog } = ctx;
  const f = await startFoundation(ctx);
  const net = await startNetwork(ctx, f, httpUrl, services, credentials);
  const { placement, transport, membership, detector } = net;
  const tx = await startTxParts(life, { config, client: f.client, keys: f.keys, store, catalog, transport, placement: () => placement.current, isLeader: () => placement.isLeader, hooks: ctx.hooks, log: ctx.log });
  net.bindResolver((txids) => tx.resolver.hurry(txids));
  const coordinator = newCoordinator(ctx, f, net, tx);
  const antiEntropy = await startRepair(ctx, f, net);
  // Stopped first: peers stop sending to this node before anything else goes.
  await life.add('serving', () => undefined, () => {
    net.grpc.setNotServing();
    net.peerGrpc.setNotServing();
  });
  return { store, catalog, tables: f.tables, membership, placement, detector, hints: f.hints, antiEntropy, coordinator, tx, tokens: f.tokens, peerCerts: net.peerCerts };
}

/** The peer certificates, etcd, the cluster catalog, the hint queues and the peer channels. */
async function startFoundation({ life, config, catalog, log }: AssemblyContext): Promise<Foundation> {
  // First: a certs dir that cannot be used stops the node before it touches etcd.
  const peerTls = await life.add('peer-tls', () => loadPeerSecurity(config, log), () => undefined);
  const keys = new EtcdKeys(config.etcdPrefix);
  const client = await life.add('etcd', () => etcdClient(config, keys, log), (c) => c.close());
  await checkSharedConfig(client, keys, config.shards);
  const tables = await life.add('tables', async () => {
    const t = new ClusterTables(client, keys, catalog, log, config.nodeId);
    await t.start();
    return t;
  }, (t) => t.stop());
  const hints = await life.add('hints', async () => {
    const q = new HintQueue({ dir: path.join(config.dataDir, 'hints'), bytesMaxPerPeer: config.hintBytesMaxPerPeer, windowMs: config.hintWindowMs, segmentBytesMax: HINT_SEGMENT_BYTES_MAX, frameBytesMax: walFrameBytesMax(config), log });
    await q.open();
    return q;
  }, (q) => q.close());
  const unaryWrites = (nodeId: string, retryMs: number): void =>
    log.warn({ event: 'replica_stream_refused', peer: nodeId, retryMs }, `peer ${nodeId} does not serve the replica write stream (an earlier release?): replica writes to it go as unary calls for ${retryMs} ms`);
  const channelReset = (peer: string, failingMs: number): void =>
    log.warn({ event: 'peer_channel_reset', peer, failingMs }, `health checks of peer ${peer} have failed for ${failingMs} ms: its connections are replaced`);
  const peers = await life.add('peers', () => new GrpcTransport(peerTls.security, unaryWrites, checkFailureLog(log), channelReset), (p) => p.close());
  // Loaded by the node's token registry, which starts its watch; stopped with the other parts.
  const tokens = await life.add('tokens', () => new EtcdTokenStore(client, keys, log), (t) => t.stop());
  return { peerTls, client, keys, tables, hints, peers, tokens };
}

/** Logs why a peer's health checks fail, at most once per PEER_CHECK_FAILURE_LOG_INTERVAL_MS per peer: what keeps it suspect or dead. */
function checkFailureLog(log: Logger): (peer: string, reason: string) => void {
  const last = new Map<string, { atMs: number; failed: number }>();
  return (peer, reason) => {
    const now = Date.now();
    const seen = last.get(peer) ?? { atMs: 0, failed: 0 };
    seen.failed++;
    last.set(peer, seen);
    if (now - seen.atMs < PEER_CHECK_FAILURE_LOG_INTERVAL_MS) return;
    log.warn({ event: 'peer_check_failed', peer, reason, failed: seen.failed }, `health checks of peer ${peer} fail: ${reason} (${seen.failed} since the last such line)`);
    seen.atMs = now;
    seen.failed = 0;
  };
}

/** The replica service and its gRPC server, membership, placement and the failure detector. */
async function startNetwork(ctx: AssemblyContext, f: Foundation, httpUrl: string, services: readonly GrpcService[], credentials?: ServerCredentials): Promise<Network> {
  const { life, config, store, catalog, hlc, hooks, log } = ctx;
  const replicationFactors = (): number[] => catalog.list().map((t) => currentDef(t).replicationFactor);
  const placement = new PlacementService({ client: f.client, keys: f.keys, nodeId: config.nodeId, leaseTtlMs: config.leaseTtlMs, log, shards: config.shards, replicationFactors });
  // Bound once the resolver runs: a snapshot read that gave up waiting hurries the batches in its way.
  let hurry: (txids: bigint[]) => void = () => undefined;
  const local = replicaHandlers({
    store,
    catalog,
    hlc,
    epoch: () => placement.current.epoch,
    reloadTables: () => f.tables.reload(),
    readBarrierMsMax: config.readBarrierMsMax,
    unindexedBytesMax: config.inFlightBytesMax,
    txReadWaitMs: config.txReadWaitMs,
    onSnapshotBlocked: (txids) => hurry(txids),
    startedAtMs: Date.now(),
    maxClockOffsetMs: config.maxClockOffsetMs,
    ...(hooks.onSnapshotWait ? { onSnapshotWait: hooks.onSnapshotWait } : {}),
    ...(hooks.onReplicaWrite ? { onReplicaWrite: hooks.onReplicaWrite } : {}),
    ...(hooks.onReplicaPrepare ? { onReplicaPrepare: hooks.onReplicaPrepare } : {}),
  });
  const transport = new LocalTransport(config.nodeId, local, f.peers);
  // The client port (Ingest, Health): TLS with the HTTP listener's certificate when the node has one.
  const grpc = await life.add('grpc', () => GrpcServer.start(config.grpcHost, config.grpcPort, services, credentials, [], undefined, clientGrpcMessageBytesMax(config)), (g) => g.stop(GRPC_STOP_GRACE_MS));
  const roster = new PeerRoster({ client: f.client, keys: f.keys, decommissioned: (id) => leftTheRing(placement, id) });
  const peerGrpc = await life.add('grpc-peer', () => startPeerListener(config, f.peerTls.security, local, roster, log, hooks.onPeerRefused), (g) => g.stop(GRPC_STOP_GRACE_MS));
  const peerCerts = await life.add('peer-cert-reload', () => startPeerCertReload(f.peerTls, f.peers, config.tlsReloadIntervalMs, hooks.peerTls), (r) => r?.stop());
  const detector = new FailureDetector(transport, config);
  const advertised = (host: string, port: number): string => `${config.advertiseHost || host}:${port}`;
  const addresses = { grpc: advertised(config.grpcHost, grpc.port), peer: advertised(grpcPeerListen(config).host, peerGrpc.port) };
  const membership = await newMembership(config, f.client, f.keys, httpUrl, addresses, log);
  const ids = workerIds(membership, store.idFloor, hooks, store.timeCeiling);
  followMembers(ctx, f.peers, roster, membership, placement, detector);
  await life.add('membership', () => membership.start(), () => membership.stop());
  await life.add('placement', () => placement.start(), () => placement.stop());
  await life.add('detector', () => detector.start(), () => detector.stop());
  return { placement, transport, detector, membership, ids, grpc, peerGrpc, peerCerts, bindResolver: (h) => (hurry = h) };
}

/** Keeps peer addresses, the roster, the failure detector's peers and the placement leader's view in step with etcd. */
function followMembers(ctx: AssemblyContext, peers: GrpcTransport, roster: PeerRoster, membership: Membership, placement: PlacementService, detector: FailureDetector): void {
  const { config, hooks, log } = ctx;
  const unreachable = new Set<string>();
  membership.on('members', (members: ReadonlyMap<string, NodeInfo>) => {
    roster.observe(members.keys());
    for (const [id, info] of members) {
      if (id === config.nodeId) continue;
      if (info.peer !== undefined) peers.setAddress(id, info.peer);
      else if (!unreachable.has(id)) {
        unreachable.add(id);
        log.warn({ event: 'peer_without_listener', peer: id }, `node ${id} registered no peer listener (a release from before it): it cannot be replicated to`);
      }
    }
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
}

/** The cluster coordinator over the transport, with the two-phase commit parts. */
function newCoordinator({ config, hlc, hooks }: AssemblyContext, f: Foundation, net: Network, tx: TxParts): ClusterCoordinator {
  const { placement, membership } = net;
  return new ClusterCoordinator({
    nodeId: config.nodeId,
    hlc,
    ids: net.ids,
    assertLive: () => membership.assertLive(),
    placement: () => placement.current,
    refreshPlacement: () => placement.refresh(),
    transport: net.transport,
    detector: net.detector,
    hints: f.hints,
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
}

/** Anti-entropy (with transitions and bootstrap repair) and hint replay. */
async function startRepair({ life, config, store, catalog, hooks, log }: AssemblyContext, f: Foundation, net: Network): Promise<AntiEntropy> {
  const { placement, transport, detector } = net;
  const antiEntropy = await life.add('anti-entropy', async () => {
    const ae = new AntiEntropy({
      nodeId: config.nodeId,
      shards: config.shards,
      catalog,
      placement: () => placement.current,
      transport,
      detector,
      timeoutMs: Math.max(config.replicaTimeoutMs, REPAIR_TIMEOUT_MS_MIN),
      log,
      ...(hooks.onRepaired ? { onRepaired: hooks.onRepaired } : {}),
    });
    ae.start(config.antiEntropyIntervalMs);
    followTransitions(placement, ae, config, log);
    await trackRings(config, store, placement, net.membership, (onDone) => bootstrapWhenPeersAlive(ae, detector, () => placement.current, config, log, onDone), log);
    return ae;
  }, (ae) => ae.stop());
  await life.add('hint-replay', () => {
    const replayer = new HintReplayer({
      nodeId: config.nodeId,
      hints: f.hints,
      transport,
      detector,
      placement: () => placement.current,
      catalog,
      replicaTimeoutMs: config.replicaTimeoutMs,
      intervalMs: config.hintReplayIntervalMs,
      bytesPerSecMax: config.hintReplayBytesPerSecMax,
      log,
      ...(hooks.onHintsReplayed ? { onReplayed: hooks.onHintsReplayed } : {}),
    });
    replayer.start();
    return replayer;
  }, (r) => r.stop());
  return antiEntropy;
}

/** Where this node remembers its last worker id and lease (DATA_DIR/cluster.json). */
interface ClusterFile {
  readonly nodeId: string;
  readonly workerId: number;
  readonly leaseId: string;
  /** The machine that wrote it (absent in files from before). */
  readonly host?: string;
}


/**
 * The etcd client of a node. Without a circuit breaker per host: etcd3's
 * default opens after 3 failures and then fails every call for 5 s, so a
 * one-second etcd pause kept a node from renewing its lease (writes refused
 * as fenced) and from reading decisions (GET /v1/tx answered 500) for 5 s
 * after etcd was back. Each call has its own deadline instead; the
 * default retry of recoverable errors stays. TLS files and the user come
 * from the operator's flags (etcd-connect.ts).
 */
async function etcdClient(config: NodeConfig, keys: EtcdKeys, log: Logger): Promise<Etcd3> {
  warnPlaintextEtcd(config.etcdUrls, log);
  const client = new Etcd3({
    hosts: [...config.etcdUrls],
    dialTimeout: 5_000,
    // gRPC's default reconnect backoff grows to minutes; an etcd restart must be noticed within a keep-alive or two.
    grpcOptions: { 'grpc.initial_reconnect_backoff_ms': GRPC_RECONNECT_BACKOFF_MS_INITIAL, 'grpc.max_reconnect_backoff_ms': GRPC_RECONNECT_BACKOFF_MS_MAX },
    faultHandling: { host: () => noop },
    ...(await etcdSecurityOptions(config)),
  });
  // Wrong credentials fail here with what to fix, not later as a gRPC status.
  await checkEtcdAccess(client, keys, config).catch((err: unknown) => {
    client.close();
    throw err;
  });
  return client;
}

/**
 * Copies this node's shards from their replicas at start when its index is
 * empty or it missed a ring (ring-seen.ts), and again when it registers
 * anew after its lease ran out (stopped, or cut off from etcd) and the ring
 * changed meanwhile: the leader switched without waiting for its copy. It
 * records each settled ring it runs in from then on (not while that copy is
 * pending, nor while its lease may be gone).
 */
async function trackRings(config: NodeConfig, store: LocalStore, placement: PlacementService, membership: Membership, bootstrap: (onDone: () => void) => void, log: Logger): Promise<void> {
  let pending = false;
  let seen = await readRingSeen(config.dataDir);
  const record = (): void => {
    const current = placement.current;
    if (pending || !membership.live || current.target !== undefined || !current.nodes.includes(config.nodeId)) return;
    seen = current.epoch;
    writeRingSeen(config.dataDir, current.epoch).catch((err: unknown) => log.warn({ err }, 'cannot record the ring this node runs in'));
  };
  const copy = (): void => {
    pending = true;
    bootstrap(() => {
      pending = false;
      record();
    });
  };
  if (store.maxIdAtOpen === 0n || missedRings(seen, placement.current.epoch)) {
    if (store.maxIdAtOpen !== 0n) log.info({ event: 'rings_missed', seenEpoch: seen ?? null, epoch: placement.current.epoch }, 'the ring changed while this node was down: copying its shards from their replicas');
    copy();
  }
  // Listened to after the first registration: each one is a registration anew, after the lease ran out.
  membership.on('registered', () => {
    if (pending) return;
    // Held until the newest ring is read: a switch that arrives late must not be recorded as copied.
    pending = true;
    const before = seen;
    placement.refresh().then(
      (current) => {
        if (!missedRings(before, current.epoch)) {
          pending = false;
          record();
          return;
        }
        log.info({ event: 'rings_missed', seenEpoch: before ?? null, epoch: current.epoch, lease: 'lost' }, 'the ring changed while this node had no lease: copying its shards from their replicas');
        copy();
      },
      (err: unknown) => {
        // Unknown whether the ring changed: copy, as a restart with no record would.
        log.warn({ event: 'rings_missed', err: (err as Error).message, lease: 'lost' }, 'cannot read the ring after registering anew: copying this node’s shards from their replicas');
        copy();
      },
    );
  });
  placement.on('change', record);
  record();
}

/** This node's registration, remembering its worker id and lease in DATA_DIR/cluster.json. */
export async function newMembership(config: NodeConfig, client: Etcd3, keys: EtcdKeys, httpUrl: string, addresses: { grpc: string; peer: string }, log: Logger): Promise<Membership> {
  const file = path.join(config.dataDir, 'cluster.json');
  const saved = (await readJsonFile(file)) as ClusterFile | undefined;
  const host = os.hostname();
  // The data-dir lock proves the lease's holder dead only on the machine that wrote the file: a copied
  // data dir (a cloned VM, a restored backup) may belong to a node that runs elsewhere.
  const knownDead = saved?.host === host;
  return new Membership({
    client,
    keys,
    self: { nodeId: config.nodeId, http: httpUrl, ...addresses, startedAtMs: Date.now() },
    leaseTtlMs: config.leaseTtlMs,
    keepAliveMs: config.keepAliveMs,
    ...(saved !== undefined && saved.nodeId === config.nodeId ? { previous: { workerId: saved.workerId, ...(knownDead ? { leaseId: saved.leaseId } : {}) } } : {}),
    remember: (claim) => writeFileAtomic(file, JSON.stringify({ nodeId: config.nodeId, ...claim, host })),
    log,
  });
}

/**
 * The id generator of the worker id this node holds: a new one after each
 * (re-)registration, never issuing below an id this node issued or stored.
 */
export function workerIds(membership: Membership, idFloor: bigint, hooks: ClusterHooks, ceiling?: { readonly ms: number }): () => SnowflakeGenerator {
  let ids: SnowflakeGenerator | undefined;
  let lastIssuedFloor = idFloor;
  membership.on('registered', (info: { workerId: number }) => {
    // Read, not issued: next() throws CLOCK_ROLLBACK when the clock is behind, and a throw here would
    // leave the node stamping with the worker id of the lease it lost, which another node may hold now.
    if (ids !== undefined) lastIssuedFloor = ids.lastIssued();
    const next = new SnowflakeGenerator({ workerId: info.workerId, clock: systemClock, ...(hooks.onClockEvent ? { onClockEvent: hooks.onClockEvent } : {}), ...(ceiling === undefined ? {} : { ceiling }) });
    next.observe(lastIssuedFloor);
    ids = next;
  });
  return () => {
    if (ids === undefined) throw new SluiceError('NOT_READY', 'no worker id leased yet');
    return ids;
  };
}
