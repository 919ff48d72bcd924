/**
 * `sluice serve`: runs a single node until SIGTERM/SIGINT, then stops
 * gracefully (stop accepting, finish requests in flight, flush, exit 0).
 * SIGHUP reloads the TLS certificate and key, and the peer certificates of --certs-dir.
 */
import { KAFKA_SOURCE_DEFAULTS, kafkaSourceConfig, type KafkaSourceConfig } from '../sources/kafka/kafka-source-config.ts';
import { readFileSync } from 'node:fs';
import { Command, Option } from 'commander';
import { DEFAULT_CONFIG, resolveConfig, type NodeConfig } from '../config.ts';
import type { SluiceNode } from '../sluice-node.ts';
import { isSluiceError } from '../core/errors.ts';
import { CertError } from '../security/certs/cert-error.ts';
import { CliError } from './cli-error.ts';
import { intOption } from './int-option.ts';
import { kafkaTopicNames } from './kafka-topic-option.ts';
import { checkKafkaSecurityFiles, hasKafkaSecurityFlags, kafkaSecurityOf, kafkaSecurityOptions, type KafkaSecurityFlags } from './kafka-security-flags.ts';
import { tuneHeapGrowing } from './v8-heap.ts';

/** `sluice serve`'s options as commander parses them (strings, before the bounds of config.ts). */
export interface ServeOptions extends KafkaSecurityFlags {
  dataDir: string;
  http: string;
  httpKeepaliveTimeout: string;
  httpBacklog: string;
  connectionsMax?: string;
  engine?: string;
  shards: string;
  datacenterId: string;
  machineId: string;
  bodyBytesMax: string;
  inFlightBytesMax: string;
  decodeThreads: string;
  walFlushMode: string;
  walFlushDelayMsMax: string;
  walFlushBytesMax: string;
  walSegmentBytesMax: string;
  walPreallocSegmentsAhead: string;
  walRecovery: string;
  diskFreeBytesMin: string;
  indexSyncIntervalMs: string;
  exportRowGroupRowsMax: string;
  exportRowGroupBytesMax: string;
  exportsInFlightMax: string;
  grpcStreamsMax: string;
  grpcUnaryReadsMax: string;
  grpcUnaryReadTimeoutMs: string;
  grpcStreamIdleTimeoutMs: string;
  exportStallMs: string;
  replicationFactorDefault: string;
  importBodyBytesMax: string;
  otlpLogsTable: string;
  eventTimeAheadMaxMs: string;
  logLevel: string;
  etcd?: string;
  nodeId: string;
  grpc?: string;
  grpcPeer?: string;
  certsDir?: string;
  insecureCluster?: boolean;
  advertiseHost?: string;
  etcdPrefix: string;
  etcdCa?: string;
  etcdCert?: string;
  etcdKey?: string;
  etcdUser?: string;
  etcdPasswordFile?: string;
  onPartition: string;
  leaseTtlMs: string;
  schemaAgreementWaitMsMax: string;
  aliasTtlMs: string;
  keepAliveMs: string;
  healthIntervalMs: string;
  suspectAfterMisses: string;
  deadAfterMs: string;
  replicaTimeoutMs: string;
  antiEntropyIntervalMs: string;
  hintReplayIntervalMs: string;
  hintBytesMaxPerPeer: string;
  hintWindowMs: string;
  hintReplayBytesPerSecMax: string;
  txBytesMax: string;
  txRecordsMax: string;
  txInFlightMax: string;
  txPendingBytesMax: string;
  txCommitDeadlineMs: string;
  txResolveAfterMs: string;
  txReadWaitMs: string;
  txDecisionTimeoutMs: string;
  txSweepIntervalMs: string;
  txDoneRetentionMs: string;
  maxClockOffsetMs: string;
  kafkaBrokers?: string;
  kafkaTopic?: string;
  kafkaGroup?: string;
  kafkaTable?: string;
  kafkaDlqTopic?: string;
  kafkaIncarnationsTopic?: string;
  kafkaBatchRecords: string;
  kafkaRetries: string;
  kafkaCommitIntervalMs: string;
  kafkaFormat: 'json' | 'protobuf';
  auth: 'token' | 'none';
  bootstrapTokenFile?: string;
  debugEndpoints?: boolean;
  auditLog?: string;
  auditDataAccess?: boolean;
  allowedHosts?: string;
  metricsListen?: string;
  esTablePrefix: string;
  esTimeField: string;
  esVersion: string;
  esBulkIndicesMax: string;
  authFailuresPerMinuteMax: string;
  statusSessionTtlMs: string;
  statusSessionsMax: string;
  tls?: 'auto' | 'off';
  tlsCert?: string;
  tlsKey?: string;
  tlsReloadIntervalMs: string;
  lokiTable: string;
}

/** The serve command. */
export function serveCommand(): Command {
  const d = DEFAULT_CONFIG;
  const kafka = kafkaSecurityOptions();
  return new Command('serve')
    .description('run a sluice node (HTTP API, WAL, index) until SIGTERM; alone, or in a cluster with --etcd')
    .option('--data-dir <dir>', 'data directory (wal/, index/, catalog.json)', d.dataDir)
    .option('--http <host:port>', 'HTTP listen address (beyond loopback it needs --tls-cert/--tls-key or --tls)', `${d.httpHost}:${d.httpPort}`)
    .option('--http-keepalive-timeout <ms>', 'an idle HTTP connection is closed this long after its last answer', String(d.httpKeepAliveTimeoutMs))
    .option('--http-backlog <n>', 'connections the kernel queues for the HTTP listener before they are accepted (capped at net.core.somaxconn)', String(d.httpBacklog))
    .option(
      '--connections-max <n>',
      'HTTP connections held at once; past it a connection gets 503 TOO_MANY_CONNECTIONS and is closed. Checked against the open-file limit at start (raised when the process may) (default: what the limit leaves after LevelDB\'s table files and 1024 others, at least 256)',
    )
    .addOption(new Option('--engine <kind>', 'index engine of a new data dir (default: level; an existing one keeps its own)').choices(['lmdb', 'level']))
    .option('--shards <n>', 'shards per table (fixed for a data dir)', String(d.shards))
    .option('--datacenter-id <n>', 'snowflake datacenter id 0..31', String(d.datacenterId))
    .option('--machine-id <n>', 'snowflake machine id 0..31', String(d.machineId))
    .option('--body-bytes-max <bytes>', 'largest request body after gzip (413 past it)', String(d.bodyBytesMax))
    .option('--in-flight-bytes-max <bytes>', 'write bytes admitted at once (429 past it)', String(d.inFlightBytesMax))
    .option('--decode-threads <n>', 'worker threads decoding large bodies (0: main thread only)', String(d.decodeThreads))
    .addOption(new Option('--wal-flush-mode <mode>', 'group commit policy').choices(['idle', 'adaptive']).default(d.walFlushMode))
    .option('--wal-flush-delay-ms-max <ms>', 'longest a write waits for its group commit (≤ 200)', String(d.walFlushDelayMsMax))
    .option('--wal-flush-bytes-max <bytes>', 'group commit flushes at this many bytes', String(d.walFlushBytesMax))
    .option('--wal-segment-bytes-max <bytes>', 'WAL segment size before rotation', String(d.walSegmentBytesMax))
    .option('--wal-prealloc-segments-ahead <n>', 'zero-filled WAL segments kept ready in the background (0: segments grow by appending)', String(d.walPreallocSegmentsAhead))
    .addOption(
      new Option('--wal-recovery <mode>', 'on a corrupt WAL frame before the tail: refuse to start, or truncate there').choices(['strict', 'truncate']).default(d.walRecovery),
    )
    .option('--disk-free-bytes-min <bytes>', 'refuse writes (507) below this much free disk', String(d.diskFreeBytesMin))
    .option('--index-sync-interval-ms <ms>', 'how often the index is fsync\'d and applied WAL segments released', String(d.indexSyncIntervalMs))
    .option('--export-row-group-rows-max <n>', 'rows in one row group of a Parquet export', String(d.exportRowGroupRowsMax))
    .option('--export-row-group-bytes-max <bytes>', 'a Parquet export row group is also cut at about this many value bytes', String(d.exportRowGroupBytesMax))
    .option('--exports-in-flight-max <n>', 'exports streamed at once (429 past it)', String(d.exportsInFlightMax))
    .option('--export-stall-ms <ms>', 'an export whose reader takes nothing for this long is ended (its slot freed)', String(d.exportStallMs))
    .option('--replication-factor-default <n>', 'with --etcd: the replication factor of a table created without one', String(d.replicationFactorDefault))
    .option('--import-body-bytes-max <bytes>', 'largest Parquet/CSV body of POST /v1/tables/{t}/import (413 past it; spooled to disk)', String(d.importBodyBytesMax))
    .option('--otlp-logs-table <name>', 'table POST /v1/logs (OTLP/HTTP logs) writes into, created on its first write', d.otlpLogsTable)
    .option('--event-time-ahead-max-ms <ms>', 'refuse event times further ahead of the clock (EVENT_TIME_IN_FUTURE) in tables that set no limits.eventTimeAheadMsMax', String(d.eventTimeAheadMsMax))
    .option('--log-level <level>', 'pino log level', d.logLevel)
    .option('--etcd <urls>', 'comma-separated etcd client URLs: join the cluster they coordinate (default: run alone)')
    .option('--node-id <id>', 'this node\'s unique id in the cluster', d.nodeId)
    .option('--grpc-streams-max <n>', 'client WriteStreams open at once on the --grpc port (RESOURCE_EXHAUSTED past it)', String(d.grpcStreamsMax))
    .option('--grpc-unary-reads-max <n>', 'client unary Writes being read at once on the --grpc port (past it a Write waits unread at its headers; RESOURCE_EXHAUSTED past 16 × it waiting)', String(d.grpcUnaryReadsMax))
    .option('--grpc-unary-read-timeout-ms <ms>', 'a unary Write that holds a read slot and has not sent its whole message within this is ended (DEADLINE_EXCEEDED, REQUEST_TIMEOUT) and its slot freed', String(d.grpcUnaryReadTimeoutMs))
    .option('--grpc-stream-idle-timeout-ms <ms>', 'a WriteStream that keeps the node waiting this long for its next batch (none unanswered) is ended (DEADLINE_EXCEEDED, REQUEST_TIMEOUT) and its slot freed; at least --grpc-unary-read-timeout-ms', String(d.grpcStreamIdleTimeoutMs))
    .option('--grpc <host:port>', `gRPC listen address of clients: Ingest and Health (default ${d.grpcHost}:${d.grpcPort} in a cluster; a single node serves gRPC only when given)`)
    .option('--grpc-peer <host:port>', 'with --etcd: the peer listener (internal Replica service and Health, mutual TLS) (default: the --grpc host, port + 1)')
    .option('--certs-dir <dir>', 'with --etcd: ca.crt, node.crt and node.key for the peer listener and calls to peers (sluice cert create-ca / create-node)')
    .option('--insecure-cluster', 'with --etcd and no --certs-dir: a plaintext peer port that anyone who reaches it can replicate through (development only)')
    .option('--advertise-host <host>', 'host peers and clients reach this node at (default: the listen host)')
    .option('--etcd-prefix <prefix>', 'prefix of this cluster\'s keys in etcd', d.etcdPrefix)
    .option('--etcd-ca <file>', 'CA certificate (PEM) that issued etcd\'s server certificate, for https:// etcd URLs (default: the system\'s CAs)')
    .option('--etcd-cert <file>', 'client certificate (PEM) for an etcd with --client-cert-auth (with --etcd-key and --etcd-ca)')
    .option('--etcd-key <file>', 'private key (PEM) of --etcd-cert; refused unless only its owner can read it')
    .option('--etcd-user <name>', 'etcd user, when etcd\'s RBAC is on (with --etcd-password-file)')
    .option('--etcd-password-file <file>', 'a file holding the etcd user\'s password (trimmed; only its owner may read it; there is no flag for the password itself)')
    .addOption(new Option('--on-partition <mode>', 'when W replicas are unreachable: refuse (503) or buffer (202, degraded)').choices(['refuse', 'buffer']).default(d.onPartition))
    .option('--alias-ttl-ms <ms>', 'how long the old name of a renamed field keeps accepting writes', String(d.aliasTtlMs))
    .option('--schema-agreement-wait-ms-max <ms>', 'a table create or schema change waits this long at most for every live node to load it (then answers "acknowledged": false)', String(d.schemaAgreementWaitMsMax))
    .option('--lease-ttl-ms <ms>', 'etcd lease TTL of the node\'s registration', String(d.leaseTtlMs))
    .option('--keep-alive-ms <ms>', 'etcd lease keep-alive period', String(d.keepAliveMs))
    .option('--health-interval-ms <ms>', 'gRPC health check period per peer', String(d.healthIntervalMs))
    .option('--suspect-after-misses <n>', 'failed health checks before a peer is suspect', String(d.suspectAfterMisses))
    .option('--dead-after-ms <ms>', 'a suspect peer is dead after this long without a passing check', String(d.deadAfterMs))
    .option('--replica-timeout-ms <ms>', 'deadline of one replica RPC', String(d.replicaTimeoutMs))
    .option('--anti-entropy-interval-ms <ms>', 'Merkle repair round over every shard this often (0: off)', String(d.antiEntropyIntervalMs))
    .option('--hint-replay-interval-ms <ms>', 'how often hints are retried toward live peers', String(d.hintReplayIntervalMs))
    .option('--hint-bytes-max-per-peer <bytes>', 'disk one peer\'s hint queue may take (past it: dropped, repaired by anti-entropy)', String(d.hintBytesMaxPerPeer))
    .option('--hint-window-ms <ms>', 'a hint older than this (from when it was written) is dropped unreplayed; anti-entropy repairs its peer', String(d.hintWindowMs))
    .option('--hint-replay-bytes-per-sec-max <bytes>', 'hint bytes replayed to one peer per second at most', String(d.hintReplayBytesPerSecMax))
    .option('--tx-bytes-max <bytes>', 'largest atomic batch across shards, encoded bytes (413 TX_TOO_LARGE past it)', String(d.txBytesMax))
    .option('--tx-records-max <n>', 'most records in one atomic batch (413 TX_TOO_LARGE past it)', String(d.txRecordsMax))
    .option('--tx-in-flight-max <n>', 'atomic batches one coordinator runs at once (429 past it)', String(d.txInFlightMax))
    .option('--tx-pending-bytes-max <bytes>', 'bytes of prepared, undecided atomic batches a node stages (a PREPARE past it is refused)', String(d.txPendingBytesMax))
    .option('--tx-commit-deadline-ms <ms>', 'a coordinator decides within this long of sending PREPARE, or the batch aborts', String(d.txCommitDeadlineMs))
    .option('--tx-resolve-after-ms <ms>', 'a participant resolves a batch pending this long from etcd (at least 2 x replica timeout + commit deadline)', String(d.txResolveAfterMs))
    .option('--tx-read-wait-ms <ms>', 'a snapshot read (as_of) waits this long for undecided batches, then 503', String(d.txReadWaitMs))
    .option('--tx-decision-timeout-ms <ms>', 'longest wait for etcd to record a decision (504 TX_IN_DOUBT past it)', String(d.txDecisionTimeoutMs))
    .option('--tx-sweep-interval-ms <ms>', 'how often the placement leader re-drives and concludes decisions in etcd', String(d.txSweepIntervalMs))
    .option('--tx-done-retention-ms <ms>', 'how long outcomes stay answerable after a decision (done markers, abort fences)', String(d.txDoneRetentionMs))
    .option('--max-clock-offset-ms <ms>', 'bound on the clock offset between nodes (snapshot reads are taken this far ahead)', String(d.maxClockOffsetMs))
    .option('--kafka-brokers <host:port,...>', 'consume a Kafka topic into a table (with --kafka-topic and --kafka-table)')
    .option('--kafka-topic <topic>', 'the Kafka topic to consume')
    .option('--kafka-table <table>', 'the table its messages go to')
    .option('--kafka-group <group>', 'consumer group (default sluice-<table>)')
    .option('--kafka-dlq-topic <topic>', 'dead-letter topic for refused messages (default <topic>.dlq)')
    .option('--kafka-incarnations-topic <topic>', `compacted topic recording which incarnation of a topic keeps the plain dedupe keys, created if missing (default ${KAFKA_SOURCE_DEFAULTS.incarnationsTopic})`)
    .option('--kafka-batch-records <n>', 'most messages per write', String(KAFKA_SOURCE_DEFAULTS.batchRecordsMax))
    .option('--kafka-commit-interval-ms <ms>', 'while batches keep finishing, commit the durable offsets at most this often (an idle source commits at once)', String(KAFKA_SOURCE_DEFAULTS.commitIntervalMs))
    .option('--kafka-retries <n>', 'times the Kafka client retries a failed request (250 ms apart) before the source reconnects with back-off', String(KAFKA_SOURCE_DEFAULTS.clientRetries))
    .addOption(new Option('--kafka-format <format>', 'message values: JSON, or the table\'s protobuf message').choices(['json', 'protobuf']).default('json'))
    .addOption(kafka.tls)
    .addOption(kafka.ca)
    .addOption(kafka.sasl)
    .addOption(kafka.user)
    .addOption(kafka.passwordFile)
    .addOption(new Option('--auth <mode>', 'callers need a bearer token (token), or nothing (none: development only, loopback clients only)').choices(['token', 'none']).default('token'))
    .option('--bootstrap-token-file <file>', 'a file holding the admin token to accept (32+ characters; or set SLUICE_BOOTSTRAP_TOKEN); default: one is made at first start and written to <data-dir>/admin.token')
    .option('--debug-endpoints', 'serve /debug/profile, /debug/allocations and /debug/heap (admin tokens only; a heap snapshot holds request bodies)')
    .option('--audit-log <file|stderr|off>', 'the audit log (JSON lines; default <data-dir>/audit.log)')
    .option('--audit-data-access', 'audit every granted read and write too (volume), not only admin, schema and cluster actions')
    .option('--allowed-hosts <names>', 'comma-separated Host header names the HTTP listener answers besides localhost and IP literals')
    .option('--auth-failures-per-minute-max <n>', 'failed authentications one address may make in a minute before it is refused with 429 for the rest of it', String(d.authFailuresPerMinuteMax))
    .option('--loki-table <name>', 'the table Loki pushes (POST /loki/api/v1/push) land in, created on the first push', d.lokiTable)
    .option('--metrics-listen <host:port>', 'also serve GET /metrics and the status page (/status) without a token on this address (bind it where only operators and the scraper reach)')
    .option('--status-session-ttl-ms <ms>', 'a status-page sign-in session ends this long after sign-in (or with its token)', String(d.statusSessionTtlMs))
    .option('--status-sessions-max <n>', 'status-page sessions held at once; past it the oldest ends', String(d.statusSessionsMax))
    .option('--es-table-prefix <prefix>', 'Elasticsearch _bulk: an _index lands in the table <prefix><index> (empty: the index name itself)', d.esTablePrefix)
    .option('--es-time-field <field>', 'Elasticsearch _bulk: the document field holding the event time (receive time when absent)', d.esTimeField)
    .option('--es-version <x.y.z>', 'the Elasticsearch version GET / reports to shippers', d.esVersion)
    .option('--es-bulk-indices-max <n>', 'Elasticsearch _bulk: distinct indices one request may write (items for more are refused)', String(d.esBulkIndicesMax))
    .option('--tls-cert <file>', 'HTTPS and gRPC (Ingest) with this PEM certificate, its chain after it (with --tls-key)')
    .option('--tls-key <file>', 'the PEM private key of --tls-cert (mode 0600, or the node refuses to start)')
    .addOption(
      new Option('--tls <mode>', 'auto: a self-signed certificate made in <data-dir>/tls/ at first start (its fingerprint printed); off: plain text behind a TLS proxy. A listener beyond loopback needs --tls-cert/--tls-key or this').choices([
        'auto',
        'off',
      ]),
    )
    .option('--tls-reload-interval-ms <ms>', 'how often the TLS certificate and key files, and the --certs-dir files, are checked for a change (SIGHUP reloads at once)', String(d.tlsReloadIntervalMs))
    .action(async (opts: ServeOptions) => {
      tuneHeapGrowing();
      const config = serveConfig(opts);
      let node: SluiceNode;
      for (const source of config.kafkaSources) await checkKafkaSecurityFiles(source.security);
      // Loaded here, not at the top: every other command (token, cert, query, bench…) would pay a second to load the node.
      const { SluiceNode: Node } = await import('../sluice-node.ts');
      try {
        node = await Node.start(config);
      } catch (err) {
        if (isSluiceError(err)) throw new CliError(`${err.code}: ${err.message}`, 2);
        // A certificate or key that cannot be served is the operator's to fix: the reason, exit 2.
        if (err instanceof CertError) throw new CliError(`TLS: ${err.message}`, 2);
        // A port in use or not permitted is an operator's problem, not a crash: one line, exit 2.
        const code = (err as NodeJS.ErrnoException).code;
        if (code === 'EADDRINUSE' || code === 'EACCES' || code === 'EADDRNOTAVAIL') throw new CliError((err as Error).message, 2);
        throw err;
      }
      let signalled = false;
      const stop = (signal: string): void => {
        if (signalled) return;
        signalled = true;
        node.log.info({ event: 'signal', signal }, 'shutting down');
        node.stop().then(
          () => process.exit(0),
          (err: unknown) => {
            node.log.fatal({ err }, 'shutdown failed');
            process.exit(1);
          },
        );
      };
      process.on('SIGHUP', () => {
        node.log.info({ event: 'signal', signal: 'SIGHUP' }, 'reloading the TLS certificates');
        void node.reloadTls().then((served) => {
          if (!served) node.log.info({ event: 'tls_reload_skipped' }, 'no TLS to reload');
        });
      });
      process.on('SIGTERM', () => stop('SIGTERM'));
      process.on('SIGINT', () => stop('SIGINT'));
    });
}

/** The node config of `sluice serve`'s parsed options; a CliError (exit 2) for a value or combination it refuses. */
export function serveConfig(o: ServeOptions): NodeConfig {
  const [host, port] = splitHostPort(o.http, '--http');
  const [grpcHost, grpcPort] = o.grpc === undefined ? [DEFAULT_CONFIG.grpcHost, DEFAULT_CONFIG.grpcPort] : splitHostPort(o.grpc, '--grpc');
  return resolveConfig({
    dataDir: o.dataDir,
    httpHost: host,
    httpPort: port,
    httpKeepAliveTimeoutMs: int(o.httpKeepaliveTimeout, '--http-keepalive-timeout'),
    httpBacklog: int(o.httpBacklog, '--http-backlog'),
    ...(o.connectionsMax === undefined ? {} : { httpConnectionsMax: int(o.connectionsMax, '--connections-max') }),
    ...(o.engine === undefined ? {} : { engine: o.engine as NonNullable<NodeConfig['engine']> }),
    shards: int(o.shards, '--shards'),
    datacenterId: int(o.datacenterId, '--datacenter-id'),
    machineId: int(o.machineId, '--machine-id'),
    bodyBytesMax: int(o.bodyBytesMax, '--body-bytes-max'),
    inFlightBytesMax: int(o.inFlightBytesMax, '--in-flight-bytes-max'),
    decodeThreads: int(o.decodeThreads, '--decode-threads'),
    walFlushMode: o.walFlushMode as NodeConfig['walFlushMode'],
    walFlushDelayMsMax: int(o.walFlushDelayMsMax, '--wal-flush-delay-ms-max'),
    walFlushBytesMax: int(o.walFlushBytesMax, '--wal-flush-bytes-max'),
    walSegmentBytesMax: int(o.walSegmentBytesMax, '--wal-segment-bytes-max'),
    walPreallocSegmentsAhead: int(o.walPreallocSegmentsAhead, '--wal-prealloc-segments-ahead'),
    walRecovery: o.walRecovery as NodeConfig['walRecovery'],
    diskFreeBytesMin: int(o.diskFreeBytesMin, '--disk-free-bytes-min'),
    indexSyncIntervalMs: int(o.indexSyncIntervalMs, '--index-sync-interval-ms'),
    exportRowGroupRowsMax: int(o.exportRowGroupRowsMax, '--export-row-group-rows-max'),
    exportRowGroupBytesMax: int(o.exportRowGroupBytesMax, '--export-row-group-bytes-max'),
    exportsInFlightMax: int(o.exportsInFlightMax, '--exports-in-flight-max'),
    exportStallMs: int(o.exportStallMs, '--export-stall-ms'),
    replicationFactorDefault: int(o.replicationFactorDefault, '--replication-factor-default'),
    importBodyBytesMax: int(o.importBodyBytesMax, '--import-body-bytes-max'),
    otlpLogsTable: o.otlpLogsTable,
    eventTimeAheadMsMax: int(o.eventTimeAheadMaxMs, '--event-time-ahead-max-ms'),
    logLevel: o.logLevel,
    etcdUrls: o.etcd === undefined ? [] : o.etcd.split(',').map((u) => u.trim()).filter((u) => u !== ''),
    nodeId: o.nodeId,
    grpcHost,
    grpcPort,
    grpcEnabled: o.grpc !== undefined,
    grpcStreamsMax: int(o.grpcStreamsMax, '--grpc-streams-max'),
    grpcUnaryReadsMax: int(o.grpcUnaryReadsMax, '--grpc-unary-reads-max'),
    grpcUnaryReadTimeoutMs: int(o.grpcUnaryReadTimeoutMs, '--grpc-unary-read-timeout-ms'),
    grpcStreamIdleTimeoutMs: int(o.grpcStreamIdleTimeoutMs, '--grpc-stream-idle-timeout-ms'),
    ...grpcPeer(o.grpcPeer),
    certsDir: o.certsDir ?? '',
    insecureCluster: o.insecureCluster === true,
    ...(o.advertiseHost === undefined ? {} : { advertiseHost: o.advertiseHost }),
    etcdPrefix: o.etcdPrefix,
    etcdCaFile: o.etcdCa ?? '',
    etcdCertFile: o.etcdCert ?? '',
    etcdKeyFile: o.etcdKey ?? '',
    etcdUser: o.etcdUser ?? '',
    etcdPasswordFile: o.etcdPasswordFile ?? '',
    onPartition: o.onPartition as NodeConfig['onPartition'],
    leaseTtlMs: int(o.leaseTtlMs, '--lease-ttl-ms'),
    aliasTtlMs: int(o.aliasTtlMs, '--alias-ttl-ms'),
    schemaAgreementWaitMsMax: int(o.schemaAgreementWaitMsMax, '--schema-agreement-wait-ms-max'),
    keepAliveMs: int(o.keepAliveMs, '--keep-alive-ms'),
    healthIntervalMs: int(o.healthIntervalMs, '--health-interval-ms'),
    suspectAfterMisses: int(o.suspectAfterMisses, '--suspect-after-misses'),
    deadAfterMs: int(o.deadAfterMs, '--dead-after-ms'),
    replicaTimeoutMs: int(o.replicaTimeoutMs, '--replica-timeout-ms'),
    antiEntropyIntervalMs: int(o.antiEntropyIntervalMs, '--anti-entropy-interval-ms'),
    hintReplayIntervalMs: int(o.hintReplayIntervalMs, '--hint-replay-interval-ms'),
    hintBytesMaxPerPeer: int(o.hintBytesMaxPerPeer, '--hint-bytes-max-per-peer'),
    hintWindowMs: int(o.hintWindowMs, '--hint-window-ms'),
    hintReplayBytesPerSecMax: int(o.hintReplayBytesPerSecMax, '--hint-replay-bytes-per-sec-max'),
    txBytesMax: int(o.txBytesMax, '--tx-bytes-max'),
    txRecordsMax: int(o.txRecordsMax, '--tx-records-max'),
    txInFlightMax: int(o.txInFlightMax, '--tx-in-flight-max'),
    txPendingBytesMax: int(o.txPendingBytesMax, '--tx-pending-bytes-max'),
    txCommitDeadlineMs: int(o.txCommitDeadlineMs, '--tx-commit-deadline-ms'),
    txResolveAfterMs: int(o.txResolveAfterMs, '--tx-resolve-after-ms'),
    txReadWaitMs: int(o.txReadWaitMs, '--tx-read-wait-ms'),
    txDecisionTimeoutMs: int(o.txDecisionTimeoutMs, '--tx-decision-timeout-ms'),
    txSweepIntervalMs: int(o.txSweepIntervalMs, '--tx-sweep-interval-ms'),
    txDoneRetentionMs: int(o.txDoneRetentionMs, '--tx-done-retention-ms'),
    maxClockOffsetMs: int(o.maxClockOffsetMs, '--max-clock-offset-ms'),
    kafkaSources: kafkaSources(o),
    authMode: o.auth,
    ...bootstrapToken(o),
    debugEndpoints: o.debugEndpoints === true,
    auditLog: o.auditLog ?? '',
    auditDataAccess: o.auditDataAccess === true,
    allowedHosts: (o.allowedHosts ?? '').split(',').map((h) => h.trim()).filter((h) => h !== ''),
    metricsListen: o.metricsListen ?? '',
    esTablePrefix: o.esTablePrefix,
    esTimeField: o.esTimeField,
    esVersion: o.esVersion,
    esBulkIndicesMax: int(o.esBulkIndicesMax, '--es-bulk-indices-max'),
    authFailuresPerMinuteMax: int(o.authFailuresPerMinuteMax, '--auth-failures-per-minute-max'),
    lokiTable: o.lokiTable,
    statusSessionTtlMs: int(o.statusSessionTtlMs, '--status-session-ttl-ms'),
    statusSessionsMax: int(o.statusSessionsMax, '--status-sessions-max'),
    ...tlsOptions(o),
  });
}

/** `--tls-cert`/`--tls-key` (together), or `--tls auto|off`, or nothing. */
function tlsOptions(o: ServeOptions): Pick<NodeConfig, 'tlsMode' | 'tlsCertFile' | 'tlsKeyFile' | 'tlsReloadIntervalMs'> {
  const tlsReloadIntervalMs = int(o.tlsReloadIntervalMs, '--tls-reload-interval-ms');
  if (o.tlsCert === undefined && o.tlsKey === undefined) return { tlsMode: o.tls ?? 'unset', tlsCertFile: '', tlsKeyFile: '', tlsReloadIntervalMs };
  if (o.tlsCert === undefined || o.tlsKey === undefined) throw new CliError('--tls-cert and --tls-key go together', 2);
  if (o.tls !== undefined) throw new CliError(`--tls ${o.tls} and --tls-cert/--tls-key exclude each other`, 2);
  return { tlsMode: 'files', tlsCertFile: o.tlsCert, tlsKeyFile: o.tlsKey, tlsReloadIntervalMs };
}

/** The operator's admin token: from a file (never a flag value: command lines are visible to every user), or the environment. */
function bootstrapToken(o: ServeOptions): { bootstrapToken?: string } {
  if (o.bootstrapTokenFile !== undefined) {
    let text: string;
    try {
      text = readFileSync(o.bootstrapTokenFile, 'utf8');
    } catch (err) {
      throw new CliError(`cannot read --bootstrap-token-file ${o.bootstrapTokenFile}: ${(err as Error).message}`, 2);
    }
    return { bootstrapToken: text.trim() };
  }
  const env = process.env['SLUICE_BOOTSTRAP_TOKEN'];
  return env === undefined || env === '' ? {} : { bootstrapToken: env.trim() };
}

/** The names of serve's topic flags, for the messages of kafkaTopicNames. */
const SERVE_TOPIC_FLAGS = { topic: '--kafka-topic', dlqTopic: '--kafka-dlq-topic', incarnationsTopic: '--kafka-incarnations-topic' } as const;

function kafkaSources(o: ServeOptions): KafkaSourceConfig[] {
  if (o.kafkaBrokers === undefined) {
    if (o.kafkaTopic !== undefined || o.kafkaTable !== undefined) throw new CliError('--kafka-topic and --kafka-table need --kafka-brokers', 2);
    // Given alone they would do nothing: the operator meant a Kafka source and gets none.
    if (o.kafkaGroup !== undefined) throw new CliError('--kafka-group needs --kafka-brokers (with --kafka-topic and --kafka-table)', 2);
    if (o.kafkaDlqTopic !== undefined) throw new CliError('--kafka-dlq-topic needs --kafka-brokers (with --kafka-topic and --kafka-table)', 2);
    if (o.kafkaIncarnationsTopic !== undefined) throw new CliError('--kafka-incarnations-topic needs --kafka-brokers (with --kafka-topic and --kafka-table)', 2);
    if (hasKafkaSecurityFlags(o)) throw new CliError('--kafka-tls, --kafka-ca, --kafka-sasl, --kafka-user and --kafka-password-file need --kafka-brokers', 2);
    return [];
  }
  if (o.kafkaTopic === undefined || o.kafkaTable === undefined) throw new CliError('--kafka-brokers needs --kafka-topic and --kafka-table', 2);
  const batchRecordsMax = intOption(o.kafkaBatchRecords, '--kafka-batch-records', 1, 100_000);
  return [
    kafkaSourceConfig({
      brokers: o.kafkaBrokers.split(',').map((b) => b.trim()).filter((b) => b !== ''),
      table: o.kafkaTable,
      group: o.kafkaGroup ?? `sluice-${o.kafkaTable}`,
      batchRecordsMax,
      clientRetries: intOption(o.kafkaRetries, '--kafka-retries', 0, 1_000),
      commitIntervalMs: intOption(o.kafkaCommitIntervalMs, '--kafka-commit-interval-ms', 1, 3_600_000),
      format: o.kafkaFormat,
      security: kafkaSecurityOf(o),
      ...kafkaTopicNames({ topic: o.kafkaTopic, dlqTopic: o.kafkaDlqTopic, incarnationsTopic: o.kafkaIncarnationsTopic, flags: SERVE_TOPIC_FLAGS }),
    }),
  ];
}

/** `--grpc-peer HOST:PORT` as config (nothing when not given: the default is derived from --grpc). */
function grpcPeer(value: string | undefined): Pick<NodeConfig, 'grpcPeerHost'> & { grpcPeerPort?: number } {
  if (value === undefined) return { grpcPeerHost: '' };
  const [grpcPeerHost, grpcPeerPort] = splitHostPort(value, '--grpc-peer');
  return { grpcPeerHost, grpcPeerPort };
}

function splitHostPort(value: string, flag: string): [string, number] {
  const m = /^(.*):([0-9]{1,5})$/.exec(value);
  if (m === null || m[1] === undefined || m[2] === undefined) throw new CliError(`${flag} must be HOST:PORT, got ${value}`, 2);
  return [m[1].replace(/^\[(.*)\]$/, '$1') || '0.0.0.0', Number(m[2])];
}

function int(value: string, flag: string): number {
  if (!/^-?[0-9]+$/.test(value)) throw new CliError(`${flag} must be an integer, got ${value}`, 2);
  return Number(value);
}
