/**
 * The status page's data: one read-only snapshot of the node and the
 * cluster as this node sees it (like `nodetool status`), gathered from
 * what already exists (the /v1/cluster builder, the failure detector, hint
 * queues, the metrics registry, source statuses). The HTML view
 * (status-html.ts) and the JSON view are both renderings of this shape.
 */
import { statfs } from 'node:fs/promises';
import type { ClusterDetail, ClusterStatus } from '../../../cluster/cluster-runtime.ts';
import type { PeerState } from '../../../cluster/membership/failure-detector.ts';
import type { IngestorStatus } from '../../../ingest/ingestor.ts';
import type { NodeMetrics } from '../../metrics.ts';
import type { ApiContext, NodePhase } from '../api-context.ts';
import { judgeHeartbeat, type HeartbeatVerdict } from './heartbeat.ts';
import { fsyncP99Ms, tableRates, type CounterSample, type SampleWindow, type TableRate } from './sample-window.ts';

/** Storage figures of the node once its data dir is open. */
export interface StorageFacts {
  readonly engine: string;
  /** LSNs as decimal strings (they are 64-bit). */
  readonly appliedLsn: string;
  readonly lastAckedLsn: string;
  readonly applyLagFrames: number;
}

/** What the status page reads beyond the API context: start time, version, storage, and its counter samples. */
export interface StatusSources {
  readonly startedAtMs: number;
  readonly version: string;
  /** Undefined until storage is open. */
  storage(): StorageFacts | undefined;
  readonly samples: SampleWindow;
}

/** One node as this node sees it. */
export interface StatusNode {
  readonly id: string;
  readonly self: boolean;
  readonly state: PeerState;
  readonly registered: boolean;
  readonly http?: string;
  readonly grpc?: string;
  readonly peer?: string;
  readonly workerId?: number;
  /** The addresses and worker id are from its last registration (it holds none now). */
  readonly lastKnown?: boolean;
  readonly shards: number;
  /** Shards it replicates / shard count, percent ("owns (effective)": sums to RF × 100 over the ring). */
  readonly ownershipPct: number;
  /** Hints this node holds for it. */
  readonly hintsPending: number;
  /** Since its last passing check; absent for this node and for nodes never tracked. */
  readonly heartbeatAgeMs?: number;
  readonly heartbeat?: HeartbeatVerdict;
  readonly decommissioning: boolean;
  readonly inRing: boolean;
  /** In the target placement (during a change), else in the ring. */
  readonly inTarget: boolean;
}

/** The whole page. */
export interface StatusSnapshot {
  readonly header: {
    readonly nodeId: string;
    readonly mode: 'single' | 'cluster';
    readonly phase: NodePhase;
    readonly leader: boolean;
    readonly live: boolean;
    readonly placementEpoch: number;
    readonly placementTarget?: readonly string[];
    readonly shardCount: number;
    readonly version: string;
    readonly startedAt: string;
    readonly uptimeMs: number;
    readonly now: string;
  };
  readonly tiles: {
    readonly nodesAlive: number;
    readonly nodesSuspect: number;
    readonly nodesDead: number;
    readonly nodesDecommissioning: number;
    readonly hintsPending: number;
    readonly hintsDropped: number;
    readonly underReplicatedShards: number;
    readonly applyLagFrames: number;
    /** Requests refused with 429 since start. */
    readonly overloaded: number;
  };
  readonly detector?: ClusterDetail['detector'];
  readonly nodes: readonly StatusNode[];
  readonly placement: {
    readonly replicationFactor: number;
    readonly nodes: readonly string[];
    readonly shards: readonly { readonly shard: number; readonly replicas: readonly string[]; readonly target?: readonly string[]; readonly underReplicated: boolean }[];
  };
  readonly ingest: {
    /** Milliseconds the rates are measured over (absent before a second reading). */
    readonly rateWindowMs?: number;
    readonly tables: readonly TableRate[];
    readonly kafkaLag: readonly { readonly source: string; readonly topic: string; readonly partition: number; readonly lag: number }[];
    readonly sources: readonly { readonly name: string; readonly kind: string; readonly state: string; readonly records: number; readonly rejected: number; readonly error?: string }[];
    readonly paused: readonly string[];
  };
  readonly storage: {
    readonly engine?: string;
    readonly appliedLsn?: string;
    readonly lastAckedLsn?: string;
    readonly applyLagFrames: number;
    readonly fsyncP99Ms?: number;
    readonly fsyncP99Scope?: 'window' | 'since-start';
    readonly diskFreeBytes?: number;
    readonly diskTotalBytes?: number;
  };
}

/** The cluster as the page sees it: /v1/cluster's body and the detail beside it. */
interface ClusterView {
  readonly status: Pick<ClusterStatus, 'nodeId' | 'leader' | 'live' | 'placement' | 'decommissioned' | 'nodes' | 'hintsPending' | 'hintsDropped'>;
  readonly detail: ClusterDetail | undefined;
}

/** Gathers the snapshot (read-only: nothing on the node changes but the page's own counter samples). */
export async function buildStatusSnapshot(ctx: ApiContext, sources: StatusSources, nowMs: number = Date.now()): Promise<StatusSnapshot> {
  const phase = ctx.phase();
  const view = await clusterView(ctx, phase);
  const sample = await readCounters(ctx.metrics, nowMs);
  const reference = sources.samples.observe(sample);
  const storage = sources.storage();
  const nodes = statusNodes(view, ctx.config.shards);
  const shards = shardRows(view, nodes);
  const p99 = fsyncP99Ms(sample, reference);
  const disk = await diskSpace(ctx.config.dataDir);
  const applyLag = storage?.applyLagFrames ?? 0;
  return {
    header: {
      nodeId: ctx.config.nodeId,
      // From the config, not the view: a cluster node still starting has no cluster view yet.
      mode: ctx.config.etcdUrls.length > 0 ? 'cluster' : 'single',
      phase,
      leader: view.status.leader,
      live: view.status.live,
      placementEpoch: view.status.placement.epoch,
      ...(view.status.placement.target === undefined ? {} : { placementTarget: view.status.placement.target }),
      shardCount: ctx.config.shards,
      version: sources.version,
      startedAt: new Date(sources.startedAtMs).toISOString(),
      uptimeMs: Math.max(0, nowMs - sources.startedAtMs),
      now: new Date(nowMs).toISOString(),
    },
    tiles: {
      nodesAlive: nodes.filter((n) => n.state === 'alive').length,
      nodesSuspect: nodes.filter((n) => n.state === 'suspect').length,
      nodesDead: nodes.filter((n) => n.state === 'dead').length,
      nodesDecommissioning: nodes.filter((n) => n.decommissioning).length,
      hintsPending: view.status.hintsPending,
      hintsDropped: view.status.hintsDropped,
      underReplicatedShards: shards.filter((s) => s.underReplicated).length,
      applyLagFrames: applyLag,
      overloaded: await counterTotal(ctx.metrics.overloaded),
    },
    ...(view.detail === undefined ? {} : { detector: view.detail.detector }),
    nodes,
    placement: { replicationFactor: view.detail?.replicationFactor ?? 1, nodes: view.status.placement.nodes, shards },
    ingest: ingestPart(ctx.sources(), sample, reference),
    storage: {
      ...(storage === undefined ? {} : { engine: storage.engine, appliedLsn: storage.appliedLsn, lastAckedLsn: storage.lastAckedLsn }),
      applyLagFrames: applyLag,
      ...(p99 === undefined ? {} : { fsyncP99Ms: p99.ms, fsyncP99Scope: p99.scope }),
      ...disk,
    },
  };
}

/** The cluster status and detail; a single node (or one not ready) is a cluster of itself. */
async function clusterView(ctx: ApiContext, phase: NodePhase): Promise<ClusterView> {
  const cluster = phase === 'ready' ? ctx.services().cluster : undefined;
  if (cluster !== undefined) return { status: await cluster.status(), detail: cluster.statusDetail() };
  const id = ctx.config.nodeId;
  const ready = phase === 'ready';
  return {
    status: {
      nodeId: id,
      leader: true,
      live: ready,
      placement: { epoch: 0, nodes: [id] },
      decommissioned: [],
      nodes: [{ id, state: ready ? 'alive' : 'suspect', registered: false, shards: ctx.config.shards, hintsPending: 0 }],
      hintsPending: 0,
      hintsDropped: 0,
    },
    detail: undefined,
  };
}

function statusNodes(view: ClusterView, shardCount: number): StatusNode[] {
  const { status, detail } = view;
  const ring = new Set(status.placement.nodes);
  const target = new Set(status.placement.target ?? status.placement.nodes);
  const leaving = new Set(status.decommissioned);
  return status.nodes.map((n) => {
    const age = detail?.heartbeatAgeMs[n.id];
    const last = n.registered ? undefined : detail?.lastKnown[n.id];
    const where = last ?? n;
    return {
      id: n.id,
      self: n.id === status.nodeId,
      state: n.state,
      registered: n.registered,
      ...(where.http === undefined ? {} : { http: where.http }),
      ...(where.grpc === undefined ? {} : { grpc: where.grpc }),
      ...(where.peer === undefined ? {} : { peer: where.peer }),
      ...(where.workerId === undefined ? {} : { workerId: where.workerId }),
      ...(last === undefined ? {} : { lastKnown: true }),
      shards: n.shards,
      ownershipPct: shardCount === 0 ? 0 : Math.round((n.shards / shardCount) * 1000) / 10,
      hintsPending: n.hintsPending,
      ...(age === undefined || detail === undefined ? {} : { heartbeatAgeMs: age, heartbeat: judgeHeartbeat(age, detail.detector) }),
      decommissioning: leaving.has(n.id),
      inRing: ring.has(n.id),
      inTarget: target.has(n.id),
    };
  });
}

/** Every shard with its replicas; under-replicated when it has fewer than RF replicas or one of them is not alive. */
function shardRows(view: ClusterView, nodes: readonly StatusNode[]): StatusSnapshot['placement']['shards'] {
  const alive = new Set(nodes.filter((n) => n.state === 'alive').map((n) => n.id));
  const detail = view.detail;
  if (detail === undefined) return [];
  return detail.shards.map((s, shard) => ({
    shard,
    replicas: s.replicas,
    ...(s.target === undefined ? {} : { target: s.target }),
    underReplicated: s.replicas.length < detail.replicationFactor || s.replicas.some((r) => !alive.has(r)),
  }));
}

function ingestPart(sources: readonly IngestorStatus[], sample: CounterSample, reference: CounterSample | undefined): StatusSnapshot['ingest'] {
  const kafkaLag: { source: string; topic: string; partition: number; lag: number }[] = [];
  for (const s of sources) {
    if (s.kind !== 'kafka') continue;
    const lag = s.detail?.['lag'];
    const topic = String(s.detail?.['topic'] ?? '');
    if (typeof lag !== 'object' || lag === null) continue;
    for (const [partition, n] of Object.entries(lag)) if (typeof n === 'number') kafkaLag.push({ source: s.name, topic, partition: Number(partition), lag: n });
  }
  return {
    ...(reference === undefined ? {} : { rateWindowMs: sample.atMs - reference.atMs }),
    tables: tableRates(sample, reference),
    kafkaLag: kafkaLag.sort((a, b) => a.topic.localeCompare(b.topic) || a.partition - b.partition),
    sources: sources.map((s) => ({ name: s.name, kind: s.kind, state: s.state, records: s.progress.records, rejected: s.progress.rejected, ...(s.error === undefined ? {} : { error: s.error }) })),
    paused: sources.filter((s) => s.state === 'paused').map((s) => s.name),
  };
}

/** The counters the rates come from, read from the node's registry. */
async function readCounters(metrics: NodeMetrics, atMs: number): Promise<CounterSample> {
  const byTable = async (counter: NodeMetrics['recordsWritten']): Promise<Map<string, number>> =>
    new Map((await counter.get()).values.map((v) => [String(v.labels.table ?? ''), v.value] as const));
  const fsync = (await metrics.walFsyncSeconds.get()).values
    .filter((v) => v.metricName?.endsWith('_bucket') === true)
    .map((v) => ({ le: v.labels.le === '+Inf' ? Infinity : Number(v.labels.le), count: v.value }))
    .sort((a, b) => a.le - b.le);
  return { atMs, written: await byTable(metrics.recordsWritten), rejected: await byTable(metrics.recordsRejected), fsyncBuckets: fsync };
}

async function counterTotal(counter: NodeMetrics['overloaded']): Promise<number> {
  return (await counter.get()).values.reduce((sum, v) => sum + v.value, 0);
}

/** Free and total bytes of the data dir's file system (absent when it cannot be read). */
async function diskSpace(dir: string): Promise<{ diskFreeBytes?: number; diskTotalBytes?: number }> {
  try {
    const s = await statfs(dir);
    return { diskFreeBytes: s.bavail * s.bsize, diskTotalBytes: s.blocks * s.bsize };
  } catch {
    return {};
  }
}
