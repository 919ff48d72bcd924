/**
 * An in-process cluster for tests of the cluster logic: N nodes, each with
 * a real store (WAL + index in a temp dir), real replica handlers, a real
 * hint queue, failure detector, hint replayer and cluster coordinator,
 * wired through the ReplicaTransport seam instead of gRPC. Calls between
 * nodes go through a loopback network that encodes and decodes every
 * message as the gRPC transport does, and through a FaultTransport, so a
 * test can drop, delay and partition (NetworkFaults). Placement is a fixed
 * ring of the nodes; etcd is not involved. Runs in seconds; the process
 * tests with real etcd and SIGKILL stay the final word.
 */
import { pino } from 'pino';
import { hlcRemoteAheadMsMax, resolveConfig } from '../../src/config.ts';
import { systemClock } from '../../src/core/clock.ts';
import { encodeFields } from '../../src/core/codec/fields-codec.ts';
import { RecordBatchBuilder } from '../../src/core/codec/record-batch-v1.ts';
import { SluiceError, isSluiceError } from '../../src/core/errors.ts';
import { Hlc } from '../../src/core/hlc.ts';
import { shardOf } from '../../src/core/murmur3.ts';
import { parseTableDef } from '../../src/core/schema/parse-table-def.ts';
import { SnowflakeGenerator } from '../../src/core/snowflake.ts';
import { ClusterCoordinator } from '../../src/cluster/coordinator/cluster-coordinator.ts';
import { FailureDetector } from '../../src/cluster/membership/failure-detector.ts';
import { Placement } from '../../src/cluster/placement/placement.ts';
import { HintQueue } from '../../src/cluster/repair/hint-queue.ts';
import { HintReplayer } from '../../src/cluster/repair/hint-replayer.ts';
import { replicaHandlers } from '../../src/cluster/replica/replica-endpoint.ts';
import { FaultTransport, NetworkFaults } from '../../src/cluster/transport/fault-transport.ts';
import { LocalTransport } from '../../src/cluster/transport/local-transport.ts';
import { decodeReply, decodeRequest, encodeMessage, type ReplicaMethod, type ReplicaMethods } from '../../src/cluster/transport/replica-messages.ts';
import { TxConcluder } from '../../src/cluster/tx/tx-concluder.ts';
import { TxResolver } from '../../src/cluster/tx/tx-resolver.ts';
import { TxSweeper } from '../../src/cluster/tx/tx-sweeper.ts';
import { MemoryDecisions } from './memory-decisions.ts';
import { removeTempDir } from './temp-dir.ts';
import { callHandler, type ReplicaHandlers, type ReplicaTransport } from '../../src/cluster/transport/replica-transport.ts';
import type { TableEntry, Catalog } from '../../src/storage/catalog.ts';
import { openDataDir } from '../../src/storage/data-dir.ts';
import type { LocalStore } from '../../src/storage/local-store.ts';
import { mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

type Owner = { after: (fn: () => Promise<void> | void) => void };

const silent = pino({ level: 'silent' });

/** The calls between in-process nodes: every message encoded and decoded as on the wire. */
export class LoopbackNetwork implements ReplicaTransport {
  private readonly nodes = new Map<string, ReplicaHandlers>();
  private readonly down = new Set<string>();
  /** Largest encoded request or reply, as the peer port's gRPC message limit (GRPC_MESSAGE_BYTES_MAX). */
  private readonly messageBytesMax: number;

  constructor(messageBytesMax = Number.POSITIVE_INFINITY) {
    this.messageBytesMax = messageBytesMax;
  }

  register(node: string, handlers: ReplicaHandlers): void {
    this.nodes.set(node, handlers);
  }

  /** A node that is down refuses connections (as a killed process does). */
  setDown(node: string, down: boolean): void {
    if (down) this.down.add(node);
    else this.down.delete(node);
  }

  async call<M extends ReplicaMethod>(node: string, method: M, request: ReplicaMethods[M][0], _timeoutMs: number): Promise<ReplicaMethods[M][1]> {
    const handlers = this.nodes.get(node);
    if (handlers === undefined || this.down.has(node)) throw new SluiceError('NO_QUORUM', `replica ${node}: connection refused`);
    const onWire = decodeRequest(method, this.sized(node, method, encodeMessage(request)));
    const reply = await callHandler(handlers, method, onWire);
    return decodeReply(method, this.sized(node, method, encodeMessage(reply)));
  }

  /** `bytes`, unless past the message limit: then the error the gRPC transport gives (INTERNAL, RESOURCE_EXHAUSTED's details). */
  private sized(node: string, method: ReplicaMethod, bytes: Buffer): Buffer {
    if (bytes.length <= this.messageBytesMax) return bytes;
    throw new SluiceError('INTERNAL', `replica ${node}: ${method}: Received message larger than max (${bytes.length} vs. ${this.messageBytesMax})`);
  }

  async check(node: string): Promise<boolean> {
    return this.nodes.has(node) && !this.down.has(node);
  }
}

/** One in-process node. */
export interface TestNode {
  readonly id: string;
  /** The data dir. */
  readonly dir: string;
  readonly store: LocalStore;
  readonly catalog: Catalog;
  readonly hlc: Hlc;
  readonly coordinator: ClusterCoordinator;
  readonly hints: HintQueue;
  readonly replayer: HintReplayer;
  readonly resolver: TxResolver;
  readonly sweeper: TxSweeper;
  readonly detector: FailureDetector;
  readonly transport: ReplicaTransport;
  /** Hints written, read-repair pushes and hints replayed, by target. */
  readonly counts: { hinted: Map<string, number>; repaired: Map<string, number>; replayed: number };
}

/** Options of an in-process cluster. */
export interface InProcessOptions {
  readonly size?: number;
  readonly shards?: number;
  readonly replicaTimeoutMs?: number;
  /** Start each node's hint replayer (off: a test replays by hand). */
  readonly replayHints?: boolean;
  /** Overrides of the node config (tx timeouts and limits). */
  readonly config?: Parameters<typeof resolveConfig>[0];
  /** Record bytes per Fetch reply of each replica. @default FETCH_REPLY_BYTES_MAX */
  readonly fetchReplyBytesMax?: number;
  /** Entry bytes per LeafEntries reply of each replica. @default LEAF_ENTRIES_REPLY_BYTES_MAX */
  readonly leafEntriesReplyBytesMax?: number;
  /** Largest message between nodes, bytes. @default no limit */
  readonly messageBytesMax?: number;
  /** Record bytes per Scan and ScanShard reply of each replica. @default SCAN_REPLY_BYTES_MAX */
  readonly scanReplyBytesMax?: number;
}

/** A running in-process cluster. */
export class InProcessCluster {
  readonly faults = new NetworkFaults();
  /** etcd's decisions, in memory. */
  readonly decisions = new MemoryDecisions();
  readonly network: LoopbackNetwork;
  readonly nodes: TestNode[] = [];
  readonly placement: Placement;
  readonly shards: number;
  private table: TableEntry | undefined;

  private constructor(ids: readonly string[], shards: number, messageBytesMax: number | undefined) {
    this.placement = new Placement({ epoch: 1, nodes: ids });
    this.shards = shards;
    this.network = new LoopbackNetwork(messageBytesMax);
  }

  /** Starts `size` nodes (n1…) with an RF=3 table `t` (shard key `k`, event time `ts`). */
  static async start(owner: Owner, options: InProcessOptions = {}): Promise<InProcessCluster> {
    const ids = Array.from({ length: options.size ?? 3 }, (_, i) => `n${i + 1}`);
    const cluster = new InProcessCluster(ids, options.shards ?? 8, options.messageBytesMax);
    for (const [i, id] of ids.entries()) cluster.nodes.push(await cluster.startNode(owner, id, i + 1, options));
    const def = parseTableDef(
      { name: 't', shardKey: 'k', timeField: 'ts', replicationFactor: Math.min(3, ids.length), fields: [{ name: 'k', type: 'string', required: true }, { name: 'ts', type: 'timestamp', required: true }, { name: 'v', type: 'int' }] },
      Date.now(),
    );
    const first = cluster.node('n1');
    const entry = await first.catalog.create(def, Date.now());
    for (const n of cluster.nodes) if (n !== first) await n.catalog.install(entry);
    cluster.table = entry;
    return cluster;
  }

  private async startNode(owner: Owner, id: string, workerId: number, options: InProcessOptions): Promise<TestNode> {
    const dir = mkdtempSync(path.join(os.tmpdir(), `sluice-${id}-`));
    const config = resolveConfig({ dataDir: dir, shards: this.shards, replicaTimeoutMs: options.replicaTimeoutMs ?? 300, ...options.config });
    const { store, catalog } = await openDataDir(config, [], {}, silent);
    // As a node builds it (sluice-node.ts): the bound follows the configured clock offset.
    const hlc = new Hlc(systemClock, { maxOffsetMs: hlcRemoteAheadMsMax(config.maxClockOffsetMs) });
    let hurry: (txids: bigint[]) => void = () => undefined;
    const handlers = replicaHandlers({
      store,
      catalog,
      hlc,
      epoch: () => this.placement.epoch,
      reloadTables: async () => undefined,
      readBarrierMsMax: 5_000,
      unindexedBytesMax: 64 * 1024 * 1024,
      txReadWaitMs: config.txReadWaitMs,
      onSnapshotBlocked: (txids) => hurry(txids),
      startedAtMs: Date.now(),
      maxClockOffsetMs: config.maxClockOffsetMs,
      ...(options.fetchReplyBytesMax === undefined ? {} : { fetchReplyBytesMax: options.fetchReplyBytesMax }),
      ...(options.leafEntriesReplyBytesMax === undefined ? {} : { leafEntriesReplyBytesMax: options.leafEntriesReplyBytesMax }),
      ...(options.scanReplyBytesMax === undefined ? {} : { scanReplyBytesMax: options.scanReplyBytesMax }),
    });
    this.network.register(id, handlers);
    const transport = new LocalTransport(id, handlers, new FaultTransport(id, this.network, this.faults));
    const detector = new FailureDetector(transport, { healthIntervalMs: 50, suspectAfterMisses: 3, deadAfterMs: 60_000 });
    const hints = new HintQueue({ dir: path.join(dir, 'hints'), bytesMaxPerPeer: 64 * 1024 * 1024, segmentBytesMax: 1024 * 1024, frameBytesMax: 64 * 1024 * 1024, log: silent });
    await hints.open();
    const counts = { hinted: new Map<string, number>(), repaired: new Map<string, number>(), replayed: 0 };
    const ids = new SnowflakeGenerator({ workerId, clock: systemClock });
    const replicaTimeoutMs = config.replicaTimeoutMs;
    const registration = { key: `nodes/${id}`, createRevision: String(workerId) };
    this.decisions.registrations.set(registration.key, registration.createRevision);
    const concluder = new TxConcluder(this.decisions, silent, 10, async (node, txids) => {
      const reply = await transport.call(node, 'TxStatus', { txids: txids.map(String) }, replicaTimeoutMs);
      return new Map(reply.states.map((s) => [BigInt(s.txid), s.state]));
    });
    const coordinator = new ClusterCoordinator({
      nodeId: id,
      hlc,
      ids: () => ids,
      assertLive: () => undefined,
      placement: () => this.placement,
      refreshPlacement: async () => this.placement,
      transport,
      detector,
      hints,
      options: { shards: this.shards, replicaTimeoutMs, onPartition: 'refuse', snapshotWaitMs: config.txReadWaitMs, maxClockOffsetMs: config.maxClockOffsetMs },
      tx: {
        decisions: this.decisions,
        concluder,
        registration: () => registration,
        limits: { txBytesMax: config.txBytesMax, txRecordsMax: config.txRecordsMax, txInFlightMax: config.txInFlightMax, txCommitDeadlineMs: config.txCommitDeadlineMs },
      },
      observer: {
        onHinted: (target, n) => counts.hinted.set(target, (counts.hinted.get(target) ?? 0) + n),
        onReadRepair: (target, n) => counts.repaired.set(target, (counts.repaired.get(target) ?? 0) + n),
      },
    });
    const replayer = new HintReplayer({
      nodeId: id,
      hints,
      transport,
      detector,
      placement: () => this.placement,
      catalog,
      replicaTimeoutMs,
      intervalMs: 50,
      log: silent,
      onReplayed: (n) => {
        counts.replayed += n;
      },
    });
    const resolver = new TxResolver({
      nodeId: id,
      store,
      catalog,
      decisions: this.decisions,
      transport,
      placement: () => this.placement,
      resolveAfterMs: config.txResolveAfterMs,
      intervalMs: 50,
      replicaTimeoutMs,
      maxClockOffsetMs: config.maxClockOffsetMs,
      log: silent,
    });
    hurry = (txids) => resolver.hurry(txids);
    const sweeper = new TxSweeper({
      nodeId: id,
      decisions: this.decisions,
      transport,
      placement: () => this.placement,
      catalog,
      isLeader: () => id === 'n1',
      intervalMs: 100,
      settleMs: config.txCommitDeadlineMs + 2 * config.maxClockOffsetMs,
      replicaTimeoutMs,
      log: silent,
    });
    for (const peer of this.placement.nodes) if (peer !== id) detector.track(peer, true);
    detector.start();
    if (options.replayHints === true) replayer.start();
    owner.after(async () => {
      await resolver.stop();
      await sweeper.stop();
      await concluder.stop();
      await replayer.stop();
      detector.stop();
      await hints.close();
      await store.close();
      // Removed after the store is closed, and after what a test opened on the dir meanwhile (stopBeforeRemoval):
      // a test's hooks run in the order they were added, so its own come after this one.
      await removeTempDir(dir);
    });
    return { id, dir, store, catalog, hlc, coordinator, hints, replayer, resolver, sweeper, detector, transport, counts };
  }

  /** Node `id`. */
  node(id: string): TestNode {
    const n = this.nodes.find((x) => x.id === id);
    if (n === undefined) throw new Error(`no node ${id}`);
    return n;
  }

  /** The test table. */
  get entry(): TableEntry {
    if (this.table === undefined) throw new Error('cluster not started');
    return this.table;
  }

  /** A batch of records `k`=keys[i], `ts`=tsMs + i, `v`=values[i] (default i), for the test table. */
  batch(keys: readonly string[], tsMs = Date.now(), values?: readonly number[]): { buf: Buffer; count: number } {
    const b = new RecordBatchBuilder(this.entry.id, 1, Date.now());
    keys.forEach((k, i) => b.add(shardOf(k, this.shards), k, undefined, tsMs + i, encodeFields([k, tsMs + i, values?.[i] ?? i])));
    return { buf: Buffer.from(b.finish()), count: keys.length };
  }

  /** Writes `keys` through node `via`. */
  write(via: string, keys: readonly string[], options: { consistency?: 'one' | 'quorum' | 'all'; atomic?: boolean; tsMs?: number; values?: readonly number[] } = {}) {
    const { buf, count } = this.batch(keys, options.tsMs, options.values);
    return this.node(via).coordinator.write(this.entry, buf, count, () => undefined, options);
  }

  /** The shard of a key of the test table. */
  batchShard(key: string): number {
    return shardOf(key, this.shards);
  }

  /** Keys of `n` different shards (an atomic batch across them needs two-phase commit). */
  keysOfShards(n: number, prefix = 's'): string[] {
    const seen = new Set<number>();
    const out: string[] = [];
    for (let i = 0; out.length < n; i++) {
      const key = `${prefix}${i}`;
      const shard = shardOf(key, this.shards);
      if (seen.has(shard)) continue;
      seen.add(shard);
      out.push(key);
    }
    return out;
  }

  /** Ids of the test table's records that node `id` stores itself (every shard), with how often each occurs. */
  async storedIds(id: string): Promise<Map<bigint, number>> {
    const out = new Map<bigint, number>();
    const node = this.node(id);
    await node.store.readBarrier(5_000);
    for await (const page of node.store.scanTable(this.entry.id)) for (const rec of page) {
      const recId = rec.recordKey.readBigUInt64BE(rec.recordKey.length - 8);
      out.set(recId, (out.get(recId) ?? 0) + 1);
    }
    return out;
  }

  /** Keys whose shard node `id` replicates (RF 3 of `size`): a test picks keys a node holds. */
  keysHeldBy(id: string, n: number, prefix = 'k'): string[] {
    const out: string[] = [];
    for (let i = 0; out.length < n; i++) {
      const key = `${prefix}${i}`;
      if (this.placement.replicas(shardOf(key, this.shards), this.entry.versions[0]?.replicationFactor ?? 3).includes(id)) out.push(key);
    }
    return out;
  }

  /** Waits until every node sees every other alive. */
  async waitAllAlive(timeoutMs = 5_000): Promise<void> {
    await waitUntil(() => this.nodes.every((n) => this.nodes.every((p) => p === n || n.detector.state(p.id) === 'alive')), timeoutMs, 'every node sees every peer alive');
  }
}

/** Polls `cond` every 20 ms until true, or throws after `timeoutMs`. */
export async function waitUntil(cond: () => boolean | Promise<boolean>, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await cond()) return;
    if (Date.now() > deadline) throw new Error(`timed out waiting until ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

export { isSluiceError };
