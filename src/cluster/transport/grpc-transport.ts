/**
 * The replica transport over gRPC: two channels per peer address (gRPC
 * multiplexes calls over each: one for data, one for the two-phase
 * commit's small calls), to the peer's listener, with the
 * credentials of `PeerSecurity` (mutual TLS: this node's certificate, and a
 * server that must prove to be the node etcd lists at that address; a
 * server that does not is as unreachable as a dead one). Calls carry a
 * deadline; a peer that does not answer in time is reported as NO_QUORUM
 * so the coordinator can count it as a missing ack and hint the write.
 * When the node's certificates are reloaded, `renewChannels` replaces every
 * channel with one made from the new credentials.
 */
import { makeGenericClientConstructor, status, type Client, type Metadata, type ServiceError } from '@grpc/grpc-js';
import { service as healthService } from 'grpc-health-check';
import { SluiceError, isSluiceError } from '../../core/errors.ts';
import { GRPC_MESSAGE_BYTES_MAX } from '../../config.ts';
import { decodeReply, type ReplicaMethod, type ReplicaMethods } from './replica-messages.ts';
import type { ReplicaTransport } from './replica-transport.ts';
import type { PeerSecurity } from './peer-tls.ts';
import { encodeMessage, fromServiceError, protocolMetadata, replicaServiceDefinition } from './replica-service.ts';

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
  private readonly security: PeerSecurity;

  constructor(security: PeerSecurity) {
    this.security = security;
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
    old?.replica.close();
    old?.control.close();
    old?.health.close();
    const options = { 'grpc.max_receive_message_length': GRPC_MESSAGE_BYTES_MAX, 'grpc.max_send_message_length': GRPC_MESSAGE_BYTES_MAX, ...this.security.channelOptions(nodeId) };
    // One credentials object for both clients, so they share one connection (grpc-js pools subchannels by equal credentials).
    const creds = this.security.channelCredentials(nodeId);
    // A channel option of its own gives the control client its own subchannel, hence its own connection.
    const control = new ReplicaClient(address, creds, { ...options, 'sluice.connection_class': 'control' });
    this.peers.set(nodeId, { address, replica: new ReplicaClient(address, creds, options), control, health: new HealthClient(address, creds, options) });
  }

  /**
   * Calls `method` on `nodeId` with a deadline, in replica-v1 (the version
   * in the call's metadata); a reply not of replica-v1's shape is refused
   * with REPLICA_PROTOCOL.
   */
  call<M extends ReplicaMethod>(nodeId: string, method: M, request: ReplicaMethods[M][0], timeoutMs: number): Promise<ReplicaMethods[M][1]> {
    const peer = this.peers.get(nodeId);
    if (peer === undefined) return Promise.reject(new SluiceError('NO_QUORUM', `no address known for node ${nodeId}`));
    const client = CONTROL_METHODS.has(method) ? peer.control : peer.replica;
    const fn = (client as unknown as Record<string, UnaryWithMetadataFn>)[method] as UnaryWithMetadataFn;
    return new Promise((resolve, reject) => {
      fn.call(client, encodeMessage(request), protocolMetadata(), { deadline: Date.now() + timeoutMs }, (err, reply) => {
        if (err !== null) {
          reject(refusedByPeer(err, nodeId) ?? fromServiceError(err, nodeId));
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
        resolve(err === null && (reply as { status?: string }).status === 'SERVING');
      });
    });
  }

  /** Closes every channel. */
  close(): void {
    for (const peer of this.peers.values()) {
      peer.replica.close();
      peer.control.close();
      peer.health.close();
    }
    this.peers.clear();
  }
}

/**
 * A peer that refused this node's certificate (peer-auth.ts) is a cluster
 * misconfiguration, not the client's: INTERNAL naming the peer, never the
 * UNAUTHENTICATED or PERMISSION_DENIED a client would read as its own token's.
 */
function refusedByPeer(err: ServiceError, nodeId: string): SluiceError | undefined {
  if (err.code !== status.UNAUTHENTICATED && err.code !== status.PERMISSION_DENIED) return undefined;
  return new SluiceError('INTERNAL', `replica ${nodeId} refused this node's certificate: ${err.details}`);
}
