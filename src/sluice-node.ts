/**
 * The composition root of a single node: builds every layer, wires the
 * observer hooks to metrics, and runs the lifecycle
 * starting (listening, recovering) → ready → stopping.
 */
import { pino, type Logger } from 'pino';
import { CLOCK_SKEW_LOG_INTERVAL_MS, HTTP_REFUSED_LINGER_MS, clientGrpcMessageBytesMax, hlcRemoteAheadMsMax, OTLP_DECODE_HEAP_BYTES_PER_BODY_BYTE, STATUS_RATE_SAMPLE_MS_MIN, STATUS_RATE_WINDOW_MS, type NodeConfig } from './config.ts';
import { SluiceError } from './core/errors.ts';
import { Hlc, hlcFromParts } from './core/hlc.ts';
import { systemClock } from './core/clock.ts';
import { SnowflakeGenerator, snowflakeParts, type ClockEvent } from './core/snowflake.ts';
import { EVENTS_TABLE } from './core/schema/parse-table-def.ts';
import type { LocalStore } from './storage/local-store.ts';
import { openDataDir } from './storage/data-dir.ts';
import { LocalCoordinator } from './cluster/coordinator/local-coordinator.ts';
import type { ClusterRuntime } from './cluster/cluster-runtime.ts';
import { GrpcServer } from './cluster/transport/grpc-server.ts';
import { ingestGrpcService } from './api/grpc/ingest-service.ts';
import type { Coordinator } from './cluster/coordinator/coordinator.ts';
import type { TableAdmin } from './cluster/metadata/cluster-tables.ts';
import { Admission } from './ingest/admission.ts';
import { DecodePool } from './ingest/decode-pool.ts';
import { IngestPipeline } from './ingest/pipeline.ts';
import { TableRateLimiter } from './ingest/table-rate-limiter.ts';
import { IngestDoor } from './ingest/ingest-door.ts';
import { EndpointIngestor } from './ingest/endpoint-ingestor.ts';
import type { Ingestor } from './ingest/ingestor.ts';
import { KafkaSource } from './sources/kafka/kafka-source.ts';
import { kafkaClient } from './sources/kafka/kafka-client.ts';
import { currentDef } from './storage/catalog.ts';
import { NodeMetrics } from './api/metrics.ts';
import { RecordView } from './api/record-view.ts';
import { buildHttpServer, buildMetricsServer, setHttpsPair } from './api/http/http-server.ts';
import { tlsObserver } from './api/tls-observer.ts';
import { gateConnections } from './api/http/connection-gate.ts';
import { ensureFdLimit, type FdLimitOutcome } from './api/http/fd-limit.ts';
import { listenBacklogWarning } from './api/http/listen-backlog.ts';
import { declaredRoutes, type DeclaredRoute } from './api/http/auth-hook.ts';
import { AuditLog, type AuditTarget } from './security/audit-log.ts';
import { Authenticator } from './security/authenticator.ts';
import { bootstrapAdmin } from './security/bootstrap.ts';
import { FailureLimiter } from './security/failure-limiter.ts';
import { FileTokenStore } from './security/file-token-store.ts';
import { TokenRegistry } from './security/token-registry.ts';
import type { TokenStore } from './security/token-store.ts';
import { CertReloader, type InitialPair } from './security/tls/cert-reloader.ts';
import { PairCertificateProvider, grpcServerCredentials } from './security/tls/grpc-credentials.ts';
import { openTls } from './security/tls/open-tls.ts';
import { requireTlsChoice } from './security/tls/tls-choice.ts';
import path from 'node:path';
import { isIP } from 'node:net';
import { registerDiskMetrics } from './api/disk-metrics.ts';
import { readFileSync } from 'node:fs';
import { SessionStore } from './security/session-store.ts';
import { SampleWindow } from './api/http/status/sample-window.ts';
import type { ApiContext, NodePhase, NodeServices } from './api/http/api-context.ts';
import type { FastifyInstance } from 'fastify';

/**
 * While stopping, how often connections that went idle are closed. Node's
 * `server.close()` closes those idle at that moment; one busy then becomes
 * idle after its answer, and a client's pool may leave it so until the
 * keep-alive timeout, holding the stop for the whole grace.
 */
const STOP_IDLE_REAP_MS = 100;

/** The version in package.json (the status page shows it). */
const SLUICE_VERSION = String((JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version?: unknown }).version ?? 'unknown');

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
  /** The tokens this node accepts (loaded once the data dir or etcd is open). */
  private readonly tokens = new TokenRegistry();
  private readonly audit: AuditLog;
  private readonly auth: Authenticator;
  /** The tokenless /metrics listener of --metrics-listen. */
  private metricsApp: FastifyInstance | undefined;
  /** The certificate of the HTTP and public gRPC listeners, reloaded when its files change; none in plain text. */
  private readonly tls: CertReloader | undefined;

  private constructor(config: NodeConfig, log: Logger, tls: InitialPair | undefined, connectionsMax: number) {
    this.config = config;
    this.log = log;
    const admission = new Admission(config);
    const endpoints = {
      http: new EndpointIngestor('http', 'http', {
        start: async () => {
          const warning = await listenBacklogWarning(config.httpBacklog);
          if (warning !== undefined) log.warn({ event: 'listen_backlog_capped', backlog: config.httpBacklog }, warning);
          await this.app.listen({ host: config.httpHost, port: config.httpPort, backlog: config.httpBacklog });
        },
        stop: () => this.app.close(),
      }),
      grpc: new EndpointIngestor('grpc', 'grpc'),
    };
    this.audit = new AuditLog(auditTarget(config), config.nodeId);
    this.tls = tls === undefined ? undefined : new CertReloader(tls, tlsObserver(this.metrics, this.audit, log));
    this.auth = new Authenticator(config.authMode, this.tokens, new FailureLimiter(config.authFailuresPerMinuteMax), this.audit, (reason) => this.metrics.authFailures.inc({ reason }));
    const ctx: ApiContext = {
      config,
      log,
      metrics: this.metrics,
      auth: { auth: this.auth, allowedHosts: allowedHosts(config), auditDataAccess: config.auditDataAccess, sessions: this.statusSessions(config) },
      admission,
      door: new IngestDoor(admission, () => this.services().pipeline),
      endpoints,
      view: new RecordView(),
      phase: () => this.phaseValue,
      services: () => this.services(),
      status: {
        startedAtMs: Date.now(),
        version: SLUICE_VERSION,
        storage: () => {
          const store = this.store;
          return store === undefined ? undefined : { engine: store.engineKind, appliedLsn: String(store.appliedLsn), lastAckedLsn: String(store.lastAckedLsn), applyLagFrames: store.applyLagFrames };
        },
        samples: new SampleWindow(STATUS_RATE_WINDOW_MS, STATUS_RATE_SAMPLE_MS_MIN),
      },
      sources: () => [
        endpoints.http.status(),
        ...(this.cluster !== undefined || this.grpc !== undefined ? [endpoints.grpc.status()] : []),
        ...this.streams.map((s) => s.status()),
      ],
    };
    this.ctx = ctx;
    this.app = buildHttpServer(ctx, tls?.pair);
    const gate = gateConnections(this.app.server, {
      connectionsMax,
      tls: tls !== undefined,
      retryAfterSeconds: config.retryAfterSeconds,
      lingerMs: HTTP_REFUSED_LINGER_MS,
      onEvent: (event) => this.metrics.httpConnections.inc({ event }),
    });
    this.metrics.httpConnectionsHeld = () => gate.open;
    registerDiskMetrics(this.metrics.registry, config.dataDir, config.diskFreeBytesMin);
    this.tls?.serve({ name: 'http', apply: (pair) => setHttpsPair(this.app, pair) });
  }

  /** Status-page sessions; a session ends with its token (revoked or expired). */
  private statusSessions(config: NodeConfig): SessionStore {
    const tokens = this.tokens;
    return new SessionStore({
      sessionsMax: config.statusSessionsMax,
      ttlMs: config.statusSessionTtlMs,
      tokenLive: (id, nowMs) => {
        const record = tokens.get(id);
        return record !== undefined && record.revokedAtMs === undefined && (record.expiresAtMs ?? Number.POSITIVE_INFINITY) > nowMs;
      },
    });
  }

  /** Starts listening, recovers storage, and becomes ready. */
  static async start(config: NodeConfig, log: Logger = pino({ level: config.logLevel })): Promise<SluiceNode> {
    requireTlsChoice(config);
    // A node with Kafka sources loads their client while it opens its store, so the sources start at ready as before
    // (kafka-client.ts: a node without one never loads it).
    const kafkaLoading = config.kafkaSources.length > 0 ? kafkaClient() : undefined;
    // LMDB keeps one mapped file, not LevelDB's table files (an existing data dir without --engine is counted as LevelDB: the safe side).
    const fds = await ensureFdLimit(config.httpConnectionsMax, config.engine !== 'lmdb');
    logConnectionsMax(log, fds);
    const node = new SluiceNode(config, log, await openTls(config, log, (text) => process.stderr.write(`${text}\n`)), fds.connectionsMax);
    if (config.authMode === 'none') process.stderr.write('\n  sluice: INSECURE MODE (--auth none): no credentials are checked; loopback clients only. Never run this with data you care about.\n\n');
    if (config.etcdUrls.length > 0 && config.insecureCluster) {
      process.stderr.write('\n  sluice: INSECURE CLUSTER (--insecure-cluster): the peer port is plaintext and checks no certificate; anyone who reaches it can read and overwrite every replica. Development only.\n\n');
    }
    await node.ctx.endpoints.http.start();
    log.info({ event: 'listening', url: node.url }, 'HTTP listening');
    // From the first request on: a start-up stall (WAL replay on the main thread) shows in the histogram too.
    node.metrics.eventLoopDelay.start();
    try {
      await node.startMetricsListener();
      await node.open();
      await kafkaLoading;
    } catch (err) {
      node.phaseValue = 'failed';
      log.fatal({ err }, 'start-up failed');
      node.tls?.stop();
      node.metrics.eventLoopDelay.stop();
      await Promise.all(node.streams.map((s) => s.stop()));
      await node.app.close();
      await node.metricsApp?.close();
      await node.grpc?.stop(0);
      await node.cluster?.stop().catch(() => undefined);
      await node.pool?.close();
      await node.store?.close().catch(() => undefined);
      throw err;
    }
    node.tls?.start(config.tlsReloadIntervalMs);
    node.phaseValue = 'ready';
    // In the background: joining a consumer group can wait out a dead member's session, and the node serves meanwhile.
    node.startStreams();
    log.info({ event: 'ready', dataDir: config.dataDir, engine: node.store?.engineKind, shards: config.shards }, 'node ready');
    return node;
  }

  /** The base URL the node listens on. */
  get url(): string {
    const scheme = this.tls === undefined ? 'http' : 'https';
    const address = this.app.server.address();
    if (address === null || typeof address === 'string') return `${scheme}://${this.config.httpHost}:${this.config.httpPort}`;
    const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;
    return `${scheme}://${host}:${address.port}`;
  }

  /** Reloads the public listeners' certificate and the peer certificates from their files now (SIGHUP); false when the node has neither. */
  async reloadTls(): Promise<boolean> {
    const [publicTls, peer] = await Promise.all([this.tls?.reload('signal').then(() => true) ?? false, this.cluster?.reloadPeerCerts() ?? false]);
    return publicTls || peer;
  }

  /** Every HTTP route with what it needs (route-auth.ts). */
  routes(): readonly DeclaredRoute[] {
    return declaredRoutes(this.app);
  }

  /** The port of a single node's gRPC server, when it serves one. */
  get grpcPort(): number | undefined {
    return this.grpc?.port;
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
    // Both listeners: a request stalled on the ops listener (headers never ended; it has no request timeout) held the stop without end.
    const grace = setTimeout(() => {
      this.log.warn({ event: 'shutdown_grace_expired' }, 'closing remaining connections');
      this.app.server.closeAllConnections();
      this.metricsApp?.server.closeAllConnections();
    }, this.config.shutdownGraceMs);
    this.grpc?.setNotServing();
    // Batches waiting for room or a table's rate are answered SHUTTING_DOWN now: those waits have no bound of their own.
    this.ctx.door.shutdown();
    this.tls?.stop();
    // Streaming sources first: their writes in flight finish and are committed upstream while the store is open.
    await Promise.all(this.streams.map((s) => s.stop()));
    // From here the listeners close: no new connection, and each one idle is closed as it becomes so.
    const reaper = setInterval(() => {
      this.app.server.closeIdleConnections();
      this.metricsApp?.server.closeIdleConnections();
    }, STOP_IDLE_REAP_MS);
    try {
      await Promise.all([this.ctx.endpoints.http.stop(), this.ctx.endpoints.grpc.stop(), this.grpc?.stop(this.config.shutdownGraceMs)]);
      // The ops listener (metrics, status page) too: a scrape answered as the stop began leaves its connection idle.
      await this.metricsApp?.close();
    } finally {
      clearTimeout(grace);
      clearInterval(reaper);
    }
    await this.cluster?.stop();
    await this.tokens.close();
    await this.pool?.close();
    await this.store?.close();
    await this.audit.close();
    this.metrics.eventLoopDelay.stop();
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
    metrics.walPreallocation = () => store.walPreallocation;
    metrics.replayRecords.set(store.replay.records);
    metrics.replaySeconds.set(store.replay.ms / 1000);
    const onClockEvent = (e: ClockEvent): void => {
      metrics.clockEvents.inc({ kind: e.kind });
      log.warn({ event: 'clock_step', ...e }, 'clock moved backwards');
    };
    const hlc = nodeHlc(config, metrics, log);
    // A clock that went back while the node was down must not stamp versions below the ones it acknowledged.
    hlc.observe(versionFloorOf(store.idFloor));
    let coordinator: Coordinator;
    let tables: TableAdmin = catalog;
    if (config.etcdUrls.length > 0) {
      // The client gRPC port shares the HTTP listener's certificate (peers use their own mutual-TLS port).
      const clusterGrpcProvider = this.tls === undefined ? undefined : new PairCertificateProvider(this.tls.pair);
      const { ClusterRuntime } = await import('./cluster/cluster-runtime.ts');
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
          peerTls: tlsObserver(metrics, this.audit, log),
          onPeerRefused: (r) =>
            this.audit.write(r.error.code === 'UNAUTHENTICATED' ? 'authentication_failed' : 'access_denied', {
              address: r.peer.replace(/^ipv[46]:/, '').replace(/:[0-9]+$/, ''),
              route: r.method,
              ...(r.nodeId === undefined ? {} : { principal: `node ${r.nodeId}` }),
              reason: r.error.message,
              listener: 'peer',
            }),
          onReplicaWrite: (n, table, requestId) => {
            metrics.replicaWriteRecords.inc(n);
            // With --audit-data-access every replica says which client request a write came from.
            if (config.auditDataAccess) this.audit.write('replica_write', { table, records: n, ...(requestId === undefined ? {} : { requestId }) });
          },
          // An atomic batch's part reaches a replica as a PREPARE, not a Write: audited when staged, with its txid.
          onReplicaPrepare: (n, table, txId, requestId) => {
            if (config.auditDataAccess) this.audit.write('replica_prepare', { table, records: n, txId, ...(requestId === undefined ? {} : { requestId }) });
          },
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
        clusterGrpcProvider === undefined ? undefined : grpcServerCredentials(clusterGrpcProvider),
      );
      if (clusterGrpcProvider !== undefined) this.tls?.serve({ name: 'grpc', apply: (pair) => clusterGrpcProvider.update(pair) });
      coordinator = this.cluster.coordinator;
      tables = this.cluster.tables;
      const tokenStore = this.cluster.tokens;
      await this.loadTokens(tokenStore, () => tokenStore.claimFirstAdmin(config.nodeId));
    } else {
      await this.loadTokens(new FileTokenStore(config.dataDir), async () => true);
      const ids = new SnowflakeGenerator({ datacenterId: config.datacenterId, machineId: config.machineId, clock: systemClock, onClockEvent, ceiling: store.timeCeiling });
      // A clock that went back while the node was down must not re-issue ids.
      ids.observe(store.idFloor);
      coordinator = new LocalCoordinator(store, ids, hlc, config);
    }
    this.pool = new DecodePool({
      threads: config.decodeThreads,
      workerBodyBytesMin: config.workerBodyBytesMin,
      // Parsed JSON takes several times its text (an OTLP body, decoded here too, less): room for one largest body, plus the compiled schemas.
      workerHeapMbMax: Math.ceil((config.bodyBytesMax * Math.max(12, OTLP_DECODE_HEAP_BYTES_PER_BODY_BYTE.protobuf)) / 2 ** 20) + 64,
    });
    const cluster = this.cluster;
    const limiter = new TableRateLimiter({
      // Loki's global strategy: each registered node takes its share of a table's rate (decision 24).
      share: () => cluster?.registeredNodes ?? 1,
      eventTimeAheadMsMax: config.eventTimeAheadMsMax,
      onRefused: (table, reason) => metrics.rateLimited.inc({ table, reason }),
    });
    const pipeline = new IngestPipeline({
      catalog,
      coordinator,
      tables,
      pool: this.pool,
      options: config,
      limiter,
      observer: {
        onWritten: (table, n) => metrics.recordsWritten.inc({ table }, n),
        onRejected: (table, n) => metrics.recordsRejected.inc({ table }, n),
        onDeadLettered: (table, n) => metrics.recordsDeadLettered.inc({ table }, n),
        onDeduped: (table, fresh, n) => metrics.dedupedRecords.inc({ table, mode: fresh ? 'fresh' : 'lookup' }, n),
        onFutureTime: (table, n) => metrics.futureTimeRecords.inc({ table }, n),
        onRateWait: (table, ms) => metrics.rateWaitSeconds.inc({ table }, ms / 1000),
      },
    });
    this.servicesValue = { catalog, tables, coordinator, pipeline, cluster: this.cluster };
    if (this.cluster === undefined && config.grpcEnabled) await this.startGrpc();
    if (this.cluster !== undefined || this.grpc !== undefined) await this.ctx.endpoints.grpc.start();
  }

  /** A single node's gRPC server (Ingest, Health), with the HTTP listener's certificate when it has one. */
  private async startGrpc(): Promise<void> {
    const { config, log, tls } = this;
    const provider = tls === undefined ? undefined : new PairCertificateProvider(tls.pair);
    this.grpc = await GrpcServer.start(
      config.grpcHost,
      config.grpcPort,
      [ingestGrpcService(this.ctx)],
      provider === undefined ? undefined : grpcServerCredentials(provider),
      [],
      undefined,
      clientGrpcMessageBytesMax(config),
    );
    if (provider !== undefined) tls?.serve({ name: 'grpc', apply: (pair) => provider.update(pair) });
    log.info({ event: 'grpc_listening', port: this.grpc.port, tls: tls !== undefined }, 'gRPC listening');
  }

  /** Loads the tokens and makes sure an admin token exists (bootstrap.ts). */
  private async loadTokens(store: TokenStore, claimFirstStart: () => Promise<boolean>): Promise<void> {
    const { config } = this;
    await this.tokens.load(store);
    const outcome = await bootstrapAdmin(this.tokens, {
      dataDir: config.dataDir,
      ...(config.bootstrapToken === undefined ? {} : { bootstrapToken: config.bootstrapToken }),
      claimFirstStart,
      print: (text) => process.stderr.write(`${text}\n`),
    });
    if (config.authMode === 'token' && this.tokens.liveAdmins() === 0) {
      this.log.warn({ event: 'no_admin_token' }, 'no live admin token: set SLUICE_BOOTSTRAP_TOKEN, or run `sluice token reset-admin` on the stopped node');
    }
    this.audit.write('auth_config', { mode: config.authMode, bootstrap: outcome, tokens: this.tokens.size, debugEndpoints: config.debugEndpoints, metricsListen: config.metricsListen });
  }

  /** Serves GET /metrics without a token on --metrics-listen (a scraper's network), when given. */
  private async startMetricsListener(): Promise<void> {
    if (this.config.metricsListen === '') return;
    const [host, port] = splitHostPort(this.config.metricsListen);
    this.metricsApp = buildMetricsServer(this.ctx);
    await this.metricsApp.listen({ host, port });
    this.log.info({ event: 'metrics_listening', address: this.metricsApp.server.address() }, 'metrics listening');
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

/** Logs the HTTP connection cap and the open-file limit it was checked against (and raised, when it was). */
function logConnectionsMax(log: Logger, fds: FdLimitOutcome): void {
  const fields = { event: 'connections_max', connectionsMax: fds.connectionsMax, auto: fds.auto, fdLimit: fds.limits?.soft, fdLimitHard: fds.limits?.hard };
  if (fds.raisedFrom === undefined) {
    log.info(fields, fds.limits === undefined ? 'HTTP connection cap (open-file limit unknown)' : 'HTTP connection cap');
    return;
  }
  log.info({ ...fields, raisedFrom: fds.raisedFrom.soft, raisedFromHard: fds.raisedFrom.hard }, `raised the open-file limit from ${fds.raisedFrom.soft} to ${fds.limits?.soft ?? 'unknown'} for the HTTP connection cap`);
}

/** Where the audit log goes (`--audit-log`). */
function auditTarget(config: NodeConfig): AuditTarget {
  if (config.auditLog === 'off') return { kind: 'off' };
  if (config.auditLog === 'stderr') return { kind: 'stderr' };
  return { kind: 'file', file: config.auditLog === '' ? path.join(config.dataDir, 'audit.log') : config.auditLog };
}

/**
 * Host names the HTTP listener answers. A loopback listener is what a web
 * page reaches through DNS rebinding, with its own name in Host: it
 * answers only localhost, IP literals (no attacker controls those) and
 * --allowed-hosts. Other listeners answer any Host unless told otherwise.
 */
function allowedHosts(config: NodeConfig): { has(host: string): boolean } | undefined {
  const extra = new Set(config.allowedHosts.map((h) => h.toLowerCase()));
  const loopback = config.httpHost === 'localhost' || config.httpHost === '::1' || config.httpHost.startsWith('127.');
  if (!loopback && extra.size === 0) return undefined;
  const allowed = (host: string): boolean => extra.has(host) || (loopback && (host === 'localhost' || isIP(host.replace(/^\[(.*)\]$/, '$1')) !== 0));
  // Asked once per request with one of a few names; remembered up to a bound, as the Host header is the caller's to choose.
  const known = new Map<string, boolean>();
  return {
    has: (host) => {
      let verdict = known.get(host);
      if (verdict === undefined) {
        verdict = allowed(host);
        if (known.size < ALLOWED_HOST_VERDICTS_MAX) known.set(host, verdict);
      }
      return verdict;
    },
  };
}

/** Host names whose verdict a listener remembers. */
const ALLOWED_HOST_VERDICTS_MAX = 256;

function splitHostPort(value: string): [string, number] {
  const m = /^(.*):([0-9]{1,5})$/.exec(value);
  if (m === null) throw new SluiceError('INVALID_ARGUMENT', `--metrics-listen must be HOST:PORT, got ${value}`);
  return [(m[1] as string).replace(/^\[(.*)\]$/, '$1') || '0.0.0.0', Number(m[2])];
}

/**
 * The node's HLC: versions from peers further ahead than the configured
 * clock offset allows are refused, counted and logged (decision 0052).
 */
function nodeHlc(config: NodeConfig, metrics: NodeMetrics, log: Logger): Hlc {
  let loggedAtMs = Number.NEGATIVE_INFINITY;
  let refused = 0;
  return new Hlc(systemClock, {
    maxOffsetMs: hlcRemoteAheadMsMax(config.maxClockOffsetMs),
    onRefused: (aheadMs, maxOffsetMs) => {
      metrics.clockEvents.inc({ kind: 'remote_ahead' });
      refused++;
      // A fast peer's every write and hint replay is refused: one line per interval, not one per refusal.
      if (Date.now() - loggedAtMs < CLOCK_SKEW_LOG_INTERVAL_MS) return;
      log.warn({ event: 'clock_skew', aheadMs, maxOffsetMs, refused }, 'refused versions from another node: too far ahead of this clock');
      loggedAtMs = Date.now();
      refused = 0;
    },
  });
}

/**
 * The highest version a store whose highest id is `maxId` can hold from
 * fresh records: a batch's versions are taken before its ids, from the same
 * clock, and the id generator borrows ms ahead of the wall sooner than the
 * HLC carries into them, so no version stamped with an id is above that id's
 * ms. Versions stamped without a new id (an upsert, a resent dedupe key)
 * are not bounded by it.
 */
export function versionFloorOf(maxId: bigint): bigint {
  return maxId === 0n ? 0n : hlcFromParts(snowflakeParts(maxId).timestampMs, (1 << 16) - 1);
}
