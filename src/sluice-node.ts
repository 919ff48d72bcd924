/**
 * The composition root of a single node: builds every layer, wires the
 * observer hooks to metrics, and runs the lifecycle
 * starting (listening, recovering) → ready → stopping.
 */
import { pino, type Logger } from 'pino';
import type { NodeConfig } from './config.ts';
import { SluiceError } from './core/errors.ts';
import { Hlc } from './core/hlc.ts';
import { systemClock } from './core/clock.ts';
import { SnowflakeGenerator, type ClockEvent } from './core/snowflake.ts';
import { EVENTS_TABLE } from './core/schema/parse-table-def.ts';
import type { LocalStore } from './storage/local-store.ts';
import { openDataDir } from './storage/data-dir.ts';
import { LocalCoordinator } from './cluster/coordinator/local-coordinator.ts';
import { ClusterRuntime } from './cluster/cluster-runtime.ts';
import { GrpcServer } from './cluster/transport/grpc-server.ts';
import { ingestGrpcService } from './api/grpc/ingest-service.ts';
import type { Coordinator } from './cluster/coordinator/coordinator.ts';
import type { TableAdmin } from './cluster/metadata/cluster-tables.ts';
import { Admission } from './ingest/admission.ts';
import { DecodePool } from './ingest/decode-pool.ts';
import { IngestPipeline } from './ingest/pipeline.ts';
import { IngestDoor } from './ingest/ingest-door.ts';
import { EndpointIngestor } from './ingest/endpoint-ingestor.ts';
import type { Ingestor } from './ingest/ingestor.ts';
import { KafkaSource } from './sources/kafka/kafka-source.ts';
import { currentDef } from './storage/catalog.ts';
import { NodeMetrics } from './api/metrics.ts';
import { RecordView } from './api/record-view.ts';
import { buildHttpServer } from './api/http/http-server.ts';
import type { ApiContext, NodePhase, NodeServices } from './api/http/api-context.ts';
import type { FastifyInstance } from 'fastify';

/** A running single node. */
export class SluiceNode {
  readonly config: NodeConfig;
  readonly log: Logger;
  readonly metrics = new NodeMetrics();
  private phaseValue: NodePhase = 'starting';
  private servicesValue: NodeServices | undefined;
  private store: LocalStore | undefined;
  private pool: DecodePool | undefined;
  private cluster: ClusterRuntime | undefined;
  private readonly app: FastifyInstance;
  private readonly ctx: ApiContext;
  /** A single node's gRPC server (a cluster node's belongs to its ClusterRuntime). */
  private grpc: GrpcServer | undefined;
  private stopping: Promise<void> | undefined;
  /** Streaming sources (Kafka) started once the node is ready. */
  private readonly streams: Ingestor[] = [];

  private constructor(config: NodeConfig, log: Logger) {
    this.config = config;
    this.log = log;
    const admission = new Admission(config);
    const endpoints = {
      http: new EndpointIngestor('http', 'http', {
        start: async () => {
          await this.app.listen({ host: config.httpHost, port: config.httpPort });
        },
        stop: () => this.app.close(),
      }),
      grpc: new EndpointIngestor('grpc', 'grpc'),
    };
    const ctx: ApiContext = {
      config,
      log,
      metrics: this.metrics,
      admission,
      door: new IngestDoor(admission, () => this.services().pipeline),
      endpoints,
      view: new RecordView(),
      phase: () => this.phaseValue,
      services: () => this.services(),
      sources: () => [
        endpoints.http.status(),
        ...(this.cluster !== undefined || this.grpc !== undefined ? [endpoints.grpc.status()] : []),
        ...this.streams.map((s) => s.status()),
      ],
    };
    this.ctx = ctx;
    this.app = buildHttpServer(ctx);
  }

  /** Starts listening, recovers storage, and becomes ready. */
  static async start(config: NodeConfig, log: Logger = pino({ level: config.logLevel })): Promise<SluiceNode> {
    const node = new SluiceNode(config, log);
    await node.ctx.endpoints.http.start();
    log.info({ event: 'listening', url: node.url }, 'HTTP listening');
    try {
      await node.open();
    } catch (err) {
      node.phaseValue = 'failed';
      log.fatal({ err }, 'start-up failed');
      await Promise.all(node.streams.map((s) => s.stop()));
      await node.app.close();
      await node.grpc?.stop(0);
      await node.cluster?.stop().catch(() => undefined);
      await node.pool?.close();
      await node.store?.close().catch(() => undefined);
      throw err;
    }
    node.phaseValue = 'ready';
    // In the background: joining a consumer group can wait out a dead member's session, and the node serves meanwhile.
    node.startStreams();
    log.info({ event: 'ready', dataDir: config.dataDir, engine: node.store?.engineKind, shards: config.shards }, 'node ready');
    return node;
  }

  /** The base URL the node listens on. */
  get url(): string {
    const address = this.app.server.address();
    if (address === null || typeof address === 'string') return `http://${this.config.httpHost}:${this.config.httpPort}`;
    const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;
    return `http://${host}:${address.port}`;
  }

  /** Current lifecycle phase. */
  get phase(): NodePhase {
    return this.phaseValue;
  }

  /** What recovery replayed at start (for benchmarks and tests). */
  get replay(): LocalStore['replay'] | undefined {
    return this.store?.replay;
  }

  /**
   * Graceful stop: refuse new work, let requests in flight finish (up to
   * shutdownGraceMs), flush the WAL, drain the index, close. Idempotent.
   */
  stop(): Promise<void> {
    this.stopping ??= this.doStop();
    return this.stopping;
  }

  private async doStop(): Promise<void> {
    this.phaseValue = 'stopping';
    this.log.info({ event: 'stopping' }, 'stopping');
    const grace = setTimeout(() => {
      this.log.warn({ event: 'shutdown_grace_expired' }, 'closing remaining connections');
      this.app.server.closeAllConnections();
    }, this.config.shutdownGraceMs);
    this.grpc?.setNotServing();
    // Streaming sources first: their writes in flight finish and are committed upstream while the store is open.
    await Promise.all(this.streams.map((s) => s.stop()));
    try {
      await Promise.all([this.ctx.endpoints.http.stop(), this.ctx.endpoints.grpc.stop(), this.grpc?.stop(this.config.shutdownGraceMs)]);
    } finally {
      clearTimeout(grace);
    }
    await this.cluster?.stop();
    await this.pool?.close();
    await this.store?.close();
    this.log.info({ event: 'stopped' }, 'stopped');
  }

  private services(): NodeServices {
    if (this.phaseValue === 'stopping') throw new SluiceError('SHUTTING_DOWN', 'the node is shutting down');
    if (this.servicesValue === undefined || this.phaseValue !== 'ready') throw new SluiceError('NOT_READY', `the node is ${this.phaseValue}`);
    return this.servicesValue;
  }

  private async open(): Promise<void> {
    const { config, metrics, log } = this;
    // In a cluster the built-in table is replicated like any table created without a factor; the
    // first node to publish it decides it for every node (cluster-tables.ts).
    const events = config.etcdUrls.length > 0 ? { ...EVENTS_TABLE, replicationFactor: config.replicationFactorDefault } : EVENTS_TABLE;
    const { store, catalog } = await openDataDir(
      config,
      [events],
      {
        onWalFlush: (info) => {
          metrics.walFsyncSeconds.observe(info.fsyncMs / 1000);
          metrics.walFlushBytes.observe(info.bytes);
          metrics.walFlushFrames.observe(info.frames);
        },
        onApplied: (info) => {
          metrics.applySeconds.observe(info.ms / 1000);
          metrics.appliedLsn.set(Number(info.lsn));
          metrics.applyLagFrames.set(this.store?.applyLagFrames ?? 0);
        },
        onFatal: () => {
          this.phaseValue = 'failed';
        },
      },
      log,
    );
    this.store = store;
    metrics.replayRecords.set(store.replay.records);
    metrics.replaySeconds.set(store.replay.ms / 1000);
    const onClockEvent = (e: ClockEvent): void => {
      metrics.clockEvents.inc({ kind: e.kind });
      log.warn({ event: 'clock_step', ...e }, 'clock moved backwards');
    };
    const hlc = new Hlc(systemClock);
    let coordinator: Coordinator;
    let tables: TableAdmin = catalog;
    if (config.etcdUrls.length > 0) {
      this.cluster = await ClusterRuntime.start(
        config,
        { store, catalog },
        hlc,
        this.url,
        {
          onClockEvent,
          onPeerState: (peer, state) => {
            for (const s of ['alive', 'suspect', 'dead'] as const) metrics.peerState.set({ peer, state: s }, s === state ? 1 : 0);
          },
          onHinted: (peer, n) => metrics.hintsWritten.inc({ peer }, n),
          onHintsReplayed: (n) => metrics.hintsReplayed.inc(n),
          onReadRepair: (peer, n) => metrics.readRepairRecords.inc({ peer }, n),
          onRepaired: (r) => {
            metrics.antiEntropyRecords.inc({ direction: 'pulled' }, r.pulled);
            metrics.antiEntropyRecords.inc({ direction: 'pushed' }, r.pushed);
          },
          onReplicaWrite: (n) => metrics.replicaWriteRecords.inc(n),
          onTx: (outcome, phases) => {
            metrics.txTotal.inc({ outcome });
            for (const [phase, ms] of Object.entries(phases)) if (ms !== undefined) metrics.txPhaseSeconds.observe({ phase }, ms / 1000);
          },
          onTxResolved: (result) => metrics.txResolutions.inc({ result }),
          onTxSwept: (report) => metrics.txSwept.inc(report.concluded),
          onSnapshotWait: (ms) => metrics.asOfWaitSeconds.observe(ms / 1000),
        },
        log,
        [ingestGrpcService(this.ctx)],
      );
      coordinator = this.cluster.coordinator;
      tables = this.cluster.tables;
    } else {
      const ids = new SnowflakeGenerator({ datacenterId: config.datacenterId, machineId: config.machineId, clock: systemClock, onClockEvent });
      // A clock that went back while the node was down must not re-issue ids.
      ids.observe(store.maxIdAtOpen);
      coordinator = new LocalCoordinator(store, ids, hlc, config);
    }
    this.pool = new DecodePool({
      threads: config.decodeThreads,
      workerBodyBytesMin: config.workerBodyBytesMin,
      // Parsed JSON takes several times its text: room for one largest body, plus the compiled schemas.
      workerHeapMbMax: Math.ceil((config.bodyBytesMax * 12) / 2 ** 20) + 64,
    });
    const pipeline = new IngestPipeline({
      catalog,
      coordinator,
      pool: this.pool,
      options: config,
      observer: {
        onWritten: (table, n) => metrics.recordsWritten.inc({ table }, n),
        onRejected: (table, n) => metrics.recordsRejected.inc({ table }, n),
        onDeduped: (table, fresh, n) => metrics.dedupedRecords.inc({ table, mode: fresh ? 'fresh' : 'lookup' }, n),
      },
    });
    this.servicesValue = { catalog, tables, coordinator, pipeline, cluster: this.cluster };
    if (this.cluster === undefined && config.grpcEnabled) {
      this.grpc = await GrpcServer.start(config.grpcHost, config.grpcPort, [ingestGrpcService(this.ctx)]);
      log.info({ event: 'grpc_listening', port: this.grpc.port }, 'gRPC listening');
    }
    if (this.cluster !== undefined || this.grpc !== undefined) await this.ctx.endpoints.grpc.start();
  }

  /** Starts the Kafka sources of the config; they write through the same door as HTTP. */
  private startStreams(): void {
    const { config, metrics, log } = this;
    for (const source of config.kafkaSources) {
      const kafka = new KafkaSource(
        { ...source, batchBytesMax: Math.min(source.batchBytesMax, config.bodyBytesMax) },
        {
          door: this.ctx.door,
          // A missing table is not an error here: the writes retry (and say why) until it is created.
          hasPrimaryKey: (table) => {
            const entry = this.services().catalog.get(table);
            return entry !== undefined && currentDef(entry).primaryKey !== undefined;
          },
          log,
          observer: {
            onLag: (topic, partition, lag) => {
              if (lag === undefined) metrics.kafkaLag.remove({ topic, partition: String(partition) });
              else metrics.kafkaLag.set({ topic, partition: String(partition) }, lag);
            },
            onDeadLettered: (n) => metrics.kafkaDeadLettered.inc({ topic: source.topic }, n),
          },
        },
      );
      this.streams.push(kafka);
      // An unreachable broker fails the source, not the node: its status and log say why.
      kafka.start().catch((err: unknown) => log.error({ event: 'kafka_source_start_failed', source: kafka.name, err }, 'Kafka source did not start'));
    }
  }
}
