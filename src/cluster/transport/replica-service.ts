/**
 * The gRPC service definition of `sluice.v1.Replica`, built in code: every
 * method is unary with msgpack bodies (replica-messages.ts), so no .proto
 * file or protobuf runtime sits on the replication path. Errors carry the
 * stable sluice code in the `sluice-code` trailer and come back as the
 * same SluiceError on the calling node. Calls and replies name the
 * protocol they speak in the `sluice-replica-protocol` metadata.
 */
import { Metadata, status, type ServiceDefinition, type ServiceError, type StatusObject } from '@grpc/grpc-js';
import { ERROR_CODES, SluiceError, isSluiceError, type ErrorCode } from '../../core/errors.ts';
import {
  REPLICA_METHODS,
  REPLICA_PROTOCOL,
  REPLICA_PROTOCOL_METADATA,
  REPLICA_PROTOCOL_VERSION,
  REPLICA_SERVICE,
  decodeMessage,
  encodeMessage,
  type ReplicaMethod,
} from './replica-messages.ts';
import { WRITE_STREAM_METHOD } from './write-stream-messages.ts';

const passBuffer = (value: Buffer): Buffer => value;

/** One method of the service over raw buffers. */
function rawMethod(name: string, streams: boolean): ServiceDefinition[string] {
  return {
    path: `/${REPLICA_SERVICE}/${name}`,
    requestStream: streams,
    responseStream: streams,
    requestSerialize: passBuffer,
    requestDeserialize: passBuffer,
    responseSerialize: passBuffer,
    responseDeserialize: passBuffer,
    originalName: name,
  };
}

/** The Replica service as an earlier release served it: the unary methods only (what the fallback's tests and bench serve). */
export const unaryReplicaServiceDefinition: ServiceDefinition = Object.fromEntries(REPLICA_METHODS.map((name) => [name, rawMethod(name, false)]));

/**
 * The Replica service definition (raw buffers; callers encode with
 * replica-messages): the unary methods, and the bidirectional write stream
 * (write-stream-messages.ts).
 */
export const replicaServiceDefinition: ServiceDefinition = { ...unaryReplicaServiceDefinition, [WRITE_STREAM_METHOD]: rawMethod(WRITE_STREAM_METHOD, true) };

/** Turns a thrown error into a gRPC error carrying the sluice code (and `sluice-tx-id` for an atomic batch's). */
export function toServiceError(err: unknown): Partial<ServiceError> {
  const metadata = new Metadata();
  if (isSluiceError(err)) {
    metadata.set('sluice-code', err.code);
    if (err.txId !== undefined) metadata.set('sluice-tx-id', err.txId);
    // RATE_LIMITED: when to retry, as HTTP's Retry-After (seconds) and gRPC's retry pushback (ms, gRFC A6).
    if (err.retryAfterMs !== undefined) {
      metadata.set('retry-after', String(Math.max(1, Math.ceil(err.retryAfterMs / 1000))));
      metadata.set('grpc-retry-pushback-ms', String(Math.ceil(err.retryAfterMs)));
    }
    return { code: ERROR_CODES[err.code].grpc, details: err.message, metadata };
  }
  return { code: status.INTERNAL, details: err instanceof Error ? err.message : String(err), metadata };
}

/** How a call ended with an error: a unary call's ServiceError, or a stream's status. */
export type CallStatus = Pick<StatusObject, 'code' | 'details'> & { readonly metadata?: Metadata; readonly message?: string };

/** Turns a gRPC error from a peer back into a SluiceError. */
export function fromServiceError(err: CallStatus, peer: string): SluiceError {
  const code = err.metadata?.get('sluice-code')[0];
  if (typeof code === 'string' && code in ERROR_CODES) return new SluiceError(code as ErrorCode, `${peer}: ${err.details}`);
  const unreachable = err.code === status.UNAVAILABLE || err.code === status.DEADLINE_EXCEEDED || err.code === status.CANCELLED;
  return new SluiceError(unreachable ? 'NO_QUORUM' : 'INTERNAL', `replica ${peer}: ${err.details || err.message}`);
}

/**
 * Turns a failed call to node `peer` into the SluiceError its caller gets.
 * A peer that refused this node's certificate (peer-auth.ts) is a cluster
 * misconfiguration, not the client's: INTERNAL naming the peer, never the
 * UNAUTHENTICATED or PERMISSION_DENIED a client would read as its own token's.
 */
export function peerCallError(err: CallStatus, peer: string): SluiceError {
  if (refusesTheCaller(err.code)) return refusedCertificate(peer, err.details);
  return fromServiceError(err, peer);
}

/** True for the gRPC statuses a peer refuses a caller with (its certificate, or its standing in the roster). */
export function refusesTheCaller(grpcStatus: number): boolean {
  return grpcStatus === status.UNAUTHENTICATED || grpcStatus === status.PERMISSION_DENIED;
}

/** The error of a call node `peer` refused for this node's certificate (or roster standing). */
export function refusedCertificate(peer: string, details: string): SluiceError {
  return new SluiceError('INTERNAL', `replica ${peer} refused this node's certificate: ${details}`);
}

/** Metadata naming the replica protocol this node speaks: sent with every call, and with every reply. */
export function protocolMetadata(): Metadata {
  const metadata = new Metadata();
  metadata.set(REPLICA_PROTOCOL_METADATA, String(REPLICA_PROTOCOL_VERSION));
  return metadata;
}

/**
 * Refuses (REPLICA_PROTOCOL) a call whose metadata names a protocol version
 * this node does not speak. No header is version 1: nodes from before the
 * header send none, and they speak replica-v1, so a rolling upgrade works.
 */
export function checkProtocolVersion(method: ReplicaMethod, metadata: Metadata): void {
  for (const value of metadata.get(REPLICA_PROTOCOL_METADATA)) {
    const text = typeof value === 'string' ? value : value.toString('latin1');
    if (text === String(REPLICA_PROTOCOL_VERSION)) continue;
    const version = /^[0-9]{1,9}$/.test(text) ? Number(text) : undefined;
    const peer = version === undefined ? `an unreadable protocol version ${JSON.stringify(text.slice(0, 32))}` : `replica-v${version}`;
    // The message reaches the caller too (fromServiceError), so the advice names the side by role.
    const advice = version !== undefined && version > REPLICA_PROTOCOL_VERSION ? `upgrade this node (the one answering) to a release that speaks replica-v${version}` : 'upgrade the calling node';
    throw new SluiceError('REPLICA_PROTOCOL', `${method}: peer speaks ${peer}, this node ${REPLICA_PROTOCOL}: ${advice} (every node of a cluster must speak one replica protocol)`);
  }
}

export { decodeMessage, encodeMessage };
