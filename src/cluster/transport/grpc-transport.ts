/**
 * The replica transport over gRPC: two channels per peer address (gRPC
 * multiplexes calls over each: one for data, one for the two-phase
 * commit's small calls), to the peer's listener, with the
 * credentials of `PeerSecurity` (mutual TLS: this node's certificate, and a
 * server that must prove to be the node etcd lists at that address; a
 * server that does not is as unreachable as a dead one). Calls carry a
 * deadline; a peer that does not answer in time is reported as NO_QUORUM
 * so the coordinator can count it as a missing ack and hint the write.
 * Replica Writes travel on one write stream per peer (write-stream.ts,
 * decision 33) with the same per-write deadline, or as unary calls to a
 * peer that does not serve the stream. When the node's certificates are
 * reloaded, `renewChannels` replaces every channel with one made from the
 * new credentials.
 */
import { status as Status, makeGenericClientConstructor, type Client, type ClientDuplexStream, type Metadata, type ServiceError } from '@grpc/grpc-js';
import { service as healthService } from 'grpc-health-check';
import { SluiceError, isSluiceError } from '../../core/errors.ts';
import { GRPC_MESSAGE_BYTES_MAX, PEER_CHANNEL_RESET_MS, PEER_HTTP2_STREAM_WINDOW_BYTES, GRPC_RECONNECT_BACKOFF_MS_INITIAL, GRPC_RECONNECT_BACKOFF_MS_MAX, REPLICA_STREAM_RETRY_MS } from '../../config.ts';
import { decodeReply, type ReplicaMethod, type ReplicaMethods, type WriteReply, type WriteRequest } from './replica-messages.ts';
import type { ReplicaTransport } from './replica-transport.ts';
import type { PeerSecurity } from './peer-tls.ts';
import { encodeMessage, peerCallError, protocolMetadata, replicaServiceDefinition } from './replica-service.ts';
import { PeerWriteStream, StreamRefused } from './write-stream.ts';
import { WRITE_STREAM_METHOD } from './write-stream-messages.ts';

const ReplicaClient = makeGenericClientConstructor(replicaServiceDefinition, 'Replica');
const HealthClient = makeGenericClientConstructor(healthService, 'Health');

type UnaryFn = (request: unknown, options: { deadline: number }, callback: (err: ServiceError | null, reply: unknown) => void) => void;
type UnaryWithMetadataFn = (request: unknown, metadata: Metadata, options: { deadline: number }, callback: (err: ServiceError | null, reply: unknown) => void) => void;

interface Peer {
  readonly address: string;
  readonly replica: Client;
  /** The same service on a connection of its own, for the small calls that decide atomic batches. */
  readonly control: Client;
  readonly health: Client;
  /** Replica Writes, on the replica client's connection. */
  readonly writes: PeerWriteStream;
  /** Until when (ms) Writes go as unary calls: the peer did not serve the stream. */
  unaryUntil: number;
  /** Since when (ms) every health check failed; undefined after one passed. */
  failingSince: number | undefined;
}

/**
 * Calls that carry a few bytes and finish two-phase commits: on a
 * connection of their own, so they do not queue behind megabytes of
 * Write and Prepare payloads in one HTTP/2 connection's flow-control
 * window (CockroachDB keeps such connection classes apart for the same reason).
 */
const CONTROL_METHODS: ReadonlySet<ReplicaMethod> = new Set(['Commit', 'Abort', 'TxStatus']);

/** gRPC channels to peers by node id. */
export class GrpcTransport implements ReplicaTransport {
  private readonly peers = new Map<string, Peer>();
  private generation = 0;
  private readonly security: PeerSecurity;
  private readonly onStreamRefused: ((nodeId: string, retryMs: number) => void) | undefined;

  /** Hears why a health check failed (for the log: what keeps a peer suspect or dead). */
  private readonly onCheckFailed: ((nodeId: string, reason: string) => void) | undefined;
  /** Hears of each peer whose channels were replaced after its checks failed for `failingMs`. */
  private readonly onChannelReset: ((nodeId: string, failingMs: number) => void) | undefined;

  /** The callbacks hear, for the log, of Writes falling back to unary calls, of each failed check, and of channels replaced. */
  constructor(
    security: PeerSecurity,
    onStreamRefused?: (nodeId: string, retryMs: number) => void,
    onCheckFailed?: (nodeId: string, reason: string) => void,
    onChannelReset?: (nodeId: string, failingMs: number) => void,
  ) {
    this.security = security;
    this.onStreamRefused = onStreamRefused;
    this.onCheckFailed = onCheckFailed;
    this.onChannelReset = onChannelReset;
  }

  /** Points `nodeId` at `address` (host:port of its peer listener), replacing a channel to an old address. */
  setAddress(nodeId: string, address: string): void {
    if (this.peers.get(nodeId)?.address === address) return;
    this.open(nodeId, address);
  }

  /**
   * Replaces every peer's channel with one made from the security's current
   * credentials (after a certificate reload): new calls connect presenting
   * the new certificate and verifying with the new CA bundle. A call in
   * flight finishes on its old connection, which closes once idle; grpc-js
   * fails (UNAVAILABLE: an unreachable replica) only a call still waiting
   * for its old channel to connect.
   */
  renewChannels(): void {
    for (const [nodeId, peer] of [...this.peers]) this.open(nodeId, peer.address);
  }

  /** A channel to `nodeId` at `address` with the current credentials, in place of any before. */
  private open(nodeId: string, address: string): void {
    const old = this.peers.get(nodeId);
    // Half-closed, not cancelled: the writes on the old stream are still answered, over the old connection.
    old?.writes.end();
    old?.replica.close();
    old?.control.close();
    old?.health.close();
    const options = {
      // New channels get new subchannels (grpc-js pools them by target, options and credentials): a reset reconnects.
      'sluice.channel_generation': ++this.generation,
      'grpc.max_receive_message_length': GRPC_MESSAGE_BYTES_MAX,
      'grpc.max_send_message_length': GRPC_MESSAGE_BYTES_MAX,
      // Replies (Scan and Fetch pages) in one flight too; the peer listener widens the other way (grpc-server.ts).
      'grpc-node.flow_control_window': PEER_HTTP2_STREAM_WINDOW_BYTES,
      // A peer back from an outage is reached within a second, not after gRPC's backoff of up to two minutes.
      'grpc.initial_reconnect_backoff_ms': GRPC_RECONNECT_BACKOFF_MS_INITIAL,
      'grpc.max_reconnect_backoff_ms': GRPC_RECONNECT_BACKOFF_MS_MAX,
      ...this.security.channelOptions(nodeId),
    };
    // One credentials object for both clients, so they share one connection (grpc-js pools subchannels by equal credentials).
    const creds = this.security.channelCredentials(nodeId);
    // A channel option of its own gives the control client its own subchannel, hence its own connection.
    const control = new ReplicaClient(address, creds, { ...options, 'sluice.connection_class': 'control' });
    const replica = new ReplicaClient(address, creds, options);
    const openStream = (replica as unknown as Record<string, (metadata: Metadata) => ClientDuplexStream<Buffer, Buffer>>)[WRITE_STREAM_METHOD] as (metadata: Metadata) => ClientDuplexStream<Buffer, Buffer>;
    const writes = new PeerWriteStream(nodeId, () => openStream.call(replica, protocolMetadata()));
    this.peers.set(nodeId, { address, replica, control, health: new HealthClient(address, creds, options), writes, unaryUntil: old?.address === address ? old.unaryUntil : 0, failingSince: undefined });
  }

  /**
   * Calls `method` on `nodeId` with a deadline, in replica-v1 (the version
   * in the call's metadata); a reply not of replica-v1's shape is refused
   * with REPLICA_PROTOCOL.
   */
  call<M extends ReplicaMethod>(nodeId: string, method: M, request: ReplicaMethods[M][0], timeoutMs: number): Promise<ReplicaMethods[M][1]> {
    const peer = this.peers.get(nodeId);
    if (peer === undefined) return Promise.reject(new SluiceError('NO_QUORUM', `no address known for node ${nodeId}`));
    if (method === 'Write') return this.write(peer, nodeId, request as WriteRequest, timeoutMs) as Promise<ReplicaMethods[M][1]>;
    return this.unary(peer, nodeId, method, request, timeoutMs);
  }

  /**
   * A replica Write: on the peer's write stream, or as a unary call to a
   * peer that does not serve it (then for REPLICA_STREAM_RETRY_MS, after
   * which the stream is offered again).
   */
  private write(peer: Peer, nodeId: string, request: WriteRequest, timeoutMs: number): Promise<WriteReply> {
    if (Date.now() < peer.unaryUntil) return this.unary(peer, nodeId, 'Write', request, timeoutMs);
    const deadline = Date.now() + timeoutMs;
    return peer.writes.write(request, timeoutMs).catch((err: unknown) => {
      if (!(err instanceof StreamRefused)) throw err;
      // Every write waiting on the refused stream lands here: tell of the fallback once.
      if (Date.now() >= peer.unaryUntil) this.onStreamRefused?.(nodeId, REPLICA_STREAM_RETRY_MS);
      peer.unaryUntil = Date.now() + REPLICA_STREAM_RETRY_MS;
      // Nothing sent on a refused stream was applied: the same write, unary, in the time left.
      return this.unary(peer, nodeId, 'Write', request, Math.max(1, deadline - Date.now()));
    });
  }

  /** One unary call of `method` with a deadline. */
  private unary<M extends ReplicaMethod>(peer: Peer, nodeId: string, method: M, request: ReplicaMethods[M][0], timeoutMs: number): Promise<ReplicaMethods[M][1]> {
    const client = CONTROL_METHODS.has(method) ? peer.control : peer.replica;
    const fn = (client as unknown as Record<string, UnaryWithMetadataFn>)[method] as UnaryWithMetadataFn;
    return new Promise((resolve, reject) => {
      fn.call(client, encodeMessage(request), protocolMetadata(), { deadline: Date.now() + timeoutMs }, (err, reply) => {
        if (err !== null) {
          reject(peerCallError(err, nodeId));
          return;
        }
        try {
          resolve(decodeReply(method, reply as Buffer));
        } catch (e) {
          reject(isSluiceError(e) ? new SluiceError(e.code, `replica ${nodeId}: ${e.message}`, e.details, { cause: e }) : e);
        }
      });
    });
  }

  /** One `grpc.health.v1.Health/Check`: true when the peer answers SERVING in time. */
  check(nodeId: string, timeoutMs: number): Promise<boolean> {
    const peer = this.peers.get(nodeId);
    if (peer === undefined) return Promise.resolve(false);
    const fn = (peer.health as unknown as Record<string, UnaryFn>)['Check'] as UnaryFn;
    return new Promise((resolve) => {
      fn.call(peer.health, { service: '' }, { deadline: Date.now() + timeoutMs }, (err, reply) => {
        const status = err === null ? (reply as { status?: string }).status : undefined;
        if (status === 'SERVING') peer.failingSince = undefined;
        else {
          this.onCheckFailed?.(nodeId, err === null ? `answered ${status ?? 'no status'}` : `${Status[err.code] ?? err.code}: ${err.details}`);
          this.resetIfStuck(nodeId, peer);
        }
        resolve(status === 'SERVING');
      });
    });
  }

  /** Replaces the channels of a peer whose checks have all failed for PEER_CHANNEL_RESET_MS (a connection that answers nothing). */
  private resetIfStuck(nodeId: string, peer: Peer): void {
    const now = Date.now();
    peer.failingSince ??= now;
    if (now - peer.failingSince < PEER_CHANNEL_RESET_MS || this.peers.get(nodeId) !== peer) return;
    this.onChannelReset?.(nodeId, now - peer.failingSince);
    this.open(nodeId, peer.address);
  }

  /** Closes every channel. */
  close(): void {
    for (const peer of this.peers.values()) {
      peer.writes.cancel();
      peer.replica.close();
      peer.control.close();
      peer.health.close();
    }
    this.peers.clear();
  }
}
