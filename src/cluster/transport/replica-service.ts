/**
 * The gRPC service definition of `sluice.v1.Replica`, built in code: every
 * method is unary with msgpack bodies (replica-messages.ts), so no .proto
 * file or protobuf runtime sits on the replication path. Errors carry the
 * stable sluice code in the `sluice-code` trailer and come back as the
 * same SluiceError on the calling node.
 */
import { Metadata, status, type ServiceDefinition, type ServiceError } from '@grpc/grpc-js';
import { ERROR_CODES, SluiceError, isSluiceError, type ErrorCode } from '../../core/errors.ts';
import { REPLICA_METHODS, REPLICA_SERVICE, decodeMessage, encodeMessage } from './replica-messages.ts';

const passBuffer = (value: Buffer): Buffer => value;

/** The Replica service definition (raw buffers; callers encode with replica-messages). */
export const replicaServiceDefinition: ServiceDefinition = Object.fromEntries(
  REPLICA_METHODS.map((name) => [
    name,
    {
      path: `/${REPLICA_SERVICE}/${name}`,
      requestStream: false,
      responseStream: false,
      requestSerialize: passBuffer,
      requestDeserialize: passBuffer,
      responseSerialize: passBuffer,
      responseDeserialize: passBuffer,
      originalName: name,
    },
  ]),
);

/** Turns a thrown error into a gRPC error carrying the sluice code. */
export function toServiceError(err: unknown): Partial<ServiceError> {
  const metadata = new Metadata();
  if (isSluiceError(err)) {
    metadata.set('sluice-code', err.code);
    return { code: ERROR_CODES[err.code].grpc, details: err.message, metadata };
  }
  return { code: status.INTERNAL, details: err instanceof Error ? err.message : String(err), metadata };
}

/** Turns a gRPC error from a peer back into a SluiceError. */
export function fromServiceError(err: ServiceError, peer: string): SluiceError {
  const code = err.metadata?.get('sluice-code')[0];
  if (typeof code === 'string' && code in ERROR_CODES) return new SluiceError(code as ErrorCode, `${peer}: ${err.details}`);
  const unreachable = err.code === status.UNAVAILABLE || err.code === status.DEADLINE_EXCEEDED || err.code === status.CANCELLED;
  return new SluiceError(unreachable ? 'NO_QUORUM' : 'INTERNAL', `replica ${peer}: ${err.details || err.message}`);
}

export { decodeMessage, encodeMessage };
