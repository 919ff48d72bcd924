/**
 * config.ts: bounds, and the relations between options and the limits
 * below config (the index engine's key size, the replica message size).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { getDefaultSettings } from 'node:http2';
import {
  BODY_BYTES_MAX_LIMIT,
  DEDUPE_NUMBER_CHARS_MAX,
  DEDUPE_PREFIX_BYTES_MAX,
  DEFAULT_CONFIG,
  GRPC_CLIENT_STREAM_WINDOW_BYTES,
  GRPC_RECONNECT_BACKOFF_MS_MAX,
  GRPC_MESSAGE_BYTES_MAX,
  HLC_OWN_LEAD_MS_MAX,
  GRPC_STREAM_BATCHES_IN_FLIGHT_MAX,
  KEY_BYTES_MAX_LIMIT,
  PK_KEY_HEAD_BYTES,
  RECORD_KEY_TAIL_BYTES,
  REPLICA_ENVELOPE_BYTES_MAX,
  TABLE_LIMIT_BOUNDS,
  clientGrpcMessageBytesMax,
  grpcPeerListen,
  hlcRemoteAheadMsMax,
  grpcStreamsHeldBytesMax,
  grpcUnaryHeldBytesMax,
  grpcUnaryWaitingMax,
  GRPC_UNARY_WAITING_PER_READ,
  resolveConfig,
  walFrameBytesMax,
} from '../src/config.ts';
import { isSluiceError } from '../src/core/errors.ts';
import { HLC_MAX_OFFSET_MS_DEFAULT } from '../src/core/hlc.ts';
import { ENGINE_KEY_BYTES_MAX } from '../src/storage/engine/storage-engine.ts';
import { RECORD_KEY_HEAD_BYTES, pkKey, recordKey } from '../src/storage/index/key-layout.ts';
import { encodeMessage } from '../src/cluster/transport/replica-messages.ts';
import { resolveWalOptions } from '../src/storage/wal/wal-options.ts';

const MiB = 1024 * 1024;

/** Asserts resolveConfig refuses `overrides` with one INVALID_ARGUMENT problem at `path` whose message matches every pattern. */
function refuses(overrides: Parameters<typeof resolveConfig>[0], path: string, ...patterns: RegExp[]): void {
  assert.throws(
    () => resolveConfig(overrides),
    (err: unknown) => {
      assert.ok(isSluiceError(err, 'INVALID_ARGUMENT'));
      assert.deepEqual(err.details.map((d) => d.path), [path]);
      for (const p of patterns) assert.match(err.message, p);
      return true;
    },
  );
}

test('the defaults resolve, and every default lies within its bounds', () => {
  assert.deepEqual(resolveConfig(), DEFAULT_CONFIG);
});

test('TLS: a certificate and key come together, and only with tlsMode files', () => {
  refuses({ tlsMode: 'files', tlsCertFile: 'a.crt' }, 'tlsMode', /needs both a certificate and a key/);
  refuses({ tlsMode: 'auto', tlsCertFile: 'a.crt', tlsKeyFile: 'a.key' }, 'tlsMode', /goes with tlsMode files, not auto/);
  refuses({ tlsReloadIntervalMs: 10 }, 'tlsReloadIntervalMs', /tlsReloadIntervalMs must be between 100/);
  assert.equal(resolveConfig({ tlsMode: 'files', tlsCertFile: 'a.crt', tlsKeyFile: 'a.key' }).tlsMode, 'files');
});

test('KEY_BYTES_MAX_LIMIT is what the key layout leaves of the engine key limit (1978 - 9 - 16 = 1953)', () => {
  assert.equal(KEY_BYTES_MAX_LIMIT, 1953);
  // Built with the real key builders, so a change of layout fails here.
  const key = Buffer.alloc(KEY_BYTES_MAX_LIMIT, 0x61);
  const src = Buffer.concat([key, Buffer.alloc(16)]);
  const longest = recordKey(65535, 0xffff_ffff, src, 0, key.length, key.length, key.length + 8);
  assert.equal(longest.length, ENGINE_KEY_BYTES_MAX, 'the record key of the longest shard key is exactly the engine limit');
  assert.equal(longest.length, RECORD_KEY_HEAD_BYTES + KEY_BYTES_MAX_LIMIT + RECORD_KEY_TAIL_BYTES);
  const pk = pkKey(65535, 0xffff_ffff, key);
  assert.equal(pk.length, PK_KEY_HEAD_BYTES + KEY_BYTES_MAX_LIMIT);
  assert.ok(pk.length <= ENGINE_KEY_BYTES_MAX, 'the primary-key key of the longest pk fits too');
});

test('the longest dedupe key (prefix and zero-padded number, stored as a primary key) fits the engine', () => {
  const longest = Buffer.alloc(DEDUPE_PREFIX_BYTES_MAX + DEDUPE_NUMBER_CHARS_MAX, 0x61);
  assert.ok(longest.length <= KEY_BYTES_MAX_LIMIT);
  assert.ok(pkKey(65535, 0xffff_ffff, longest).length <= ENGINE_KEY_BYTES_MAX);
});

test('keyBytesMax: the largest legal value is accepted, one more is refused naming both limits', () => {
  assert.equal(resolveConfig({ keyBytesMax: KEY_BYTES_MAX_LIMIT }).keyBytesMax, KEY_BYTES_MAX_LIMIT);
  refuses({ keyBytesMax: KEY_BYTES_MAX_LIMIT + 1 }, 'keyBytesMax', /keyBytesMax 1954 exceeds 1953 bytes/, /ENGINE_KEY_BYTES_MAX \(1978 bytes\)/);
  refuses({ keyBytesMax: 64 * 1024 - 1 }, 'keyBytesMax', /ENGINE_KEY_BYTES_MAX/);
  refuses({ keyBytesMax: 0 }, 'keyBytesMax', /keyBytesMax must be between 1 and 1953, got 0/);
  refuses({ keyBytesMax: Number.NaN }, 'keyBytesMax', /keyBytesMax must be between 1 and 1953, got NaN/);
});

test('walFrameBytesMax is max(64 MiB, 4 × bodyBytesMax), as the WAL and hint queues had it', () => {
  assert.equal(walFrameBytesMax(DEFAULT_CONFIG), 64 * MiB);
  assert.equal(walFrameBytesMax({ bodyBytesMax: 1024 }), 64 * MiB);
  assert.equal(walFrameBytesMax({ bodyBytesMax: 32 * MiB }), 128 * MiB);
});

test('bodyBytesMax: the largest legal value makes frames that fit a replica message; one more is refused naming both limits', () => {
  assert.equal(BODY_BYTES_MAX_LIMIT, 64 * MiB - 1024);
  assert.equal(resolveConfig({ bodyBytesMax: BODY_BYTES_MAX_LIMIT }).bodyBytesMax, BODY_BYTES_MAX_LIMIT);
  assert.ok(walFrameBytesMax({ bodyBytesMax: BODY_BYTES_MAX_LIMIT }) + REPLICA_ENVELOPE_BYTES_MAX <= GRPC_MESSAGE_BYTES_MAX);
  refuses({ bodyBytesMax: BODY_BYTES_MAX_LIMIT + 1 }, 'bodyBytesMax', /bodyBytesMax 67107841 exceeds 67107840 bytes/, /GRPC_MESSAGE_BYTES_MAX \(268435456 bytes\)/);
  // What the old bound allowed: 4 GiB frames that no peer could receive.
  refuses({ bodyBytesMax: 1024 * MiB }, 'bodyBytesMax', /WAL frames \(up to 4294967296 bytes\)/, /GRPC_MESSAGE_BYTES_MAX/);
  refuses({ bodyBytesMax: 1 }, 'bodyBytesMax', /bodyBytesMax must be between 1024 and 67107840, got 1/);
});

test('REPLICA_ENVELOPE_BYTES_MAX covers what a replica Write adds around its batch', () => {
  const batch = Buffer.alloc(100_000);
  const message = encodeMessage({ batch, epoch: Number.MAX_SAFE_INTEGER });
  assert.ok(message.length - batch.length <= REPLICA_ENVELOPE_BYTES_MAX, `envelope of ${message.length - batch.length} bytes`);
});

test('a cluster node needs --certs-dir or --insecure-cluster (not both); the peer listener defaults to the --grpc port + 1', () => {
  const cluster = { etcdUrls: ['http://127.0.0.1:2379'] };
  refuses(cluster, 'certsDir', /needs peer certificates: --certs-dir DIR/, /sluice cert create-ca/, /sluice cert create-node/, /--insecure-cluster/);
  refuses({ ...cluster, certsDir: 'certs', insecureCluster: true }, 'insecureCluster', /either --certs-dir or --insecure-cluster/);
  assert.equal(resolveConfig({ ...cluster, insecureCluster: true }).insecureCluster, true);
  assert.deepEqual(grpcPeerListen(resolveConfig({ ...cluster, certsDir: 'certs' })), { host: '127.0.0.1', port: 7071 });
  assert.deepEqual(grpcPeerListen(resolveConfig({ ...cluster, certsDir: 'certs', grpcHost: '10.0.0.1', grpcPort: 0 })), { host: '10.0.0.1', port: 0 }, 'a free client port: a free peer port');
  assert.deepEqual(grpcPeerListen(resolveConfig({ ...cluster, certsDir: 'certs', grpcPeerHost: '10.0.0.2', grpcPeerPort: 9000 })), { host: '10.0.0.2', port: 9000 });
  refuses({ ...cluster, certsDir: 'certs', grpcPort: 65535 }, 'grpcPeerPort', /got 65536 \(the --grpc port \+ 1\): give --grpc-peer/);
  refuses({ ...cluster, certsDir: 'certs', grpcPeerPort: 7070 }, 'grpcPeerPort', /is the --grpc address/);
  assert.equal(resolveConfig({ ...cluster, certsDir: 'certs', grpcPeerHost: '10.0.0.2', grpcPeerPort: 7070 }).grpcPeerPort, 7070, 'the same port on another host');
  assert.equal(resolveConfig({ grpcPort: 65535 }).grpcPort, 65535, 'a single node has no peer listener to check');
});

test('HTTP connections: keep-alive, headers and request timeouts, cap and backlog are bounded; the headers fit in the request timeout', () => {
  const d = resolveConfig();
  assert.deepEqual(
    [d.httpKeepAliveTimeoutMs, d.httpHeadersTimeoutMs, d.httpRequestTimeoutMs, d.httpConnectionsMax, d.httpBacklog],
    [72_000, 60_000, 120_000, 0, 4096],
    'the defaults: 0 connections means derived from the open-file limit',
  );
  refuses({ httpKeepAliveTimeoutMs: 0 }, 'httpKeepAliveTimeoutMs', /httpKeepAliveTimeoutMs must be between 1000 and 3600000, got 0/);
  refuses({ httpKeepAliveTimeoutMs: 999 }, 'httpKeepAliveTimeoutMs', /between 1000/);
  refuses({ httpConnectionsMax: -1 }, 'httpConnectionsMax', /httpConnectionsMax must be between 0 and 10000000/);
  refuses({ httpConnectionsMax: 10_000_001 }, 'httpConnectionsMax', /between 0 and 10000000/);
  refuses({ httpBacklog: 0 }, 'httpBacklog', /httpBacklog must be between 1 and 1000000/);
  refuses({ httpHeadersTimeoutMs: 120_001 }, 'httpHeadersTimeoutMs', /httpHeadersTimeoutMs 120001 must not exceed httpRequestTimeoutMs 120000/);
  refuses({ httpRequestTimeoutMs: 30_000 }, 'httpHeadersTimeoutMs', /must not exceed httpRequestTimeoutMs 30000/);
  // No relation ties the keep-alive to the request timeout: idle connections are not timed as requests.
  assert.equal(resolveConfig({ httpKeepAliveTimeoutMs: 300_000, httpRequestTimeoutMs: 60_000, httpHeadersTimeoutMs: 60_000 }).httpKeepAliveTimeoutMs, 300_000);
  assert.equal(resolveConfig({ httpConnectionsMax: 5_000_000 }).httpConnectionsMax, 5_000_000, 'what the machine cannot hold is refused at start, not here');
});

test('lokiTable: the Loki push table is loki_logs by default and must be a table name', () => {
  assert.equal(resolveConfig().lokiTable, 'loki_logs');
  assert.equal(resolveConfig({ lokiTable: 'shipped_logs' }).lokiTable, 'shipped_logs');
  refuses({ lokiTable: 'loki-logs' }, 'lokiTable', /lokiTable \(--loki-table\) must be a table name/);
  refuses({ lokiTable: '' }, 'lokiTable', /lokiTable/);
});

test('status-page sessions: a bound and an expiry, both bounded; a session outlives several page refreshes', () => {
  const d = resolveConfig();
  assert.deepEqual([d.statusSessionsMax, d.statusSessionTtlMs], [1024, 8 * 3_600_000]);
  refuses({ statusSessionsMax: 0 }, 'statusSessionsMax', /statusSessionsMax must be between 1 and 100000/);
  refuses({ statusSessionTtlMs: 59_999 }, 'statusSessionTtlMs', /statusSessionTtlMs must be between 60000/);
  refuses({ statusSessionTtlMs: 7 * 86_400_000 + 1 }, 'statusSessionTtlMs', /between 60000 and 604800000/);
  assert.equal(resolveConfig({ statusSessionTtlMs: 60_000 }).statusSessionTtlMs, 60_000);
});

test('eventTimeAheadMsMax: 1 h by default, bounded like a table\'s own bound (0 refuses any time ahead of the clock)', () => {
  assert.equal(DEFAULT_CONFIG.eventTimeAheadMsMax, 3_600_000);
  assert.equal(resolveConfig({ eventTimeAheadMsMax: 0 }).eventTimeAheadMsMax, 0);
  const max = TABLE_LIMIT_BOUNDS.eventTimeAheadMsMax[1];
  assert.equal(resolveConfig({ eventTimeAheadMsMax: max }).eventTimeAheadMsMax, max);
  refuses({ eventTimeAheadMsMax: -1 }, 'eventTimeAheadMsMax', /between 0 and/);
  refuses({ eventTimeAheadMsMax: max + 1 }, 'eventTimeAheadMsMax', /between 0 and/);
});

test('Elasticsearch _bulk: a table prefix that keeps table names valid (or none), a time field, a dotted version', () => {
  assert.equal(resolveConfig({ esTablePrefix: '' }).esTablePrefix, '');
  assert.equal(resolveConfig({ esTablePrefix: 'logs_' }).esTablePrefix, 'logs_');
  refuses({ esTablePrefix: '_es' }, 'esTablePrefix', /starting with a letter/);
  refuses({ esTablePrefix: 'es-' }, 'esTablePrefix', /letters, digits and '_'/);
  refuses({ esTablePrefix: 'p'.repeat(33) }, 'esTablePrefix', /1-32/);
  refuses({ esTimeField: '' }, 'esTimeField', /1-256 characters/);
  assert.equal(resolveConfig({ esVersion: '9.1.0' }).esVersion, '9.1.0');
  refuses({ esVersion: '8' }, 'esVersion', /look like 8.17.0/);
});

test('the HLC refuses peers\' versions past the configured clock offset plus the larger of it and an HLC\'s own lead', () => {
  assert.equal(hlcRemoteAheadMsMax(DEFAULT_CONFIG.maxClockOffsetMs), HLC_MAX_OFFSET_MS_DEFAULT);
  assert.equal(hlcRemoteAheadMsMax(500), 500 + HLC_OWN_LEAD_MS_MAX);
  assert.equal(hlcRemoteAheadMsMax(0), HLC_OWN_LEAD_MS_MAX, 'a node restarted onto its id floor is still taken');
  assert.equal(hlcRemoteAheadMsMax(5_000), 10_000, 'a snapshot taken the offset ahead of a clock the offset ahead');
  assert.ok(hlcRemoteAheadMsMax(60_000) < 2 * 60_000 + HLC_OWN_LEAD_MS_MAX);
});

test('walFlushDelayMsMax: every value its bound allows (0 to 200) gives the WAL flush delays it accepts; an adaptive bound past it is refused here', () => {
  for (const walFlushDelayMsMax of [0, 5, 9, 10, 200]) {
    const c = resolveConfig({ walFlushDelayMsMax });
    assert.ok(c.walAdaptiveDelayMsMin <= c.walAdaptiveDelayMsMax && c.walAdaptiveDelayMsMax <= walFlushDelayMsMax, `walFlushDelayMsMax ${walFlushDelayMsMax}: adaptive ${c.walAdaptiveDelayMsMin}..${c.walAdaptiveDelayMsMax}`);
    // The WAL's own check (local-store.ts passes these three), as `sluice serve --wal-flush-delay-ms-max` reaches it.
    resolveWalOptions({ dir: '/nonexistent', flushDelayMsMax: c.walFlushDelayMsMax, adaptiveDelayMsMin: c.walAdaptiveDelayMsMin, adaptiveDelayMsMax: c.walAdaptiveDelayMsMax });
  }
  assert.equal(resolveConfig({ walFlushDelayMsMax: 200 }).walAdaptiveDelayMsMax, DEFAULT_CONFIG.walAdaptiveDelayMsMax, 'a flush delay above the adaptive default leaves it as it is');
  refuses({ walFlushDelayMsMax: 5, walAdaptiveDelayMsMax: 8 }, 'walAdaptiveDelayMsMax', /walAdaptiveDelayMsMax 8 must not exceed walFlushDelayMsMax \(--wal-flush-delay-ms-max\) 5/);
});

test('gRPC WriteStreams: a bounded number open, each holding one batch and its HTTP/2 window outside admission (decision 51)', () => {
  assert.equal(DEFAULT_CONFIG.grpcStreamsMax, 64);
  refuses({ grpcStreamsMax: 0 }, 'grpcStreamsMax', /between 1 and 100000/);
  refuses({ grpcStreamsMax: 100_001 }, 'grpcStreamsMax', /between 1 and 100000/);
  // The client listener keeps Node's window (only the peer listener widens its own): what a client sends unread.
  assert.equal(GRPC_CLIENT_STREAM_WINDOW_BYTES, getDefaultSettings().initialWindowSize);
  // One batch waits for admission while those before it are written.
  assert.ok(GRPC_STREAM_BATCHES_IN_FLIGHT_MAX >= 2);
  // A stream's one message is read whole before its size is checked: at most the client port's message limit.
  assert.equal(clientGrpcMessageBytesMax(DEFAULT_CONFIG), 33 * MiB);
  assert.equal(grpcStreamsHeldBytesMax(DEFAULT_CONFIG), 64 * (33 * MiB + 65_535));
  assert.ok(Math.abs(grpcStreamsHeldBytesMax(DEFAULT_CONFIG) / (1024 * MiB) - 2.1) < 0.05, 'the ≈ 2.1 GiB docs/operations.md gives');
  assert.ok(Number.isSafeInteger(grpcStreamsHeldBytesMax({ grpcStreamsMax: 100_000, bodyBytesMax: BODY_BYTES_MAX_LIMIT })));
});

test('a suspicion window under the reconnect time is the operator\'s trade (faster detection, more hints): allowed; the defaults keep it', () => {
  assert.ok(GRPC_RECONNECT_BACKOFF_MS_MAX * 2 <= DEFAULT_CONFIG.healthIntervalMs * DEFAULT_CONFIG.suspectAfterMisses);
  // The test cluster's settings (test/process/cluster.ts): a dead peer suspected within 0.4 s.
  assert.equal(resolveConfig({ healthIntervalMs: 200, suspectAfterMisses: 2 }).suspectAfterMisses, 2);
});

test('relations between options name the flags the operator sets', () => {
  refuses({ keepAliveMs: 6_000 }, 'keepAliveMs', /keepAliveMs \(--keep-alive-ms\) 6000 must be at most half of leaseTtlMs \(--lease-ttl-ms\) 10000/);
  refuses({ txResolveAfterMs: 1_000 }, 'txResolveAfterMs', /--tx-resolve-after-ms/, /--replica-timeout-ms/, /--tx-commit-deadline-ms/);
  refuses({ txDoneRetentionMs: 10_000 }, 'txDoneRetentionMs', /--tx-done-retention-ms/, /--tx-resolve-after-ms/, /--tx-sweep-interval-ms/);
});

test('schemaAgreementWaitMsMax: a cluster node waits at most its shutdown grace; a single node never waits, so any bounded value is accepted', () => {
  const cluster = { etcdUrls: ['http://127.0.0.1:2379'], insecureCluster: true };
  refuses({ ...cluster, schemaAgreementWaitMsMax: 10_001 }, 'schemaAgreementWaitMsMax', /--schema-agreement-wait-ms-max\) 10001 must be at most shutdownGraceMs 10000/);
  assert.equal(resolveConfig({ ...cluster, schemaAgreementWaitMsMax: 10_000 }).schemaAgreementWaitMsMax, 10_000);
  assert.equal(resolveConfig({ schemaAgreementWaitMsMax: 60_000 }).schemaAgreementWaitMsMax, 60_000);
  refuses({ schemaAgreementWaitMsMax: 600_001 }, 'schemaAgreementWaitMsMax');
});

test('the peer listener options need --etcd: a single node refuses them instead of ignoring them', () => {
  refuses({ certsDir: 'certs' }, 'certsDir', /--certs-dir needs --etcd/);
  refuses({ insecureCluster: true }, 'insecureCluster', /--insecure-cluster needs --etcd/);
  refuses({ grpcPeerHost: '127.0.0.1', grpcPeerPort: 7171 }, 'grpcPeerPort', /--grpc-peer needs --etcd/);
  assert.equal(resolveConfig({ etcdUrls: ['http://127.0.0.1:2379'], certsDir: 'certs', grpcPeerHost: '127.0.0.1', grpcPeerPort: 7171 }).grpcPeerPort, 7171);
});

test('gRPC unary Writes: a bounded number read at once, each holding one message and its HTTP/2 window outside admission, and a bounded number waiting unread (decision 53)', () => {
  assert.equal(DEFAULT_CONFIG.grpcUnaryReadsMax, 64);
  refuses({ grpcUnaryReadsMax: 0 }, 'grpcUnaryReadsMax', /between 1 and 100000/);
  refuses({ grpcUnaryReadsMax: 100_001 }, 'grpcUnaryReadsMax', /between 1 and 100000/);
  // A call past the reads cap waits rather than failing, and the waiting are bounded too.
  assert.ok(GRPC_UNARY_WAITING_PER_READ >= 1);
  assert.equal(grpcUnaryWaitingMax(DEFAULT_CONFIG), 1_024);
  // The same bound per call read as per stream (the message limit plus the window); a waiting call holds its window only.
  assert.equal(grpcUnaryHeldBytesMax(DEFAULT_CONFIG), grpcStreamsHeldBytesMax({ grpcStreamsMax: DEFAULT_CONFIG.grpcUnaryReadsMax, bodyBytesMax: DEFAULT_CONFIG.bodyBytesMax }) + 1_024 * GRPC_CLIENT_STREAM_WINDOW_BYTES);
  assert.ok(Math.abs(grpcUnaryHeldBytesMax(DEFAULT_CONFIG) / (1024 * MiB) - 2.1) < 0.05, 'the ≈ 2.1 GiB docs/operations.md gives');
  // With 1 MiB batches each call read holds 1 MiB, not the message limit: the ≈ 132 MiB docs/operations.md gives.
  assert.ok(Math.abs((64 * (MiB + GRPC_CLIENT_STREAM_WINDOW_BYTES) + 1_024 * GRPC_CLIENT_STREAM_WINDOW_BYTES) / MiB - 132) < 1);
  assert.ok(Number.isSafeInteger(grpcUnaryHeldBytesMax({ grpcUnaryReadsMax: 100_000, bodyBytesMax: BODY_BYTES_MAX_LIMIT })));
});

test('gRPC read bounds: a unary Write delivers its message within 60 s of taking a read slot, a WriteStream waits on its client at most 120 s; both bounded, the stream bound at least the unary one (decision 55)', () => {
  const d = resolveConfig();
  assert.deepEqual([d.grpcUnaryReadTimeoutMs, d.grpcStreamIdleTimeoutMs], [60_000, 120_000]);
  refuses({ grpcUnaryReadTimeoutMs: 999 }, 'grpcUnaryReadTimeoutMs', /grpcUnaryReadTimeoutMs must be between 1000 and 3600000, got 999/);
  refuses({ grpcStreamIdleTimeoutMs: 3_600_001 }, 'grpcStreamIdleTimeoutMs', /between 1000 and 3600000/);
  refuses({ grpcStreamIdleTimeoutMs: 30_000 }, 'grpcStreamIdleTimeoutMs', /grpcStreamIdleTimeoutMs \(--grpc-stream-idle-timeout-ms\) 30000 must be at least grpcUnaryReadTimeoutMs \(--grpc-unary-read-timeout-ms\) 60000/);
  refuses({ grpcUnaryReadTimeoutMs: 300_000 }, 'grpcStreamIdleTimeoutMs', /must be at least grpcUnaryReadTimeoutMs/);
  assert.equal(resolveConfig({ grpcUnaryReadTimeoutMs: 5_000, grpcStreamIdleTimeoutMs: 5_000 }).grpcStreamIdleTimeoutMs, 5_000, 'equal bounds are allowed');
  // At the default body limit the unary bound asks a client for at least ~280 KB/s.
  assert.ok(d.bodyBytesMax / (d.grpcUnaryReadTimeoutMs / 1000) < 300_000);
});
