/**
 * Every option of a sluice node in one typed place, with its default and
 * its bounds. Names carry their unit last (`flushDelayMsMax`). The CLI and
 * tests build a `NodeConfig` with `resolveConfig`, which rejects values out
 * of bounds instead of clamping them silently.
 */
import assert from 'node:assert/strict';
import type { KafkaSourceConfig } from './sources/kafka/kafka-source-config.ts';
import { ENGINE_KEY_BYTES_MAX, type EngineKind } from './storage/engine/storage-engine.ts';
import { PREALLOC_SEGMENTS_AHEAD_MAX } from './storage/wal/wal-options.ts';
import { RECORD_KEY_HEAD_BYTES } from './storage/index/key-layout.ts';
import { SluiceError } from './core/errors.ts';
import { SNOWFLAKE_LOGICAL_DRIFT_MS_DEFAULT } from './core/snowflake.ts';
import { HLC_MAX_OFFSET_MS_DEFAULT } from './core/hlc.ts';
import { TABLE_NAME_RE } from './core/schema/parse-table-def.ts';
import { BOOTSTRAP_TOKEN_CHARS_MIN, isValidBootstrapToken } from './security/token-format.ts';
import type { TableLimitBounds } from './core/schema/table-limits.ts';

const KiB = 1024;
const MiB = 1024 * KiB;

/*
 * Limits that check one another. Some options are bounded by a limit that
 * lives below config (the index engine's key size, the gRPC message size
 * between nodes); a value past it would be accepted and fail later (a
 * write acknowledged, then refused by the index on every replay; a WAL
 * frame no peer can receive). The relations are named once here, asserted
 * against the bounds at module load (a broken one is a programmer error),
 * and checked again by `resolveConfig` against configured values.
 */

/** Bytes of an index record key after the shard key: `timeKey[8] | id[8]` (storage/index/key-layout.ts). */
export const RECORD_KEY_TAIL_BYTES = 16;
/** Bytes of a primary-key entry's key before the pk: `P | shard u16 | tableId u32 | pkLen u16`, the record key's head. */
export const PK_KEY_HEAD_BYTES = RECORD_KEY_HEAD_BYTES;

/**
 * Largest `keyBytesMax` (UTF-8 bytes): the longest shard key whose index
 * record key `R | shard | tableId | keyLen | key | timeKey | id` still fits
 * the engine's key limit, 1978 - 9 - 16 = 1953. A primary key of that
 * length (`P | shard | tableId | pkLen | pk`, 9 + pk bytes) fits too.
 */
export const KEY_BYTES_MAX_LIMIT = ENGINE_KEY_BYTES_MAX - RECORD_KEY_HEAD_BYTES - RECORD_KEY_TAIL_BYTES;

/** Longest `dedupe_prefix` of a request, bytes: a dedupe key is stored as a record's primary key. */
export const DEDUPE_PREFIX_BYTES_MAX = 256;

/** Longest number part of a dedupe key, characters (a row number or Kafka offset, zero-padded to at most this). */
export const DEDUPE_NUMBER_CHARS_MAX = 20;

/** Longest Kafka topic name, characters (the broker's own limit, `Topic.MAX_NAME_LENGTH`); a topic flag longer than this is refused at start. */
export const KAFKA_TOPIC_NAME_CHARS_MAX = 249;
/**
 * Index seeks run side by side when a node learns the highest stored dedupe
 * key of a new prefix (one per shard, dedupe-fence.ts): enough to cover the
 * default 16 shards in one round, few enough that 4,096 shards do not open
 * thousands of iterators at once.
 */
export const HIGHEST_PK_SEEKS_PARALLEL = 16;

/**
 * Records one write may dead-letter (`on_invalid=dead_letter`); a request
 * refusing more is refused whole, nothing written, so the dead-letter write
 * and the answer listing it stay bounded.
 * @default 10_000
 */
export const DEAD_LETTERS_PER_REQUEST_MAX = 10_000;

/**
 * Violations collected per write in dead-letter mode (each refused record
 * needs its first one): several per letter, more than `errorDetailsMax`.
 * @default 40_000
 */
export const DEAD_LETTER_VIOLATIONS_MAX = 4 * DEAD_LETTERS_PER_REQUEST_MAX;

/**
 * Largest raw record a dead letter keeps, bytes: its base64 must fit a
 * `bytes` field (1 MiB of text). A write refusing a larger record is refused
 * whole instead, so the record is answered to its sender, never dropped.
 * @default 768 KiB
 */
export const DEAD_LETTER_RAW_BYTES_MAX = 768 * KiB;

/**
 * How long a node that lost the race to create a table on first write (a
 * dead-letter or shipper-protocol table) waits for the winner's table to
 * reach its catalog (an etcd watch in a cluster) before answering
 * NOT_READY (503, retryable), ms.
 * @default 5_000
 */
export const TABLE_CREATE_RACE_WAIT_MS = 5_000;

/**
 * How often a node waiting for schema agreement (a table created or its
 * schema changed, `schemaAgreementWaitMsMax`) reads the nodes' reports of
 * the version they loaded: two etcd range reads per poll, ms.
 * @default 100
 */
export const SCHEMA_AGREEMENT_POLL_MS = 100;

/**
 * Largest gRPC message a node sends or receives on its peer port (the
 * Replica service), bytes: a replica Write carries a whole WAL frame's batch.
 * @default 256 MiB
 */
export const GRPC_MESSAGE_BYTES_MAX = 256 * MiB;

/**
 * How far ahead of the clock a node keeps its time ceiling on disk
 * (storage/time-ceiling.ts), ms: ids stop at it if the disk stalls this
 * long, and a node restarted after a crash waits at most this, less an id
 * generator's lead, before it issues ids.
 */
export const TIME_CEILING_AHEAD_MS = 2_000;
/** How often the time ceiling is written, ms. */
export const TIME_CEILING_RENEW_MS = 250;

/**
 * How far a node's HLC may run ahead of its own clock with no peer's help,
 * ms: a restart takes the id floor, at most one id generator's lead ahead
 * of the clock once the time ceiling's wait is over (decision 0048), and a
 * full logical counter carries into the next ms (16 ms per batch at most);
 * the rest is room.
 */
export const HLC_OWN_LEAD_MS_MAX = SNOWFLAKE_LOGICAL_DRIFT_MS_DEFAULT + 100;

/**
 * How far ahead of this node's clock a version received from a peer may be
 * before it is refused with CLOCK_SKEW (decision 0052), ms. The peer's
 * clock may lead by `maxClockOffsetMs`, and its HLC lead its clock by its
 * own lead or by a snapshot's floor (taken `maxClockOffsetMs` ahead of a
 * coordinator's clock), whichever is larger: each lead is taken from a
 * clock reading, so they do not add up. CockroachDB refuses at max-offset
 * alone; its clocks invent no lead.
 */
export function hlcRemoteAheadMsMax(maxClockOffsetMs: number): number {
  return maxClockOffsetMs + Math.max(maxClockOffsetMs, HLC_OWN_LEAD_MS_MAX);
}

/** A node logs refused versions of peers (CLOCK_SKEW) at most once per this many ms; the metric counts each one. */
export const CLOCK_SKEW_LOG_INTERVAL_MS = 10_000;

/**
 * Record bytes a replica puts in one Fetch reply (anti-entropy, catch-up):
 * past it the reply ends and says where to ask again. Without a bound, the
 * records of 2,000 keys (or of a few dozen near the body limit) made a
 * reply past the gRPC message limit, and the range never converged. One
 * record past the bound still goes (a reply holds at least one), so the
 * bound and the largest record must fit a message together. A record's
 * dedupe key, when the asker wants it (decision 54), counts with it.
 * @default 64 MiB
 */
export const FETCH_REPLY_BYTES_MAX = 64 * MiB;

/**
 * Entry bytes (record key, version, msgpack framing) a replica puts in one
 * LeafEntries reply, the keys of the Merkle leaves that differ (anti-entropy,
 * catch-up, hand-off): past it the reply ends and names the key to go on
 * after. Without a bound, the keys of a shard of some millions of records
 * that one replica lacks made a reply past the gRPC message limit, and the
 * range never converged. The asker compares its own page with the peer's as
 * they come, so it holds two pages decoded (a few times their wire bytes):
 * 8 MiB is about 150,000 keys of a short shard key, tens of MiB of heap,
 * and a shard of millions of records takes tens of calls.
 * @default 8 MiB
 */
export const LEAF_ENTRIES_REPLY_BYTES_MAX = 8 * MiB;

/**
 * Record bytes a replica puts in one Scan or ScanShard reply (a range
 * page, an export page): past it the reply ends and says `more`, and the
 * reader pages on from its last record. Without it a page of large records
 * made a reply past the gRPC message limit (the read failed on every
 * remote replica) and held the whole page in memory. One record past the
 * bound still goes, so the bound and the largest record fit a message.
 * @default 16 MiB
 */
export const SCAN_REPLY_BYTES_MAX = 16 * MiB;

/**
 * Records a replica returns for one Scan or ScanShard, whatever the caller
 * asked: a cluster range page asks for one more than it returns (to learn
 * whether another page follows), so it returns at most one less than this.
 */
export const REPLICA_PAGE_RECORDS_MAX = 10_000;

/**
 * Bytes of one range page (GET /v1/tables/:table/records): a single node
 * ends the page once the records it read for it (record key and stored
 * value) reach this, and the route once the page's JSON text does
 * (counted in characters), with a `next_cursor` to go on from. One record
 * past the bound still goes (a page holds at least one). Without it a page
 * of `queryLimitMax` records near the body limit took gigabytes, or passed
 * V8's longest string and failed with 500. The same as a replica's Scan
 * reply, which bounds what a cluster page is merged from.
 * @default 16 MiB
 */
export const RANGE_PAGE_BYTES_MAX = SCAN_REPLY_BYTES_MAX;

/** V8's longest string on 64-bit (`String::kMaxLength`, 2^29 - 24 characters): a longer one throws. */
export const V8_STRING_CHARS_MAX = 2 ** 29 - 24;

/**
 * Largest gRPC message the client port (Ingest) receives, bytes: twice the
 * body limit and 1 MiB, so that a request a little past the limit is read
 * and answered PAYLOAD_TOO_LARGE with its code, while one far past it is
 * refused by gRPC before it is held in memory (the peer port's 256 MiB
 * bound let an authenticated client make the node hold 256 MiB per call).
 */
export function clientGrpcMessageBytesMax(config: Pick<NodeConfig, 'bodyBytesMax'>): number {
  return Math.min(GRPC_MESSAGE_BYTES_MAX, 2 * config.bodyBytesMax + MiB);
}

/**
 * Bytes a replica message may add around the record batch it carries
 * (msgpack map header, field names, epoch; under 64 in replica-v1), with
 * room to spare so a new optional field never breaks the relation.
 * @default 4 KiB
 */
export const REPLICA_ENVELOPE_BYTES_MAX = 4 * KiB;

/**
 * How long a node sends its replica Writes to a peer as unary calls after
 * that peer answered the write stream as unknown (UNIMPLEMENTED: a node of
 * an earlier release), before it offers the stream again (the peer may
 * have been upgraded in place since), ms.
 * @default 60 s
 */
export const REPLICA_STREAM_RETRY_MS = 60_000;

/**
 * HTTP/2 flow-control window of each stream on the peer connections, both
 * ways (SETTINGS_INITIAL_WINDOW_SIZE), bytes: how much a peer may send on
 * a stream before the receiver reads it. HTTP/2's default of 64 KiB made
 * a replica batch (150 KB for 1,000 small records, up to a whole WAL
 * frame) wait for a window update per 64 KiB, one turn of both busy event
 * loops each: at RF=3 the write stream then took 37–39 CPU-s per 1M
 * records against 25 with 4 MiB (single runs; 1 MiB measured the same as
 * 4). grpc-java uses 1 MiB; decision 33 has the figures.
 * @default 4 MiB
 */
export const PEER_HTTP2_STREAM_WINDOW_BYTES = 4 * MiB;

/** HTTP/2 flow-control window of a whole peer connection, bytes: room for several streams' windows at once. @default 16 MiB */
export const PEER_HTTP2_CONNECTION_WINDOW_BYTES = 16 * MiB;

/**
 * Reconnect backoff of the node's gRPC channels (to its peers and to
 * etcd), ms: the first wait after a failed connection attempt and the
 * most it grows to. gRPC's defaults (1 s growing to 120 s) left a peer
 * that had been down a minute looking dead to the others for ~11 s after
 * it was back (for up to two minutes after a longer outage): writes to it
 * were hinted, not replicated; and an etcd restart must be noticed within
 * a lease keep-alive or two. An attempt to a server still down is a
 * refused connection, cheap at one a second.
 */
export const GRPC_RECONNECT_BACKOFF_MS_INITIAL = 100;
/** @see GRPC_RECONNECT_BACKOFF_MS_INITIAL @default 1 s */
export const GRPC_RECONNECT_BACKOFF_MS_MAX = 1_000;

/**
 * What a WriteStream's client may send before the node reads it: HTTP/2's
 * default stream window (SETTINGS_INITIAL_WINDOW_SIZE), which the client
 * listener keeps (only the peer listener widens its windows) (bytes).
 * @default 65,535
 */
export const GRPC_CLIENT_STREAM_WINDOW_BYTES = 65_535;

/**
 * Batches of one client WriteStream read and not yet answered (batches):
 * admitted ones being written, and at most one waiting for admission
 * (decision 51); the stream reads its next batch only below this. Replies
 * go out in order, so a few in flight hide the write's latency.
 * @default 4
 */
export const GRPC_STREAM_BATCHES_IN_FLIGHT_MAX = 4;

/**
 * The most client WriteStreams hold outside the admission bound (bytes):
 * each open stream one message being read or waiting for admission (at
 * most the client port's message limit; a batch past bodyBytesMax is
 * answered PAYLOAD_TOO_LARGE instead of waiting) and its unread HTTP/2
 * window (decision 51). At the defaults 64 × (33 MiB + 64 KiB) ≈ 2.1 GiB;
 * with 1 MiB batches about 68 MiB.
 */
export function grpcStreamsHeldBytesMax(config: Pick<NodeConfig, 'grpcStreamsMax' | 'bodyBytesMax'>): number {
  return config.grpcStreamsMax * (clientGrpcMessageBytesMax(config) + GRPC_CLIENT_STREAM_WINDOW_BYTES);
}

/**
 * Unary Write calls that may wait at their headers, unread, per call that may
 * be read (calls): past grpcUnaryReadsMax a call waits for a read to end
 * instead of being refused, so a burst of small writes on an idle node is
 * taken whole (1,024 one-record Writes at once, measured in decision 53);
 * past grpcUnaryWaitingMax it is refused. A waiting call holds at most its
 * HTTP/2 stream window of unread bytes.
 * @default 16
 */
export const GRPC_UNARY_WAITING_PER_READ = 16;

/** Unary Write calls waiting at their headers at once (calls): grpcUnaryReadsMax × GRPC_UNARY_WAITING_PER_READ, 1,024 at the default. */
export function grpcUnaryWaitingMax(config: Pick<NodeConfig, 'grpcUnaryReadsMax'>): number {
  return config.grpcUnaryReadsMax * GRPC_UNARY_WAITING_PER_READ;
}

/**
 * The most unary Write calls hold outside the admission bound (bytes): each
 * call being read (from its headers until admitted or answered) one message,
 * at most the client port's message limit, and its HTTP/2 window; each call
 * waiting at its headers its window, unread (decision 53). At the defaults
 * 64 × (33 MiB + 64 KiB) + 1,024 × 64 KiB ≈ 2.1 GiB; with 1 MiB batches about
 * 132 MiB. A call refused at its headers holds nothing.
 */
export function grpcUnaryHeldBytesMax(config: Pick<NodeConfig, 'grpcUnaryReadsMax' | 'bodyBytesMax'>): number {
  return config.grpcUnaryReadsMax * (clientGrpcMessageBytesMax(config) + GRPC_CLIENT_STREAM_WINDOW_BYTES) + grpcUnaryWaitingMax(config) * GRPC_CLIENT_STREAM_WINDOW_BYTES;
}

/**
 * A peer whose health checks have all failed this long gets new channels
 * (new connections), ms. A connection can take checks and answer none:
 * in cluster-bank a node's checks of a peer timed out on an open
 * connection for over a minute after the peer's restart, while the peer
 * answered everyone else. Replacing the channels costs a reconnect; for a
 * peer that is really down it changes nothing (decision 39).
 * @default 10 s
 */
export const PEER_CHANNEL_RESET_MS = 10_000;

/** A peer's failing health checks are logged (why they fail) at most this often per peer, ms. @default 30 s */
export const PEER_CHECK_FAILURE_LOG_INTERVAL_MS = 30_000;

/**
 * Records an id block holds at most when an apply merges consecutive
 * frames of one lane into it (storage/index/id-block-plan.ts): a lookup by
 * id reads and searches the whole block, and 1,024 entries (~40 KiB) is
 * what a bulk body of 1,000 records already makes. A single frame past it
 * keeps a block of its own.
 * @default 1,024 records
 */
export const ID_BLOCK_MERGED_RECORDS_MAX = 1_024;

/**
 * How far V8 lets a node's old generation grow past what survived the last
 * full collection before it starts the next, percent (V8's
 * `--heap-growing-percent`; 200 is a limit of three times the live heap).
 * V8 picks 10–30% for a heap as small as a node's (~45 MB live), and starts
 * marking once less than a young generation (32 MB) is left below that
 * limit: a node under load ran a full collection every 150–500 ms, each
 * marking the whole heap again. With 200, an RF=3 cluster ran half as many
 * and spent ~10% less CPU per record (medians of 2 alternated runs, 21.7 →
 * 19.6 CPU-s per 1M; decision 37). A `--heap-growing-percent` given to node
 * itself wins.
 * @default 200
 */
export const V8_HEAP_GROWING_PERCENT = 200;

/**
 * Memory an OTLP/HTTP logs body takes while its decode task turns it into
 * a record batch, per byte of body (after gzip); admission holds this much
 * while the task runs (not while it waits for a thread: the body alone
 * then), and the batch afterwards. Measured (the live heap
 * after gc() at each step of encode-otlp.ts, every step's output held, on
 * 1,000 and 10,000 of the protocols bench's log records): protobuf, the
 * decoded entries 3.7 ×, with their records 5.1 ×, plus the batch (outside
 * the heap) 1.7 × and the body itself: 7.8 ×; JSON, while it is decoded,
 * its text and parsed tree 2.6 × and the entries 1.3 ×, plus the body:
 * 4.9 × (afterwards less: records 1.8 ×, batch 0.7 ×). Rounded up. Garbage is not
 * counted: the decode workers' young generation (16 MiB) bounds it per
 * thread, not per body. (The JSON round trip between two workers that
 * this replaced held 20 × and 8 ×, and refused a 32-connection load.)
 */
export const OTLP_DECODE_HEAP_BYTES_PER_BODY_BYTE = { protobuf: 8, json: 6 } as const;

/** Floor of the WAL frame limit, bytes. @default 64 MiB */
const WAL_FRAME_BYTES_MIN = 64 * MiB;
/** A batch of tiny records encodes to a few times its JSON size (fixed per-entry header): a frame may take this many bodies. */
const WAL_FRAME_BODIES_MAX = 4;

/**
 * Largest WAL frame (header included, bytes) of the node's WAL and of its
 * hint queues: `max(64 MiB, 4 × bodyBytesMax)`.
 */
export function walFrameBytesMax(config: Pick<NodeConfig, 'bodyBytesMax'>): number {
  return Math.max(WAL_FRAME_BYTES_MIN, WAL_FRAME_BODIES_MAX * config.bodyBytesMax);
}

/**
 * Largest `bodyBytesMax` (bytes): its largest WAL frame plus the replica
 * envelope fits GRPC_MESSAGE_BYTES_MAX, so every frame a node makes durable
 * can be replicated and hinted. (256 MiB - 4 KiB) / 4 = 64 MiB - 1 KiB.
 */
export const BODY_BYTES_MAX_LIMIT = Math.floor((GRPC_MESSAGE_BYTES_MAX - REPLICA_ENVELOPE_BYTES_MAX) / WAL_FRAME_BODIES_MAX);

/** How the WAL decides when to flush a group commit. */
export type FlushMode = 'idle' | 'adaptive';
/** What WAL recovery does with a bad frame before the tail. */
export type WalRecoveryMode = 'strict' | 'truncate';
/** What a coordinator does when a write cannot reach W replicas. */
export type OnPartition = 'refuse' | 'buffer';
/**
 * TLS of the public listeners (HTTP, gRPC Ingest): none chosen (loopback
 * only), a certificate and key from files, a self-signed one made in the
 * data dir, or explicitly off (behind a proxy that terminates TLS).
 */
export type TlsMode = 'unset' | 'files' | 'auto' | 'off';

/** Oldest TLS version the public listeners speak. */
export const TLS_MIN_VERSION = 'TLSv1.2';
/** A serving certificate this close to its notAfter is warned about in the log, ms. @default 14 days */
export const TLS_EXPIRY_WARNING_MS = 14 * 86_400_000;
/** A warning about an expiring certificate is repeated this often while it serves, ms. @default 1 day */
export const TLS_EXPIRY_WARNING_REPEAT_MS = 86_400_000;
/**
 * Lifetime of the self-signed certificate of `--tls auto`, ms. Clients pin
 * it (its fingerprint, or the file as their CA), so a renewal breaks every
 * client: long, like Syncthing's device certificates. @default 10 years
 */
export const TLS_AUTO_CERT_LIFETIME_MS = 10 * 365 * 86_400_000;
/**
 * Longest wait between hint replay attempts to a peer whose replays fail
 * (OVERLOADED, RATE_LIMITED, timeouts), ms. The wait doubles from
 * --hint-replay-interval-ms up to this; a peer turning alive resets it. @default 60_000
 */
export const HINT_REPLAY_BACKOFF_MS_MAX = 60_000;
/** Segment file size of a peer's hint queue, bytes (a peer's whole queue, hintBytesMaxPerPeer, holds at least one). @default 8 MiB */
export const HINT_SEGMENT_BYTES_MAX = 8 * MiB;
/** How often the main thread's event-loop delay is sampled into `sluice_event_loop_delay_seconds`, ms (50 timer ticks a second cost nothing measurable). @default 20 */
export const EVENT_LOOP_SAMPLE_MS = 20;

/**
 * Open files a node keeps for everything but its HTTP client connections
 * and LevelDB's table cache (open-files-budget.ts): WAL segments, LMDB,
 * hint queues, gRPC clients and peers, etcd, Kafka, logs, worker threads,
 * Node itself. `--connections-max` is checked against the open-file limit
 * minus this and the table cache. @default 1024
 */
export const FDS_RESERVED = 1024;
/**
 * Fewest HTTP connections the default `--connections-max` (derived from the
 * open-file limit) may come to: a limit that leaves fewer is refused at
 * start with what to raise, rather than serving a handful. @default 256
 */
export const HTTP_CONNECTIONS_AUTO_MIN = 256;
/** The default `--connections-max` where the open-file limit cannot be read (no /proc). @default 1024 */
export const HTTP_CONNECTIONS_UNKNOWN_LIMIT_DEFAULT = 1024;
/**
 * A refused connection (past `--connections-max`) is answered, half-closed,
 * and read and discarded until its client closes it, at most this long:
 * closing at once with the client's request unread would send a reset that
 * can destroy the answer before the client reads it. @default 2 s
 */
export const HTTP_REFUSED_LINGER_MS = 2_000;
/**
 * An error answered before its request's body was read (401, 413, 429…)
 * leaves the body's rest for Node to read and drop, so the connection can
 * carry the next request. Up to this many declared bytes that is cheap;
 * past it the connection is closed instead (unread-body.ts), as Go's
 * net/http does past 256 KiB: a flood of large refused bodies would
 * otherwise be read in full exactly while the node is overloaded. @default 256 KiB
 */
export const HTTP_UNREAD_BODY_DRAIN_BYTES_MAX = 256 * KiB;
/**
 * Such a connection stops being read, is half-closed once the answer is
 * out, and closed this long after: the client reads the answer before the
 * reset its unread bytes cause (RFC 9112 §9.6; Go waits 500 ms). Shorter
 * than HTTP_REFUSED_LINGER_MS: these connections count towards
 * `--connections-max` while they linger. @default 500 ms
 */
export const HTTP_UNREAD_BODY_LINGER_MS = 500;
/** Longest wait for `prlimit` raising the node's own open-file limit at start. @default 5 s */
export const FD_LIMIT_RAISE_TIMEOUT_MS = 5_000;

/** Worker threads decoding large Loki pushes exit after this long without one, ms (a node keeps no threads between bursts). @default 10 s */
export const LOKI_DECODE_IDLE_MS = 10_000;
/** The status page reloads itself this often (`<meta http-equiv="refresh">`), seconds. */
export const STATUS_REFRESH_SECONDS = 5;
/**
 * Longest one wait on a RATE_LIMITED answer's Retry-After, by a client of
 * a node (`sluice ingest`, a Kafka source writing through another node):
 * the write is then sent again and answered with the wait left. A table's
 * slowest rate gives waits of days, and a timer past 2^31 - 1 ms fires
 * after 1 ms (a tight loop of refused writes); a limit raised meanwhile is
 * also seen within this.
 */
export const RATE_LIMITED_PAUSE_MS_MAX = 60_000;

/**
 * Longest the CLI waits for a connection (TCP, and TLS for https://) to a
 * node for an operation that runs as long as it takes (`sluice cluster
 * cleanup`, `repair`), ms: the answer itself has no time limit, so an
 * address that never answers must still fail. undici's connect timeout,
 * which every other CLI request has through fetch.
 * @default 10 s
 */
export const CLI_CONNECT_TIMEOUT_MS = 10_000;

/** Ingest rates on the status page are deltas over about this long (between in-memory samples of the counters). */
export const STATUS_RATE_WINDOW_MS = 10_000;
/** Two counter samples are at least this far apart (page views more often reuse the last one). */
export const STATUS_RATE_SAMPLE_MS_MIN = 1_000;
/** Largest sign-in form body, bytes (a token is 80 characters; a bootstrap token at most 512). */
export const STATUS_SIGN_IN_BODY_BYTES_MAX = 4 * KiB;
/** Largest event-time bound a table or node may set, ms (100 years: in effect no bound). */
export const EVENT_TIME_AHEAD_MS_MAX_LIMIT = 100 * 365 * 86_400_000;

/**
 * Bounds of a table's `limits` (core/schema/table-limits.ts). A rate goes
 * down to one record (or byte) every 1000 s; up to far past what one node
 * writes, so a table's limit never has to be lowered to be accepted. A
 * burst of bytes is at least 1 KiB: below it hardly any request fits. A
 * burst below the largest request a client sends refuses that request for
 * good (413 RATE_LIMIT_BURST_EXCEEDED), whatever the rate.
 */
export const TABLE_LIMIT_BOUNDS: TableLimitBounds = {
  recordsPerSecond: [0.001, 1e9],
  recordsBurst: [1, 1e9],
  bytesPerSecond: [0.001, 1024 ** 4],
  bytesBurst: [KiB, 1024 ** 4],
  eventTimeAheadMsMax: [0, EVENT_TIME_AHEAD_MS_MAX_LIMIT],
};

/** The full configuration of one node. */
export interface NodeConfig {
  /** Directory holding wal/, index/, catalog.json. @default './sluice-data' */
  readonly dataDir: string;
  /** HTTP listen host. @default '127.0.0.1' */
  readonly httpHost: string;
  /** HTTP listen port (0 = pick a free one). @default 8080 */
  readonly httpPort: number;
  /**
   * How long an HTTP connection may sit idle after an answer before the
   * node closes it (`Keep-Alive: timeout=` tells clients, in whole
   * seconds). Idle connections cost memory, not CPU. @default 72_000
   */
  readonly httpKeepAliveTimeoutMs: number;
  /** Longest an HTTP request's headers may take to arrive, from its first byte (or from the connection's opening). @default 60_000 */
  readonly httpHeadersTimeoutMs: number;
  /** Longest an HTTP request may take to arrive whole (headers and body); past it 408 and the connection is closed. @default 120_000 */
  readonly httpRequestTimeoutMs: number;
  /**
   * HTTP connections held at once; one past it is answered 503
   * TOO_MANY_CONNECTIONS and closed. Checked at start against the
   * open-file limit (raised when the process may). 0: as many as the limit
   * leaves after LevelDB's table cache and FDS_RESERVED, at least
   * HTTP_CONNECTIONS_AUTO_MIN. @default 0
   */
  readonly httpConnectionsMax: number;
  /** Listen backlog of the HTTP listener (connections the kernel queues before they are accepted); the kernel caps it at net.core.somaxconn. @default 4096 */
  readonly httpBacklog: number;
  /**
   * Index engine of a new data dir (`level` when unset); an existing data
   * dir keeps the engine it was created with, and naming another is refused.
   */
  readonly engine?: EngineKind;
  /** Shards per table; fixed for the life of a data dir. @default 16 */
  readonly shards: number;
  /** Snowflake datacenter id, 0..31. @default 0 */
  readonly datacenterId: number;
  /** Snowflake machine id, 0..31. @default 0 */
  readonly machineId: number;

  /**
   * Largest request body after decompression, bytes. At most
   * BODY_BYTES_MAX_LIMIT (64 MiB - 1 KiB): the WAL frame of a body
   * (walFrameBytesMax) must fit a replica message (GRPC_MESSAGE_BYTES_MAX).
   * @default 16 MiB
   */
  readonly bodyBytesMax: number;
  /** Request body bytes admitted at once (reading, decoding, awaiting the WAL and the index); past it: 429. @default 64 MiB */
  readonly inFlightBytesMax: number;
  /** Write requests admitted at once; past it: 429. @default 4096 */
  readonly inFlightRequestsMax: number;
  /** Retry-After seconds sent with 429. @default 1 */
  readonly retryAfterSeconds: number;
  /** Bodies at least this large are decoded and validated in the worker pool. @default 64 KiB */
  readonly workerBodyBytesMin: number;
  /** Decode worker threads (0 = decode on the main thread only). @default 2 */
  readonly decodeThreads: number;
  /** Rejections listed in one error answer. @default 100 */
  readonly errorDetailsMax: number;
  /** Nesting depth of `json` values. @default 32 */
  readonly jsonDepthMax: number;
  /**
   * Largest shard key or primary key, UTF-8 bytes. At most
   * KEY_BYTES_MAX_LIMIT (1953): the index key around it must fit the
   * engine's key limit (ENGINE_KEY_BYTES_MAX, 1978 bytes).
   * @default 1 KiB
   */
  readonly keyBytesMax: number;
  /** How long an alias of a renamed field keeps accepting writes (`--alias-ttl-ms`). @default 7 days */
  readonly aliasTtlMs: number;
  /**
   * How far an event time (a table's timeField) may be ahead of the node's
   * clock, for tables that set no `limits.eventTimeAheadMsMax`; a record
   * past it is refused with EVENT_TIME_IN_FUTURE (Kafka 4.0's
   * message.timestamp.after.max.ms). @default 3_600_000 (1 h)
   */
  readonly eventTimeAheadMsMax: number;

  /** WAL segment size before rotation. @default 64 MiB */
  readonly walSegmentBytesMax: number;
  /**
   * Zero-filled WAL segments kept ready ahead of the active one (each takes
   * walSegmentBytesMax of disk): an fdatasync over a preallocated segment
   * commits no file-size change (issue 16, docs/decisions). 0: segments grow
   * by appending. @default 1 (segments, at most 4)
   */
  readonly walPreallocSegmentsAhead: number;
  /** Group commit flushes once this many bytes are buffered. @default 64 KiB */
  readonly walFlushBytesMax: number;
  /** Longest a frame waits for its group commit. @default 200 */
  readonly walFlushDelayMsMax: number;
  /** `idle` flushes as soon as nothing else is queued; `adaptive` waits for more under a rising rate. @default 'idle' */
  readonly walFlushMode: FlushMode;
  /** Bounds of the adaptive flush delay, within walFlushDelayMsMax (unset, they follow a lower one down). @default 0 and 10 */
  readonly walAdaptiveDelayMsMin: number;
  readonly walAdaptiveDelayMsMax: number;
  /** `strict` refuses to start on a corrupt frame before the tail; `truncate` drops it and what follows. @default 'strict' */
  readonly walRecovery: WalRecoveryMode;
  /** Writes are refused with 507 DISK_FULL when free space falls below this. @default 256 MiB */
  readonly diskFreeBytesMin: number;

  /** Records applied to the index in one engine transaction. @default 20_000 */
  readonly applyBatchRecordsMax: number;
  /** Index commits in flight at once (LMDB fsyncs each on its own thread). @default 4 */
  readonly applyCommitsInFlightMax: number;
  /** The index is fsync'd and old WAL segments released this often. @default 5_000 */
  readonly indexSyncIntervalMs: number;
  /** WAL bytes read per replay step at start-up. @default 16 MiB */
  readonly replayBatchBytesMax: number;
  /** Longest a read waits for the index to catch up with acknowledged writes. @default 10_000 */
  readonly readBarrierMsMax: number;
  /** Largest page of a range query. @default 10_000 */
  readonly queryLimitMax: number;
  /** Default page of a range query. @default 1_000 */
  readonly queryLimitDefault: number;
  /** Rows in one row group of a Parquet export; an export holds about one row group in memory. @default 16_384 (64k rows cost ≈ 300 MB of transient heap in a test, 16k ≈ 150 MB, at the same speed) */
  readonly exportRowGroupRowsMax: number;
  /** A Parquet export row group is also cut at this many bytes of values (estimated before encoding). @default 16 MiB */
  readonly exportRowGroupBytesMax: number;
  /** Exports (NDJSON or Parquet) a node streams at once; past it 429 OVERLOADED. Each holds a scan snapshot and, for Parquet, a row group in memory. @default 4 */
  readonly exportsInFlightMax: number;
  /**
   * An export whose reader takes nothing for this long is ended: a reader
   * that stops reading without closing would hold its export slot and its
   * scan snapshot for ever. @default 60_000
   */
  readonly exportStallMs: number;
  /** In a cluster, the replication factor of a table created without one. */
  readonly replicationFactorDefault: number;
  /** Table the OTLP/HTTP logs route (`POST /v1/logs`) writes into, created on its first write. @default 'otel_logs' */
  readonly otlpLogsTable: string;
  /** Largest body of `POST /v1/tables/{t}/import` (spooled to `<data-dir>/import-spool/`, not held in memory). @default 1 GiB */
  readonly importBodyBytesMax: number;
  /** Graceful shutdown waits this long for in-flight requests. @default 10_000 */
  readonly shutdownGraceMs: number;
  /**
   * A cluster node's table create or schema change waits at most this long
   * for every live node to load the new version before it answers
   * (`"acknowledged": false` and the nodes that had not, past it; the
   * change stands either way). 0: answer at once, acknowledged only if all
   * had. A single node is acknowledged at once. At most `shutdownGraceMs`
   * in a cluster: the request is in flight while it waits.
   * @default 5_000
   */
  readonly schemaAgreementWaitMsMax: number;
  /** Log level (pino). @default 'info' */
  readonly logLevel: string;

  /** etcd client URLs; empty runs a single node with no cluster. @default [] */
  readonly etcdUrls: readonly string[];
  /** This node's id in the cluster (letters, digits, `-_.`). @default 'n1' */
  readonly nodeId: string;
  /** Prefix of every sluice key in etcd (several clusters may share one etcd). @default 'sluice/' */
  readonly etcdPrefix: string;
  /** gRPC listen host and port of clients (Ingest and Health). @default 127.0.0.1:7070 */
  readonly grpcHost: string;
  readonly grpcPort: number;
  /**
   * Client WriteStreams open at once on the `--grpc` port (streams); one past
   * it is refused when it opens with RESOURCE_EXHAUSTED (OVERLOADED), before
   * any of its batches is read. Each open stream may hold one message outside
   * admission plus its HTTP/2 window (decision 51): see grpcStreamsHeldBytesMax.
   * @default 64
   */
  readonly grpcStreamsMax: number;
  /**
   * Client unary Write calls being read at once on the `--grpc` port (calls),
   * from their headers until admitted or answered. One past it waits at its
   * headers, unread, for a read to end; past grpcUnaryWaitingMax waiting it is
   * refused there with RESOURCE_EXHAUSTED (OVERLOADED). Each call read may hold
   * one message outside admission (decision 53): see grpcUnaryHeldBytesMax.
   * @default 64
   */
  readonly grpcUnaryReadsMax: number;
  /**
   * Longest a unary Write may take, once it holds one of
   * `grpcUnaryReadsMax` read slots, to deliver its whole message (ms). Past
   * it the call ends with DEADLINE_EXCEEDED (REQUEST_TIMEOUT), the slot goes
   * to the next Write and nothing of the message is written: a client that
   * sends slowly or stops without closing cannot hold a slot for ever
   * (decision 55). 60 s lets a 16 MiB message (the default body limit) in
   * at ~280 KB/s. @default 60_000
   */
  readonly grpcUnaryReadTimeoutMs: number;
  /**
   * Longest a WriteStream may keep the node waiting on its client while it
   * holds one of `grpcStreamsMax` slots (ms): from when the node is ready
   * for its next batch, with none of its batches unanswered, until that
   * batch (or the end of the stream) is in whole. Time a batch waits for
   * admission or a rate limit does not count. Past it the stream ends with
   * DEADLINE_EXCEEDED (REQUEST_TIMEOUT) (decision 55). At least
   * `grpcUnaryReadTimeoutMs`: the wait includes receiving a whole message.
   * @default 120_000
   */
  readonly grpcStreamIdleTimeoutMs: number;
  /**
   * Peer listener of a cluster node (the internal Replica service and Health,
   * mutual TLS): its host (empty: `grpcHost`) and port (unset: `grpcPort + 1`,
   * or a free port when `grpcPort` is 0). See `grpcPeerListen`.
   * @default '' and unset
   */
  readonly grpcPeerHost: string;
  readonly grpcPeerPort?: number;
  /** A cluster node's certs dir: `ca.crt`, `node.crt`, `node.key` for the peer listener and its calls to peers. @default '' */
  readonly certsDir: string;
  /** Run a cluster node without peer certificates: a plaintext peer port anyone who reaches it can replicate through (development only). @default false */
  readonly insecureCluster: boolean;
  /** Serve gRPC (Ingest, Health) on a single node; a cluster node always serves it. @default false */
  readonly grpcEnabled: boolean;
  /** Host peers and clients use to reach this node (default: the listen host). @default '' */
  readonly advertiseHost: string;
  /** `refuse`: 503 NO_QUORUM when W replicas are unreachable; `buffer`: accept into the hint queue, 202 degraded. @default 'refuse' */
  readonly onPartition: OnPartition;
  /** etcd lease TTL of the node's registration. @default 10_000 */
  readonly leaseTtlMs: number;
  /** Lease keep-alive period. @default 3_000 */
  readonly keepAliveMs: number;
  /** gRPC health check period per peer. @default 1_000 */
  readonly healthIntervalMs: number;
  /** Consecutive failed checks (or a lost lease) before a peer is suspect. @default 3 */
  readonly suspectAfterMisses: number;
  /** A suspect peer is dead after this long without a successful check. @default 30_000 */
  readonly deadAfterMs: number;
  /** Deadline of one replica RPC. @default 5_000 */
  readonly replicaTimeoutMs: number;
  /** Background anti-entropy: one round over every shard this often (0: off); each round scans every record the node holds. @default 600_000 */
  readonly antiEntropyIntervalMs: number;
  /** How often hint queues are retried toward live peers. @default 1_000 */
  readonly hintReplayIntervalMs: number;
  /** Disk one peer's hint queue may take; past it hints are dropped and anti-entropy repairs the peer. @default 4 GiB */
  readonly hintBytesMaxPerPeer: number;
  /** Age, from when it was written, past which a hint is dropped unreplayed and anti-entropy repairs the peer instead (Cassandra's max_hint_window). @default 3 h */
  readonly hintWindowMs: number;
  /** Hint bytes replayed to one peer per second at most, so a peer back from an outage is not flooded (scylladb#7976). @default 8 MiB */
  readonly hintReplayBytesPerSecMax: number;

  /** Largest atomic batch (`atomic=true` across shards), encoded bytes; past it 413 TX_TOO_LARGE. @default 16 MiB */
  readonly txBytesMax: number;
  /** Most records in one atomic batch; past it 413 TX_TOO_LARGE. @default 100_000 */
  readonly txRecordsMax: number;
  /** Atomic batches one coordinator runs at once; past it 429. @default 64 */
  readonly txInFlightMax: number;
  /** Bytes of prepared, undecided atomic batches one node stages; past it a PREPARE is refused (429). @default 256 MiB */
  readonly txPendingBytesMax: number;
  /** A coordinator decides within this long of sending PREPARE, or aborts (presumed abort). @default 5_000 */
  readonly txCommitDeadlineMs: number;
  /** A participant asks etcd for the outcome of a batch pending this long (at least 2 × replicaTimeoutMs + txCommitDeadlineMs). @default 15_000 */
  readonly txResolveAfterMs: number;
  /** A snapshot read (`as_of`) waits this long for batches prepared at or below it, then 503 READ_TIMEOUT. @default 15_000 */
  readonly txReadWaitMs: number;
  /** Longest wait for etcd to record a decision; past it the answer is 504 TX_IN_DOUBT. @default 10_000 */
  readonly txDecisionTimeoutMs: number;
  /** How often the placement leader re-drives decided batches and deletes concluded decisions from etcd. @default 60_000 */
  readonly txSweepIntervalMs: number;
  /** Done markers and abort fences are kept this long after a decision. @default 3_600_000 */
  readonly txDoneRetentionMs: number;
  /**
   * Bound on the clock offset between nodes; a restarted replica prepares above its start time plus this, and a
   * version from a peer more than `hlcRemoteAheadMsMax` of it ahead of this node's clock is refused (CLOCK_SKEW).
   * @default 500
   */
  readonly maxClockOffsetMs: number;

  /** Kafka topics this node consumes into tables (`--kafka-*` flags). @default [] */
  readonly kafkaSources: readonly KafkaSourceConfig[];

  /** How callers are checked: bearer tokens, or nobody (`none`: development, loopback clients only). @default 'token' */
  readonly authMode: 'token' | 'none';
  /** An operator-chosen admin token (SLUICE_BOOTSTRAP_TOKEN or --bootstrap-token-file); never logged. */
  readonly bootstrapToken?: string;
  /** Serve /debug/profile, /debug/allocations and /debug/heap (to admin tokens only). @default false */
  readonly debugEndpoints: boolean;
  /** The audit log: a file, `stderr` or `off`; empty means `<data-dir>/audit.log`. @default '' */
  readonly auditLog: string;
  /** Audit every granted data read and write too, not only admin, schema and cluster actions. @default false */
  readonly auditDataAccess: boolean;
  /** Host header names the HTTP listener answers besides localhost, 127.0.0.1 and [::1] (loopback listeners check it). @default [] */
  readonly allowedHosts: readonly string[];
  /** Failed authentications one address may make in a minute; past it, 429 until the minute ends. @default 20 */
  readonly authFailuresPerMinuteMax: number;
  /** `host:port` of a listener serving GET /metrics without a token (a scraper's network); empty: none. @default '' */
  readonly metricsListen: string;
  /** Status-page browser sessions held in memory at once; past it the oldest ends. @default 1024 */
  readonly statusSessionsMax: number;
  /** A status-page session ends this long after sign-in (or when its token does, if sooner). @default 28_800_000 (8 h) */
  readonly statusSessionTtlMs: number;

  /** TLS of the HTTP and public gRPC listeners; `unset` is allowed on loopback listeners only. @default 'unset' */
  readonly tlsMode: TlsMode;
  /** PEM certificate (chain) file of `files` mode. @default '' */
  readonly tlsCertFile: string;
  /** PEM private key file of `files` mode (mode 0600). @default '' */
  readonly tlsKeyFile: string;
  /** The certificate and key files, and the --certs-dir files, are checked for a change this often (SIGHUP checks at once). @default 30_000 */
  readonly tlsReloadIntervalMs: number;
  /** The CA (PEM file) that issued etcd's server certificate; needs https:// etcd URLs; empty: the system's CAs. @default '' */
  readonly etcdCaFile: string;
  /** A client certificate and key (PEM files) for an etcd with `--client-cert-auth`; both or neither, with etcdCaFile. @default '' */
  readonly etcdCertFile: string;
  readonly etcdKeyFile: string;
  /** The etcd user (etcd RBAC); needs etcdPasswordFile. @default '' */
  readonly etcdUser: string;
  /** A file holding etcdUser's password (trimmed; open to its owner only): never a flag value, never logged. @default '' */
  readonly etcdPasswordFile: string;

  /** The table Loki pushes (`POST /loki/api/v1/push`) land in, created on the first push (docs/protocols.md). @default 'loki_logs' */
  readonly lokiTable: string;
  /** Elasticsearch `_bulk`: an `_index` lands in the table named this prefix + the index (see docs/protocols.md). @default 'es_' */
  readonly esTablePrefix: string;
  /** Elasticsearch `_bulk`: the document field holding the event time (receive time when absent). @default '@timestamp' */
  readonly esTimeField: string;
  /** The Elasticsearch version `GET /` reports (shippers such as Filebeat refuse a server older than themselves). @default '8.17.0' */
  readonly esVersion: string;
  /**
   * Distinct indices (tables) one `_bulk` request may write; items for more
   * are refused (400). Each new index creates a table, and each table is a
   * write of its own. @default 100
   */
  readonly esBulkIndicesMax: number;
}

/** The defaults of every option. */
export const DEFAULT_CONFIG: NodeConfig = {
  dataDir: './sluice-data',
  httpHost: '127.0.0.1',
  httpPort: 8080,
  httpKeepAliveTimeoutMs: 72_000,
  httpHeadersTimeoutMs: 60_000,
  httpRequestTimeoutMs: 120_000,
  httpConnectionsMax: 0,
  httpBacklog: 4096,
  shards: 16,
  datacenterId: 0,
  machineId: 0,
  bodyBytesMax: 16 * MiB,
  inFlightBytesMax: 64 * MiB,
  inFlightRequestsMax: 4096,
  retryAfterSeconds: 1,
  workerBodyBytesMin: 64 * KiB,
  decodeThreads: 2,
  errorDetailsMax: 100,
  jsonDepthMax: 32,
  keyBytesMax: KiB,
  aliasTtlMs: 7 * 24 * 3600 * 1000,
  eventTimeAheadMsMax: 3_600_000,
  walSegmentBytesMax: 64 * MiB,
  walPreallocSegmentsAhead: 1,
  walFlushBytesMax: 64 * KiB,
  walFlushDelayMsMax: 200,
  walFlushMode: 'idle',
  walAdaptiveDelayMsMin: 0,
  walAdaptiveDelayMsMax: 10,
  walRecovery: 'strict',
  diskFreeBytesMin: 256 * MiB,
  applyBatchRecordsMax: 20_000,
  applyCommitsInFlightMax: 4,
  indexSyncIntervalMs: 5_000,
  replayBatchBytesMax: 16 * MiB,
  readBarrierMsMax: 10_000,
  queryLimitMax: 10_000,
  queryLimitDefault: 1_000,
  exportRowGroupRowsMax: 16_384,
  exportRowGroupBytesMax: 16 * MiB,
  exportsInFlightMax: 4,
  exportStallMs: 60_000,
  replicationFactorDefault: 3,
  importBodyBytesMax: 1024 * MiB,
  otlpLogsTable: 'otel_logs',
  shutdownGraceMs: 10_000,
  schemaAgreementWaitMsMax: 5_000,
  logLevel: 'info',
  etcdUrls: [],
  nodeId: 'n1',
  etcdPrefix: 'sluice/',
  grpcHost: '127.0.0.1',
  grpcPort: 7070,
  grpcStreamsMax: 64,
  grpcUnaryReadsMax: 64,
  grpcUnaryReadTimeoutMs: 60_000,
  grpcStreamIdleTimeoutMs: 120_000,
  grpcEnabled: false,
  grpcPeerHost: '',
  certsDir: '',
  insecureCluster: false,
  kafkaSources: [],
  advertiseHost: '',
  onPartition: 'refuse',
  leaseTtlMs: 10_000,
  keepAliveMs: 3_000,
  healthIntervalMs: 1_000,
  suspectAfterMisses: 3,
  deadAfterMs: 30_000,
  replicaTimeoutMs: 5_000,
  antiEntropyIntervalMs: 600_000,
  hintReplayIntervalMs: 1_000,
  hintBytesMaxPerPeer: 4096 * MiB,
  hintWindowMs: 3 * 3_600_000,
  hintReplayBytesPerSecMax: 8 * MiB,
  txBytesMax: 16 * MiB,
  txRecordsMax: 100_000,
  txInFlightMax: 64,
  txPendingBytesMax: 256 * MiB,
  txCommitDeadlineMs: 5_000,
  txResolveAfterMs: 15_000,
  txReadWaitMs: 15_000,
  txDecisionTimeoutMs: 10_000,
  txSweepIntervalMs: 60_000,
  txDoneRetentionMs: 3_600_000,
  maxClockOffsetMs: 500,
  authMode: 'token',
  debugEndpoints: false,
  auditLog: '',
  auditDataAccess: false,
  allowedHosts: [],
  authFailuresPerMinuteMax: 20,
  metricsListen: '',
  statusSessionsMax: 1024,
  statusSessionTtlMs: 8 * 3_600_000,
  tlsMode: 'unset',
  tlsCertFile: '',
  tlsKeyFile: '',
  tlsReloadIntervalMs: 30_000,
  etcdCaFile: '',
  etcdCertFile: '',
  etcdKeyFile: '',
  etcdUser: '',
  etcdPasswordFile: '',
  lokiTable: 'loki_logs',
  esTablePrefix: 'es_',
  esTimeField: '@timestamp',
  esVersion: '8.17.0',
  esBulkIndicesMax: 100,
};

type NumericKey = { [K in keyof NodeConfig]-?: NodeConfig[K] extends number ? K : never }[keyof NodeConfig];

/** Inclusive bounds of numeric options; a value outside is a configuration error. */
const BOUNDS: Partial<Record<NumericKey, readonly [number, number]>> = {
  httpPort: [0, 65535],
  // The Keep-Alive header speaks whole seconds; 0 (never time out) is not offered: every wait has a bound.
  httpKeepAliveTimeoutMs: [1_000, 3_600_000],
  httpHeadersTimeoutMs: [1_000, 3_600_000],
  httpRequestTimeoutMs: [1_000, 3_600_000],
  // Ten times the fs.nr_open most kernels ship (1,048,576); what the machine cannot hold is refused at start (fd-limit.ts).
  httpConnectionsMax: [0, 10_000_000],
  httpBacklog: [1, 1_000_000],
  shards: [1, 4096],
  datacenterId: [0, 31],
  machineId: [0, 31],
  bodyBytesMax: [1 * KiB, BODY_BYTES_MAX_LIMIT],
  inFlightBytesMax: [64 * KiB, 64 * 1024 * MiB],
  inFlightRequestsMax: [1, 1_000_000],
  retryAfterSeconds: [1, 3600],
  workerBodyBytesMin: [0, 1024 * MiB],
  decodeThreads: [0, 64],
  errorDetailsMax: [1, 10_000],
  jsonDepthMax: [1, 1000],
  keyBytesMax: [1, KEY_BYTES_MAX_LIMIT],
  eventTimeAheadMsMax: TABLE_LIMIT_BOUNDS.eventTimeAheadMsMax,
  walSegmentBytesMax: [64 * KiB, 4096 * MiB],
  walPreallocSegmentsAhead: [0, PREALLOC_SEGMENTS_AHEAD_MAX],
  walFlushBytesMax: [1, 256 * MiB],
  walFlushDelayMsMax: [0, 200],
  walAdaptiveDelayMsMin: [0, 200],
  walAdaptiveDelayMsMax: [0, 200],
  diskFreeBytesMin: [0, Number.MAX_SAFE_INTEGER],
  applyBatchRecordsMax: [1, 1_000_000],
  applyCommitsInFlightMax: [1, 64],
  indexSyncIntervalMs: [10, 3_600_000],
  replayBatchBytesMax: [64 * KiB, 1024 * MiB],
  readBarrierMsMax: [1, 600_000],
  queryLimitMax: [1, 1_000_000],
  queryLimitDefault: [1, 1_000_000],
  exportRowGroupRowsMax: [1, 1_048_576],
  exportRowGroupBytesMax: [64 * KiB, 1024 * MiB],
  exportsInFlightMax: [1, 1024],
  exportStallMs: [1_000, 3_600_000],
  replicationFactorDefault: [1, 7],
  importBodyBytesMax: [1 * MiB, 16 * 1024 * MiB],
  shutdownGraceMs: [0, 600_000],
  schemaAgreementWaitMsMax: [0, 600_000],
  // From 1 ms (a rename meant to take effect at once; tests) to ten years.
  aliasTtlMs: [1, 3650 * 86_400_000],
  grpcPort: [0, 65535],
  grpcStreamsMax: [1, 100_000],
  grpcUnaryReadsMax: [1, 100_000],
  // Every wait has a bound (0, no bound, is not offered), and each is one timer: at most an hour, far below 2^31 - 1 ms.
  grpcUnaryReadTimeoutMs: [1_000, 3_600_000],
  grpcStreamIdleTimeoutMs: [1_000, 3_600_000],
  leaseTtlMs: [2_000, 600_000],
  keepAliveMs: [100, 300_000],
  healthIntervalMs: [50, 60_000],
  suspectAfterMisses: [1, 100],
  deadAfterMs: [100, 86_400_000],
  replicaTimeoutMs: [10, 600_000],
  antiEntropyIntervalMs: [0, 86_400_000],
  hintReplayIntervalMs: [10, 600_000],
  hintBytesMaxPerPeer: [8 * MiB, Number.MAX_SAFE_INTEGER],
  hintWindowMs: [1_000, 30 * 86_400_000],
  hintReplayBytesPerSecMax: [64 * KiB, Number.MAX_SAFE_INTEGER],
  txBytesMax: [1 * KiB, BODY_BYTES_MAX_LIMIT],
  txRecordsMax: [1, 1_000_000],
  txInFlightMax: [1, 10_000],
  txPendingBytesMax: [1 * MiB, Number.MAX_SAFE_INTEGER],
  txCommitDeadlineMs: [10, 600_000],
  txResolveAfterMs: [100, 86_400_000],
  txReadWaitMs: [1, 600_000],
  txDecisionTimeoutMs: [10, 600_000],
  txSweepIntervalMs: [100, 86_400_000],
  txDoneRetentionMs: [1_000, 30 * 86_400_000],
  maxClockOffsetMs: [0, 60_000],
  authFailuresPerMinuteMax: [1, 100_000],
  tlsReloadIntervalMs: [100, 86_400_000],
  statusSessionsMax: [1, 100_000],
  // At least a minute: a session shorter than a few page refreshes signs the operator out while looking.
  statusSessionTtlMs: [60_000, 7 * 86_400_000],
  esBulkIndicesMax: [1, 10_000],
};

/**
 * Relations between an option and a limit outside config; each returns the
 * problem (naming both limits) when `config` breaks it. An option's upper
 * bound in BOUNDS is the largest value its relation allows, so a value past
 * the bound is reported with the reason, not only the number.
 */
const RELATIONS: Partial<Record<NumericKey, (config: NodeConfig) => string | undefined>> = {
  keyBytesMax: (c) =>
    c.keyBytesMax <= KEY_BYTES_MAX_LIMIT
      ? undefined
      : `keyBytesMax ${c.keyBytesMax} exceeds ${KEY_BYTES_MAX_LIMIT} bytes: a record's index key (${RECORD_KEY_HEAD_BYTES} + key + ${RECORD_KEY_TAIL_BYTES} bytes) must fit the engine key limit ENGINE_KEY_BYTES_MAX (${ENGINE_KEY_BYTES_MAX} bytes)`,
  bodyBytesMax: (c) =>
    walFrameBytesMax(c) + REPLICA_ENVELOPE_BYTES_MAX <= GRPC_MESSAGE_BYTES_MAX
      ? undefined
      : `bodyBytesMax ${c.bodyBytesMax} exceeds ${BODY_BYTES_MAX_LIMIT} bytes: its WAL frames (up to ${walFrameBytesMax(c)} bytes) must fit a replica message, GRPC_MESSAGE_BYTES_MAX (${GRPC_MESSAGE_BYTES_MAX} bytes) with ${REPLICA_ENVELOPE_BYTES_MAX} bytes of envelope`,
};

// The defaults and bounds agree with each other and with the limits below config.
for (const [key, [min, max]] of Object.entries(BOUNDS) as [NumericKey, readonly [number, number]][]) {
  const value = DEFAULT_CONFIG[key];
  assert(min <= value && value <= max, `default ${key} ${value} is outside its bounds [${min}, ${max}]`);
  assert.equal(RELATIONS[key]?.({ ...DEFAULT_CONFIG, [key]: max }), undefined, `the upper bound of ${key} breaks its relation`);
}
assert(KEY_BYTES_MAX_LIMIT + RECORD_KEY_HEAD_BYTES + RECORD_KEY_TAIL_BYTES <= ENGINE_KEY_BYTES_MAX, 'a record key of keyBytesMax fits the engine');
assert(KEY_BYTES_MAX_LIMIT + PK_KEY_HEAD_BYTES <= ENGINE_KEY_BYTES_MAX, 'a primary-key key of keyBytesMax fits the engine');
assert(KEY_BYTES_MAX_LIMIT <= 0xffff, 'keyLen and pkLen are u16');
assert(SNOWFLAKE_LOGICAL_DRIFT_MS_DEFAULT + 2 * TIME_CEILING_RENEW_MS <= TIME_CEILING_AHEAD_MS, "an id generator's lead and two renewals fit under the time ceiling");
assert(HLC_OWN_LEAD_MS_MAX >= SNOWFLAKE_LOGICAL_DRIFT_MS_DEFAULT + 16 + 1, "an HLC's own lead covers the id floor's lead, a batch's carry and the floor's last ms");
assert.equal(HLC_MAX_OFFSET_MS_DEFAULT, hlcRemoteAheadMsMax(DEFAULT_CONFIG.maxClockOffsetMs), "the HLC's default bound is the one the default clock offset gives");
// A Fetch reply's record may come with its dedupe key (decision 54), counted against the bound with it.
assert(FETCH_REPLY_BYTES_MAX + BODY_BYTES_MAX_LIMIT + KEY_BYTES_MAX_LIMIT + REPLICA_ENVELOPE_BYTES_MAX <= GRPC_MESSAGE_BYTES_MAX, 'a Fetch reply at its bound plus one record of the largest body and its dedupe key fits a replica message');
// A LeafEntries entry: a record key of at most the engine's limit, a version of at most 20 digits and 5 bytes of framing;
// a dedupe-key entry (decision 56) adds its record key, so one more entry and the next key take at most three keys.
assert(LEAF_ENTRIES_REPLY_BYTES_MAX + 3 * (ENGINE_KEY_BYTES_MAX + 32) + REPLICA_ENVELOPE_BYTES_MAX <= GRPC_MESSAGE_BYTES_MAX, 'a LeafEntries reply at its bound plus one entry and its next key fits a replica message');
assert(SCAN_REPLY_BYTES_MAX + BODY_BYTES_MAX_LIMIT + REPLICA_ENVELOPE_BYTES_MAX <= GRPC_MESSAGE_BYTES_MAX, 'a Scan reply at its bound plus one record of the largest body fits a replica message');
// A record's JSON text is taken as at most four times its body (escapes, base64 of bytes fields, field names of protobuf records).
assert(RANGE_PAGE_BYTES_MAX + 4 * BODY_BYTES_MAX_LIMIT <= V8_STRING_CHARS_MAX, "a range page's text at its bound plus one record of the largest body fits one V8 string");
assert(RANGE_PAGE_BYTES_MAX <= SCAN_REPLY_BYTES_MAX, 'a single-node range page holds no more than a replica sends a cluster page in one reply');
assert(HINT_SEGMENT_BYTES_MAX <= (BOUNDS.hintBytesMaxPerPeer?.[0] ?? 0), "a peer's smallest hint queue holds a whole segment");
assert(DEDUPE_PREFIX_BYTES_MAX + DEDUPE_NUMBER_CHARS_MAX <= KEY_BYTES_MAX_LIMIT, 'a dedupe key (stored as a primary key) fits where a primary key does');
assert(STATUS_REFRESH_SECONDS * 1000 * 10 <= (BOUNDS.statusSessionTtlMs?.[0] ?? 0), 'a status session outlives ten page refreshes');
assert(STATUS_RATE_SAMPLE_MS_MIN * 2 <= STATUS_RATE_WINDOW_MS, 'a rate window spans at least two counter samples');
assert(HTTP_UNREAD_BODY_LINGER_MS <= HTTP_REFUSED_LINGER_MS, 'a connection closed for its unread body lingers no longer than one refused at the cap');
assert(HTTP_UNREAD_BODY_DRAIN_BYTES_MAX < DEFAULT_CONFIG.bodyBytesMax, 'a body the node may accept can be too large to drain');
assert(walFrameBytesMax({ bodyBytesMax: BODY_BYTES_MAX_LIMIT }) + REPLICA_ENVELOPE_BYTES_MAX <= GRPC_MESSAGE_BYTES_MAX, 'the largest WAL frame fits a replica message');
assert(GRPC_RECONNECT_BACKOFF_MS_INITIAL <= GRPC_RECONNECT_BACKOFF_MS_MAX, 'a reconnect backoff grows, never shrinks');
assert(GRPC_RECONNECT_BACKOFF_MS_MAX * 2 <= PEER_CHANNEL_RESET_MS, 'a channel is replaced only after it had time to reconnect on its own');
assert(GRPC_RECONNECT_BACKOFF_MS_MAX * 2 <= DEFAULT_CONFIG.healthIntervalMs * DEFAULT_CONFIG.suspectAfterMisses, 'a peer that is back is reconnected within its suspicion window');
assert(GRPC_STREAM_BATCHES_IN_FLIGHT_MAX >= 2, 'a WriteStream pipelines: one batch waits for admission while one before it is written');
assert(GRPC_CLIENT_STREAM_WINDOW_BYTES <= PEER_HTTP2_STREAM_WINDOW_BYTES, 'a client stream held unread costs no more window than a peer stream');
assert(Number.isSafeInteger(grpcStreamsHeldBytesMax({ grpcStreamsMax: BOUNDS.grpcStreamsMax?.[1] ?? 0, bodyBytesMax: BODY_BYTES_MAX_LIMIT })), 'what streams may hold is counted exactly at the largest settings');
assert(GRPC_UNARY_WAITING_PER_READ >= 1, 'a unary Write past the reads cap can wait for a read to end');
assert(Number.isSafeInteger(grpcUnaryHeldBytesMax({ grpcUnaryReadsMax: BOUNDS.grpcUnaryReadsMax?.[1] ?? 0, bodyBytesMax: BODY_BYTES_MAX_LIMIT })), 'what unary calls being read may hold is counted exactly at the largest settings');
assert(PEER_HTTP2_STREAM_WINDOW_BYTES <= PEER_HTTP2_CONNECTION_WINDOW_BYTES && PEER_HTTP2_CONNECTION_WINDOW_BYTES <= 2 ** 31 - 1, 'a peer stream window fits its connection window, which fits HTTP/2 (2^31 - 1)');
// The compiled schema's default string limit (compile-schema.ts) bounds a bytes field's base64 text.
assert(Math.ceil(DEAD_LETTER_RAW_BYTES_MAX / 3) * 4 <= 1024 * 1024, "a dead letter's raw record fits a bytes field as base64");
assert(TABLE_LIMIT_BOUNDS.recordsPerSecond[0] > 0 && TABLE_LIMIT_BOUNDS.bytesPerSecond[0] > 0, 'a table rate is positive: a token bucket refills at it');
assert(TABLE_LIMIT_BOUNDS.recordsBurst[0] >= 1 && TABLE_LIMIT_BOUNDS.bytesBurst[0] >= 1, 'a burst holds at least one record or byte');
assert(TABLE_LIMIT_BOUNDS.bytesBurst[1] >= BODY_BYTES_MAX_LIMIT, 'a bytes burst can be raised to take the largest body a node accepts');


/** Merges overrides onto the defaults and checks every bound and relation. */
export function resolveConfig(overrides: Partial<NodeConfig> = {}): NodeConfig {
  const config: NodeConfig = withAdaptiveDelayDefaults({ ...DEFAULT_CONFIG, ...dropUndefined(overrides) }, overrides);
  const problems: { path: string; message: string }[] = [];
  for (const [key, [min, max]] of Object.entries(BOUNDS) as [NumericKey, readonly [number, number]][]) {
    const value = config[key];
    const broken = Number.isFinite(value) ? RELATIONS[key]?.(config) : undefined;
    if (broken !== undefined) problems.push({ path: key, message: broken });
    else if (!Number.isFinite(value) || value < min || value > max) {
      problems.push({ path: key, message: `${key} must be between ${min} and ${max}, got ${value}` });
    }
  }
  if (config.engine !== undefined && config.engine !== 'lmdb' && config.engine !== 'level') problems.push({ path: 'engine', message: 'engine must be lmdb or level' });
  if (config.walFlushMode !== 'idle' && config.walFlushMode !== 'adaptive') problems.push({ path: 'walFlushMode', message: 'walFlushMode must be idle or adaptive' });
  if (config.walRecovery !== 'strict' && config.walRecovery !== 'truncate') problems.push({ path: 'walRecovery', message: 'walRecovery must be strict or truncate' });
  if (config.walAdaptiveDelayMsMin > config.walAdaptiveDelayMsMax) problems.push({ path: 'walAdaptiveDelayMsMin', message: 'walAdaptiveDelayMsMin must not exceed walAdaptiveDelayMsMax' });
  // The WAL refuses the same at open (wal-options.ts), after the data dir is locked and with no flag to name.
  if (config.walAdaptiveDelayMsMax > config.walFlushDelayMsMax) {
    problems.push({ path: 'walAdaptiveDelayMsMax', message: `walAdaptiveDelayMsMax ${config.walAdaptiveDelayMsMax} must not exceed walFlushDelayMsMax (--wal-flush-delay-ms-max) ${config.walFlushDelayMsMax}: the adaptive wait is part of a write's longest wait` });
  }
  if (config.queryLimitDefault > config.queryLimitMax) problems.push({ path: 'queryLimitDefault', message: 'queryLimitDefault must not exceed queryLimitMax' });
  if (!TABLE_NAME_RE.test(config.otlpLogsTable)) problems.push({ path: 'otlpLogsTable', message: `otlpLogsTable must be a table name (^[A-Za-z][A-Za-z0-9_]{0,62}$), got ${JSON.stringify(config.otlpLogsTable)}` });
  if (config.authMode !== 'token' && config.authMode !== 'none') problems.push({ path: 'authMode', message: 'authMode must be token or none' });
  if (config.bootstrapToken !== undefined && !isValidBootstrapToken(config.bootstrapToken)) {
    problems.push({ path: 'bootstrapToken', message: `a bootstrap token is ${BOOTSTRAP_TOKEN_CHARS_MIN} to 512 printable characters without spaces (a sluice token also works)` });
  }
  problems.push(...tlsProblems(config));
  problems.push(...httpTimeoutProblems(config));
  problems.push(...grpcTimeoutProblems(config));
  if (config.onPartition !== 'refuse' && config.onPartition !== 'buffer') problems.push({ path: 'onPartition', message: 'onPartition must be refuse or buffer' });
  if (!/^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$/.test(config.nodeId)) problems.push({ path: 'nodeId', message: `nodeId must be 1-63 letters, digits, '-', '_' or '.', got ${JSON.stringify(config.nodeId)}` });
  problems.push(...peerProblems(config));
  problems.push(...clusterTimingProblems(config));
  problems.push(...etcdAccessProblems(config));
  if (!TABLE_NAME_RE.test(config.lokiTable)) problems.push({ path: 'lokiTable', message: `lokiTable (--loki-table) must be a table name (${TABLE_NAME_RE.source}), got ${JSON.stringify(config.lokiTable)}` });
  problems.push(...elasticsearchProblems(config));
  if (problems.length > 0) throw new SluiceError('INVALID_ARGUMENT', `invalid configuration: ${problems.map((p) => p.message).join('; ')}`, problems);
  return config;
}

/**
 * The cluster's timings against each other, for the values the operator
 * sets (the defaults are asserted at load too); each message names the
 * flags, since the operator set them as flags.
 */
function clusterTimingProblems(config: NodeConfig): { path: string; message: string }[] {
  const problems: { path: string; message: string }[] = [];
  if (config.keepAliveMs * 2 > config.leaseTtlMs) {
    problems.push({ path: 'keepAliveMs', message: `keepAliveMs (--keep-alive-ms) ${config.keepAliveMs} must be at most half of leaseTtlMs (--lease-ttl-ms) ${config.leaseTtlMs}: a lease outlives a missed keep-alive` });
  }
  // Not refused: a suspicion window under twice the reconnect backoff (the default keeps it, asserted at load) lets a
  // peer whose connection merely dropped look suspect for up to a second more, a cost in hints, not in safety, that
  // an operator may trade for faster detection (the test cluster does: 200 ms × 2).
  // A participant must not resolve a batch whose coordinator may still be collecting PREPARE answers or deciding (Cassandra waits 2x the write timeout before replaying a batchlog).
  if (config.txResolveAfterMs < 2 * config.replicaTimeoutMs + config.txCommitDeadlineMs) {
    problems.push({
      path: 'txResolveAfterMs',
      message: `txResolveAfterMs (--tx-resolve-after-ms) ${config.txResolveAfterMs} must be at least 2 × replicaTimeoutMs (--replica-timeout-ms) + txCommitDeadlineMs (--tx-commit-deadline-ms) (${2 * config.replicaTimeoutMs + config.txCommitDeadlineMs})`,
    });
  }
  // A table change waiting for agreement is a request in flight: a shutdown would cut it after the grace, and the client
  // could take a change etcd already took for a failed one.
  if (config.etcdUrls.length > 0 && config.schemaAgreementWaitMsMax > config.shutdownGraceMs) {
    problems.push({
      path: 'schemaAgreementWaitMsMax',
      message: `schemaAgreementWaitMsMax (--schema-agreement-wait-ms-max) ${config.schemaAgreementWaitMsMax} must be at most shutdownGraceMs ${config.shutdownGraceMs} (the shutdown grace): a table change waiting for agreement is a request in flight`,
    });
  }
  // Each participant's part of an atomic batch is one WAL frame.
  if (config.txBytesMax > walFrameBytesMax(config)) problems.push({ path: 'txBytesMax', message: `txBytesMax (--tx-bytes-max) ${config.txBytesMax} must fit one WAL frame (${walFrameBytesMax(config)} bytes)` });
  // Fences and done markers answer for a batch until every participant has resolved it.
  if (config.txDoneRetentionMs < config.txResolveAfterMs + config.txSweepIntervalMs) {
    problems.push({
      path: 'txDoneRetentionMs',
      message: `txDoneRetentionMs (--tx-done-retention-ms) ${config.txDoneRetentionMs} must be at least txResolveAfterMs (--tx-resolve-after-ms) + txSweepIntervalMs (--tx-sweep-interval-ms) (${config.txResolveAfterMs + config.txSweepIntervalMs})`,
    });
  }
  return problems;
}

/**
 * The adaptive flush delay's bounds, when not given, follow a lower
 * `walFlushDelayMsMax` down: they have no flag, and the WAL requires them
 * at or below it, so `--wal-flush-delay-ms-max 5` (within its documented
 * bound) must not leave the default 10 above it.
 */
function withAdaptiveDelayDefaults(config: NodeConfig, overrides: Partial<NodeConfig>): NodeConfig {
  const max = overrides.walAdaptiveDelayMsMax ?? Math.min(config.walAdaptiveDelayMsMax, config.walFlushDelayMsMax);
  const min = overrides.walAdaptiveDelayMsMin ?? Math.min(config.walAdaptiveDelayMsMin, max);
  return { ...config, walAdaptiveDelayMsMax: max, walAdaptiveDelayMsMin: min };
}

/**
 * The HTTP timeouts against each other. The headers are part of the
 * request: a headers timeout past the request timeout would never fire
 * (Node's http.createServer refuses the same). The keep-alive timeout is
 * not bound to either: it runs only while no request is open (an idle
 * keep-alive connection is not on Node's request-timeout list), and a
 * client sending every 90 s needs a keep-alive past a 60-s request timeout.
 */
function httpTimeoutProblems(config: NodeConfig): { path: string; message: string }[] {
  if (config.httpHeadersTimeoutMs <= config.httpRequestTimeoutMs) return [];
  return [{ path: 'httpHeadersTimeoutMs', message: `httpHeadersTimeoutMs ${config.httpHeadersTimeoutMs} must not exceed httpRequestTimeoutMs ${config.httpRequestTimeoutMs}: the headers are part of the request` }];
}

/**
 * The gRPC read bounds against each other (decision 55). A stream's wait on
 * its client includes receiving a whole batch, which a unary Write is given
 * `grpcUnaryReadTimeoutMs` for: a shorter stream bound would cut a stream's
 * batch that the same client could send as a unary Write.
 */
function grpcTimeoutProblems(config: NodeConfig): { path: string; message: string }[] {
  if (config.grpcStreamIdleTimeoutMs >= config.grpcUnaryReadTimeoutMs) return [];
  return [
    {
      path: 'grpcStreamIdleTimeoutMs',
      message: `grpcStreamIdleTimeoutMs (--grpc-stream-idle-timeout-ms) ${config.grpcStreamIdleTimeoutMs} must be at least grpcUnaryReadTimeoutMs (--grpc-unary-read-timeout-ms) ${config.grpcUnaryReadTimeoutMs}: a stream's wait includes receiving a whole batch`,
    },
  ];
}

/** A certificate and key come together, and only in `files` mode. */
function tlsProblems(config: NodeConfig): { path: string; message: string }[] {
  if (!['unset', 'files', 'auto', 'off'].includes(config.tlsMode)) return [{ path: 'tlsMode', message: 'tlsMode must be unset, files, auto or off' }];
  const files = config.tlsCertFile !== '' || config.tlsKeyFile !== '';
  if (config.tlsMode === 'files' && (config.tlsCertFile === '' || config.tlsKeyFile === '')) return [{ path: 'tlsMode', message: 'TLS from files needs both a certificate and a key file' }];
  if (config.tlsMode !== 'files' && files) return [{ path: 'tlsMode', message: `a TLS certificate or key file goes with tlsMode files, not ${config.tlsMode}` }];
  return [];
}

/** Problems of the etcd URLs and credentials: options that go together, and TLS files only with https:// URLs. */
function etcdAccessProblems(c: NodeConfig): { path: string; message: string }[] {
  const problems: { path: string; message: string }[] = [];
  const add = (path: keyof NodeConfig, message: string): void => {
    problems.push({ path, message });
  };
  const tls = c.etcdCaFile !== '' || c.etcdCertFile !== '' || c.etcdKeyFile !== '';
  if (c.etcdUrls.length === 0) {
    if (tls || c.etcdUser !== '' || c.etcdPasswordFile !== '') add('etcdUrls', 'the etcd credentials (--etcd-ca, --etcd-cert, --etcd-key, --etcd-user, --etcd-password-file) need etcd URLs (--etcd)');
    return problems;
  }
  const https = c.etcdUrls.filter((u) => u.startsWith('https://')).length;
  // etcd3 dials every URL with the same credentials.
  if (https !== 0 && https !== c.etcdUrls.length) add('etcdUrls', 'etcd URLs must be all https:// or all http://');
  if (tls && https === 0) add('etcdUrls', 'etcd TLS files (--etcd-ca, --etcd-cert, --etcd-key) need https:// etcd URLs');
  if ((c.etcdCertFile === '') !== (c.etcdKeyFile === '')) add('etcdCertFile', 'etcdCertFile (--etcd-cert) and etcdKeyFile (--etcd-key) go together');
  if (c.etcdCertFile !== '' && c.etcdCaFile === '') add('etcdCaFile', 'a client certificate (--etcd-cert) needs the CA of etcd\'s server certificate (--etcd-ca)');
  if ((c.etcdUser === '') !== (c.etcdPasswordFile === '')) add('etcdUser', 'etcdUser (--etcd-user) and etcdPasswordFile (--etcd-password-file) go together');
  return problems;
}

/**
 * Where the peer listener binds: `--grpc-peer`, by default the client gRPC
 * host and its port + 1 (a free port when the client port is picked freely).
 */
export function grpcPeerListen(config: Pick<NodeConfig, 'grpcHost' | 'grpcPort' | 'grpcPeerHost' | 'grpcPeerPort'>): { host: string; port: number } {
  const host = config.grpcPeerHost === '' ? config.grpcHost : config.grpcPeerHost;
  if (config.grpcPeerPort !== undefined) return { host, port: config.grpcPeerPort };
  return { host, port: config.grpcPort === 0 ? 0 : config.grpcPort + 1 };
}

/**
 * What is wrong with the peer listener's options of a cluster node. A node
 * that joins a cluster must say how its peers prove who they are: an open
 * internode port lets anyone who reaches it write any replica.
 */
function peerProblems(config: NodeConfig): { path: string; message: string }[] {
  if (config.etcdUrls.length === 0) return singleNodePeerProblems(config);
  const problems: { path: string; message: string }[] = [];
  if (config.certsDir === '' && !config.insecureCluster) {
    problems.push({
      path: 'certsDir',
      message:
        'a cluster node (--etcd) needs peer certificates: --certs-dir DIR holding ca.crt, node.crt and node.key, made with ' +
        '`sluice cert create-ca --certs-dir certs --ca-key safe/ca.key` and `sluice cert create-node NODE_ID HOST... --certs-dir certs/NODE_ID --ca-cert certs/ca.crt --ca-key safe/ca.key`; ' +
        'or --insecure-cluster for a plaintext peer port (development only: anyone who reaches it can write every replica)',
    });
  }
  if (config.certsDir !== '' && config.insecureCluster) problems.push({ path: 'insecureCluster', message: 'give either --certs-dir or --insecure-cluster, not both' });
  const peer = grpcPeerListen(config);
  if (!Number.isInteger(peer.port) || peer.port < 0 || peer.port > 65535) {
    problems.push({ path: 'grpcPeerPort', message: `the peer port must be between 0 and 65535, got ${peer.port}${config.grpcPeerPort === undefined ? ' (the --grpc port + 1): give --grpc-peer' : ''}` });
  } else if (peer.port !== 0 && peer.port === config.grpcPort && peer.host === config.grpcHost) {
    problems.push({ path: 'grpcPeerPort', message: `--grpc-peer ${peer.host}:${peer.port} is the --grpc address: clients and peers are served on separate listeners` });
  }
  return problems;
}

/** A single node has no peer listener: its options, given without `--etcd`, would be ignored, so they are refused. */
function singleNodePeerProblems(config: NodeConfig): { path: string; message: string }[] {
  const problems: { path: string; message: string }[] = [];
  if (config.grpcPeerHost !== '' || config.grpcPeerPort !== undefined) problems.push({ path: 'grpcPeerPort', message: '--grpc-peer needs --etcd (grpcPeerPort without etcdUrls): a single node has no peer listener' });
  if (config.certsDir !== '') problems.push({ path: 'certsDir', message: '--certs-dir needs --etcd (certsDir without etcdUrls): peer certificates are for a cluster node\'s peer listener' });
  if (config.insecureCluster) problems.push({ path: 'insecureCluster', message: '--insecure-cluster needs --etcd (insecureCluster without etcdUrls): a single node has no peer port' });
  return problems;
}

/** The Elasticsearch `_bulk` options: a prefix that keeps table names valid, a time field, a dotted version. */
function elasticsearchProblems(c: NodeConfig): { path: string; message: string }[] {
  const problems: { path: string; message: string }[] = [];
  // Empty is allowed: an index name that is a valid table name is then the table's name.
  if (!/^(?:[A-Za-z][A-Za-z0-9_]{0,31})?$/.test(c.esTablePrefix)) problems.push({ path: 'esTablePrefix', message: `esTablePrefix must be empty or 1-32 letters, digits and '_' starting with a letter, got ${JSON.stringify(c.esTablePrefix)}` });
  if (c.esTimeField.length === 0 || c.esTimeField.length > 256) problems.push({ path: 'esTimeField', message: 'esTimeField must be 1-256 characters' });
  if (!/^[0-9]{1,3}\.[0-9]{1,3}\.[0-9]{1,3}$/.test(c.esVersion)) problems.push({ path: 'esVersion', message: `esVersion must look like 8.17.0, got ${JSON.stringify(c.esVersion)}` });
  return problems;
}

function dropUndefined<T extends object>(value: T): Partial<T> {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as Partial<T>;
}
assert(DEFAULT_CONFIG.grpcStreamIdleTimeoutMs >= DEFAULT_CONFIG.grpcUnaryReadTimeoutMs, "a stream's wait on its client includes a whole message, which a unary Write gets grpcUnaryReadTimeoutMs for");
assert(RATE_LIMITED_PAUSE_MS_MAX > 0 && RATE_LIMITED_PAUSE_MS_MAX <= 2 ** 31 - 1, 'a RATE_LIMITED pause is one timer: Node fires a timer past 2^31 - 1 ms after 1 ms');
