/**
 * The transport a cluster node uses: calls addressed to itself go straight
 * to its own replica handlers (no serialization, no deadline: the node
 * cannot be partitioned from itself), every other call to `remote`. This
 * replaces the coordinator's special case for its own node.
 */
import type { ReplicaMethod, ReplicaMethods } from './replica-messages.ts';
import { callHandler, type ReplicaHandlers, type ReplicaTransport } from './replica-transport.ts';

/** Routes calls for `self` to its handlers and the rest to `remote`. */
export class LocalTransport implements ReplicaTransport {
  private readonly self: string;
  private readonly handlers: ReplicaHandlers;
  private readonly remote: ReplicaTransport;

  constructor(self: string, handlers: ReplicaHandlers, remote: ReplicaTransport) {
    this.self = self;
    this.handlers = handlers;
    this.remote = remote;
  }

  call<M extends ReplicaMethod>(node: string, method: M, request: ReplicaMethods[M][0], timeoutMs: number): Promise<ReplicaMethods[M][1]> {
    if (node === this.self) return callHandler(this.handlers, method, request);
    return this.remote.call(node, method, request, timeoutMs);
  }

  check(node: string, timeoutMs: number): Promise<boolean> {
    return node === this.self ? Promise.resolve(true) : this.remote.check(node, timeoutMs);
  }
}
