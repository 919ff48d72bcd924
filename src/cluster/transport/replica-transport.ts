/**
 * How a node reaches the replicas it coordinates: its own and its peers'.
 * Everything in the cluster layer that talks to a replica (the
 * coordinator, the failure detector, anti-entropy, hint replay) goes
 * through this interface, never through a concrete network class, so the
 * quorum logic runs the same over gRPC (`grpc-transport.ts`), the node's
 * own handlers (`local-transport.ts`), and a fault-injecting decorator
 * (`fault-transport.ts`) that tests use to drop, delay and partition.
 *
 * Contract: a call resolves with the replica's answer, or rejects with a
 * SluiceError. A replica that did not answer within `timeoutMs`
 * (unreachable, partitioned, slow) is NO_QUORUM: the caller cannot tell
 * whether the request was applied, and must treat a retry as idempotent.
 */
import type { ReplicaMethod, ReplicaMethods } from './replica-messages.ts';

/** Calls to replicas by node id. */
export interface ReplicaTransport {
  /** Calls `method` on `node`; rejects with NO_QUORUM when no answer comes within `timeoutMs`. */
  call<M extends ReplicaMethod>(node: string, method: M, request: ReplicaMethods[M][0], timeoutMs: number): Promise<ReplicaMethods[M][1]>;
  /** One health check: true when `node` answers SERVING within `timeoutMs`. */
  check(node: string, timeoutMs: number): Promise<boolean>;
}

/** What a node answers on the Replica service, method by method. */
export type ReplicaHandlers = { [M in ReplicaMethod]: (request: ReplicaMethods[M][0]) => Promise<ReplicaMethods[M][1]> };

/** Calls one method of `handlers` (the typed dispatch every in-process transport needs). */
export function callHandler<M extends ReplicaMethod>(handlers: ReplicaHandlers, method: M, request: ReplicaMethods[M][0]): Promise<ReplicaMethods[M][1]> {
  return (handlers[method] as (r: ReplicaMethods[M][0]) => Promise<ReplicaMethods[M][1]>)(request);
}
