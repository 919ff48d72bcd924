/**
 * Prometheus metrics of a node. One registry per node (tests run several
 * nodes in one process). Lower layers never import this: the node wires
 * their observer hooks to these instruments.
 */
import { Counter, Gauge, Histogram, Registry, type LabelValues } from 'prom-client';
import { collectProcessMetrics } from './process-metrics.ts';
import { EventLoopDelay } from './event-loop-delay.ts';

/** The instruments of one node. */
export class NodeMetrics {
  readonly registry = new Registry();
  readonly recordsWritten: Counter<'table'>;
  readonly recordsRejected: Counter<'table'>;
  readonly recordsDeadLettered: Counter<'table'>;
  readonly refusals: Counter<'route' | 'table' | 'code'>;
  readonly requestDuration: Histogram<'method' | 'route' | 'status'>;
  readonly walFsyncSeconds: Histogram;
  readonly walFlushBytes: Histogram;
  readonly walFlushFrames: Histogram;
  readonly httpConnectionsOpen: Gauge;
  /** What the HTTP listener's connection gate holds; set by the node once it has one (read at each scrape). */
  httpConnectionsHeld: () => number = () => 0;
  /** What the WAL's segment preallocation reports; set by the node once its store is open (read at each scrape). */
  walPreallocation: () => { readonly ready: number; readonly failures: number } | undefined = () => undefined;
  readonly walSpareSegments: Gauge;
  readonly walPreallocationFailures: Counter;
  readonly httpConnections: Counter<'event'>;
  readonly inFlightBytes: Gauge;
  readonly inFlightRequests: Gauge;
  readonly applyLagFrames: Gauge;
  readonly appliedLsn: Gauge;
  readonly applySeconds: Histogram;
  readonly clockEvents: Counter<'kind'>;
  readonly overloaded: Counter<'reason'>;
  readonly authFailures: Counter<'reason'>;
  readonly tlsReloads: Counter<'listener' | 'result'>;
  readonly tlsCertExpiry: Gauge<'listener'>;
  readonly replayRecords: Gauge;
  readonly replaySeconds: Gauge;
  readonly peerState: Gauge<'peer' | 'state'>;
  readonly hintsPending: Gauge<'peer'>;
  readonly hintsWritten: Counter<'peer'>;
  readonly hintsReplayed: Counter;
  readonly hintsDropped: Counter;
  readonly hintsExpired: Counter;
  readonly hintsRefused: Counter;
  readonly readRepairRecords: Counter<'peer'>;
  readonly antiEntropyRecords: Counter<'direction'>;
  readonly replicaWriteRecords: Counter;
  readonly sourceRecords: Counter<'source' | 'kind'>;
  readonly sourceRejected: Counter<'source' | 'kind'>;
  readonly sourcePaused: Gauge<'source' | 'kind'>;
  readonly grpcStreamBatchesWaiting: Gauge;
  readonly grpcUnaryWritesReading: Gauge;
  readonly grpcUnaryWritesWaiting: Gauge;
  readonly grpcReadTimeouts: Counter<'call'>;
  readonly kafkaLag: Gauge<'topic' | 'partition'>;
  readonly kafkaDeadLettered: Counter<'topic'>;
  readonly dedupedRecords: Counter<'table' | 'mode'>;
  readonly rateLimited: Counter<'table' | 'reason'>;
  readonly rateWaitSeconds: Counter<'table'>;
  readonly futureTimeRecords: Counter<'table'>;
  readonly txTotal: Counter<'outcome'>;
  readonly txPhaseSeconds: Histogram<'phase'>;
  readonly txPending: Gauge;
  readonly txPendingBytes: Gauge;
  readonly txPendingOldestSeconds: Gauge;
  readonly txResolutions: Counter<'result'>;
  readonly txUnconcluded: Gauge;
  readonly txSwept: Counter;
  readonly asOfWaitSeconds: Histogram;
  /** The main thread's event-loop delay; sampling runs from start() to stop(). */
  readonly eventLoopDelay: EventLoopDelay;

  constructor() {
    const registers = [this.registry];
    collectProcessMetrics(this.registry);
    this.eventLoopDelay = new EventLoopDelay(this.registry);
    this.recordsWritten = new Counter({ name: 'sluice_records_written_total', help: 'Records durably written', labelNames: ['table'], registers });
    this.recordsRejected = new Counter({ name: 'sluice_records_rejected_total', help: 'Records refused by validation', labelNames: ['table'], registers });
    this.recordsDeadLettered = new Counter({ name: 'sluice_records_dead_lettered_total', help: 'Refused records stored in the table\'s dead-letter table', labelNames: ['table'], registers });
    this.refusals = new Counter({
      name: 'sluice_http_refusals_total',
      help: 'HTTP requests answered with an error, by route, table (empty when the URL names no table this node knows) and error code',
      labelNames: ['route', 'table', 'code'],
      registers,
    });
    this.requestDuration = new Histogram({
      name: 'sluice_http_request_duration_seconds',
      help: 'HTTP request latency',
      labelNames: ['method', 'route', 'status'],
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers,
    });
    this.walFsyncSeconds = new Histogram({
      name: 'sluice_wal_fsync_duration_seconds',
      help: 'WAL fdatasync time per group commit, from the call until the event loop sees it done (a busy loop adds its delay; the write before it is not counted)',
      buckets: [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1],
      registers,
    });
    this.walFlushBytes = new Histogram({
      name: 'sluice_wal_flush_bytes',
      help: 'Bytes per WAL group commit',
      buckets: [256, 1024, 4096, 16384, 65536, 262144, 1048576, 4194304, 16777216],
      registers,
    });
    this.walFlushFrames = new Histogram({
      name: 'sluice_wal_flush_frames',
      help: 'Frames (write requests) per WAL group commit',
      buckets: [1, 2, 4, 8, 16, 32, 64, 128, 256, 1024],
      registers,
    });
    const prealloc = () => this.walPreallocation();
    this.walSpareSegments = new Gauge({
      name: 'sluice_wal_spare_segments',
      help: 'Zero-filled WAL segments ready for the next rotation (0 with preallocation off, or while a fill is failing)',
      registers,
      collect() {
        this.set(prealloc()?.ready ?? 0);
      },
    });
    this.walPreallocationFailures = new Counter({
      name: 'sluice_wal_preallocation_failures_total',
      help: 'Spare WAL segment fills that failed (no space, the free-space floor, I/O); rotation then makes a plain segment',
      registers,
      collect() {
        setCounterTotal(this, {}, prealloc()?.failures ?? 0);
      },
    });
    const held = (): number => this.httpConnectionsHeld();
    this.httpConnectionsOpen = new Gauge({
      name: 'sluice_http_connections_open',
      help: 'HTTP connections the node holds (idle keep-alive ones included)',
      registers,
      collect() {
        this.set(held());
      },
    });
    this.httpConnections = new Counter({
      name: 'sluice_http_connections_total',
      help: 'HTTP connections by event: accepted, closed (every close of an accepted one), idle_timeout (closed by the keep-alive timer; also counted in closed), unread_body (closed after an error answered before a large body was read; also counted in closed), refused (past --connections-max)',
      labelNames: ['event'],
      registers,
    });
    this.inFlightBytes = new Gauge({ name: 'sluice_inflight_bytes', help: 'Write request bytes admitted and not yet indexed', registers });
    this.inFlightRequests = new Gauge({ name: 'sluice_inflight_requests', help: 'Write requests admitted and not yet indexed', registers });
    this.applyLagFrames = new Gauge({ name: 'sluice_apply_lag_frames', help: 'WAL frames durable but not yet in the index', registers });
    this.appliedLsn = new Gauge({ name: 'sluice_applied_lsn', help: 'LSN of the last WAL frame in the index', registers });
    this.applySeconds = new Histogram({
      name: 'sluice_apply_duration_seconds',
      help: 'Index commit latency per apply batch',
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
      registers,
    });
    this.clockEvents = new Counter({ name: 'sluice_clock_events_total', help: 'Clock problems: rollback handling by the id generator (wait, logical, refused), and versions from peers refused as too far ahead of this clock (remote_ahead)', labelNames: ['kind'], registers });
    this.authFailures = new Counter({ name: 'sluice_auth_failures_total', help: 'Requests refused before their handler: bad or missing credentials, or throttled addresses', labelNames: ['reason'], registers });
    this.tlsReloads = new Counter({ name: 'sluice_tls_reload_total', help: 'Certificate reloads of a listener (http, grpc, or peer: files changed, or SIGHUP): ok, or error (the last good pair kept serving)', labelNames: ['listener', 'result'], registers });
    this.tlsCertExpiry = new Gauge({ name: 'sluice_tls_cert_expiry_timestamp_seconds', help: 'notAfter of the certificate a listener (http, grpc, or peer) serves, Unix seconds', labelNames: ['listener'], registers });
    this.overloaded = new Counter({ name: 'sluice_overloaded_total', help: 'Writes refused with 429', labelNames: ['reason'], registers });
    this.peerState = new Gauge({ name: 'sluice_peer_state', help: 'Failure detector state of each peer (1 for the current state)', labelNames: ['peer', 'state'], registers });
    this.hintsPending = new Gauge({ name: 'sluice_hints_pending', help: 'Hinted replica writes waiting for their peer', labelNames: ['peer'], registers });
    this.hintsWritten = new Counter({ name: 'sluice_hinted_records_total', help: 'Records stored as hints for an unreachable replica', labelNames: ['peer'], registers });
    this.hintsDropped = new Counter({ name: 'sluice_hints_dropped_total', help: 'Hints dropped because a peer\'s hint queue was full', registers });
    this.hintsExpired = new Counter({ name: 'sluice_hints_expired_total', help: 'Hints dropped unreplayed because they outlived the hint window (anti-entropy repairs their peer)', registers });
    this.hintsRefused = new Counter({ name: 'sluice_hints_refused_total', help: 'Hints skipped because their peer refused them for good (an unknown table, an invalid batch; hints_refused logs the code)', registers });
    this.hintsReplayed = new Counter({ name: 'sluice_hints_replayed_total', help: 'Hinted batches delivered to their replica', registers });
    this.readRepairRecords = new Counter({ name: 'sluice_read_repair_records_total', help: 'Records pushed to a replica by read repair', labelNames: ['peer'], registers });
    this.antiEntropyRecords = new Counter({ name: 'sluice_anti_entropy_records_total', help: 'Records copied by Merkle anti-entropy', labelNames: ['direction'], registers });
    this.replicaWriteRecords = new Counter({ name: 'sluice_replica_write_records_total', help: 'Records written here on behalf of another coordinator', registers });
    this.sourceRecords = new Counter({ name: 'sluice_source_records_total', help: 'Records a source wrote durably', labelNames: ['source', 'kind'], registers });
    this.sourceRejected = new Counter({ name: 'sluice_source_rejected_records_total', help: 'Records a source had refused by validation', labelNames: ['source', 'kind'], registers });
    this.sourcePaused = new Gauge({ name: 'sluice_source_paused', help: '1 while a streaming source waits for room in the node (backpressure)', labelNames: ['source', 'kind'], registers });
    this.grpcStreamBatchesWaiting = new Gauge({ name: 'sluice_grpc_stream_batches_waiting', help: 'gRPC WriteStream batches read (deserialized) and not yet admitted: memory outside the admission bound', registers });
    this.grpcUnaryWritesReading = new Gauge({ name: 'sluice_grpc_unary_writes_reading', help: 'gRPC unary Write calls past their headers and not yet admitted or answered: each may hold one message outside the admission bound', registers });
    this.grpcUnaryWritesWaiting = new Gauge({ name: 'sluice_grpc_unary_writes_waiting', help: 'gRPC unary Write calls waiting at their headers, unread, for one being read to end (--grpc-unary-reads-max)', registers });
    this.grpcReadTimeouts = new Counter({ name: 'sluice_grpc_read_timeouts_total', help: 'gRPC Ingest calls ended with REQUEST_TIMEOUT for keeping a read slot waiting on their client: a unary Write past --grpc-unary-read-timeout-ms, a WriteStream past --grpc-stream-idle-timeout-ms', labelNames: ['call'], registers });
    this.kafkaLag = new Gauge({ name: 'sluice_kafka_consumer_lag', help: 'Messages of a partition not yet committed by the Kafka source', labelNames: ['topic', 'partition'], registers });
    this.rateLimited = new Counter({ name: 'sluice_rate_limited_total', help: 'Write requests refused by a table\'s rate limits: reason="records_rate"|"bytes_rate" (429 RATE_LIMITED), "records_burst"|"bytes_burst" (413 RATE_LIMIT_BURST_EXCEEDED)', labelNames: ['table', 'reason'], registers });
    this.rateWaitSeconds = new Counter({ name: 'sluice_rate_limit_wait_seconds_total', help: 'Time streaming sources (Kafka, file imports) waited for a table\'s rate limit', labelNames: ['table'], registers });
    this.futureTimeRecords = new Counter({ name: 'sluice_event_time_in_future_records_total', help: 'Records refused because their event time is further ahead of the clock than the table\'s eventTimeAheadMsMax', labelNames: ['table'], registers });
    this.dedupedRecords = new Counter({ name: 'sluice_dedupe_records_total', help: 'Records written with source dedupe keys: mode="fresh" past the fence (no lookups), "lookup" resolved one by one', labelNames: ['table', 'mode'], registers });
    this.kafkaDeadLettered = new Counter({ name: 'sluice_kafka_dead_lettered_total', help: 'Messages the Kafka source sent to its dead-letter topic', labelNames: ['topic'], registers });
    this.txTotal = new Counter({ name: 'sluice_tx_total', help: 'Atomic batches across shards this node coordinated, by outcome (committed, aborted, no_quorum, in_doubt, refused)', labelNames: ['outcome'], registers });
    this.txPhaseSeconds = new Histogram({
      name: 'sluice_tx_phase_seconds',
      help: 'Two-phase commit phase latency on the coordinator (prepare, decide, commit)',
      labelNames: ['phase'],
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers,
    });
    this.txPending = new Gauge({ name: 'sluice_tx_pending', help: 'Atomic batches prepared on this node whose outcome is not applied yet', registers });
    this.txPendingBytes = new Gauge({ name: 'sluice_tx_pending_bytes', help: 'Bytes of atomic batches staged on this node', registers });
    this.txPendingOldestSeconds = new Gauge({ name: 'sluice_tx_pending_oldest_seconds', help: 'Age of the oldest pending atomic batch on this node', registers });
    this.txResolutions = new Counter({ name: 'sluice_tx_resolutions_total', help: 'Pending atomic batches this node resolved without their coordinator, by result (committed, aborted, fenced, failed)', labelNames: ['result'], registers });
    this.txUnconcluded = new Gauge({ name: 'sluice_tx_unconcluded', help: 'Decisions in etcd the placement leader could not conclude at its last sweep (a participant pending or silent)', registers });
    this.txSwept = new Counter({ name: 'sluice_tx_concluded_by_sweeper_total', help: 'Decisions the placement leader concluded', registers });
    this.asOfWaitSeconds = new Histogram({
      name: 'sluice_read_as_of_wait_seconds',
      help: 'How long snapshot reads (as_of) waited on this replica for atomic batches prepared at or below the snapshot',
      buckets: [0.0001, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 15],
      registers,
    });
    this.replayRecords = new Gauge({ name: 'sluice_wal_replay_records', help: 'Records replayed from the WAL at the last start', registers });
    this.replaySeconds = new Gauge({ name: 'sluice_wal_replay_seconds', help: 'Duration of the WAL replay at the last start', registers });
  }
}

/**
 * Sets a counter to a total counted elsewhere since the node started (a
 * source's progress, the hint store's drops), read at scrape time: prom-client
 * counters only have `inc`, and a count since start is a counter, whose resets
 * on restart `rate()` handles, not a gauge.
 */
export function setCounterTotal<L extends string>(counter: Counter<L>, labels: LabelValues<L>, total: number): void {
  if (Object.keys(labels).length === 0) counter.reset();
  else counter.remove(labels);
  counter.inc(labels, total);
}
