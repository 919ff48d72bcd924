/**
 * The caller check of the peer listener. Every call of the Replica service
 * is judged when its headers arrive, before its message (up to 256 MiB) is
 * handed on: the TLS session must hold a node certificate of this cluster
 * (peer-tls.ts) whose node id `admit` accepts (registered in etcd, not
 * decommissioned). A refused call gets UNAUTHENTICATED or PERMISSION_DENIED
 * and its handler never runs, so nothing is applied. Health stays open to
 * any client the TLS handshake let in (an orchestrator's probe).
 */
import { Metadata, ServerInterceptingCall, status, type ServerDuplexStream, type ServerInterceptor } from '@grpc/grpc-js';
import { SluiceError } from '../../core/errors.ts';
import type { PeerSecurity } from './peer-tls.ts';
import { toServiceError } from './replica-service.ts';
import type { StreamAdmission } from './write-stream-service.ts';

/** One refused call, for the log. */
export interface PeerRefusal {
  /** The caller's address (`ipv4:10.0.0.2:51234`). */
  readonly peer: string;
  readonly method: string;
  /** The node id the certificate named, when it named one. */
  readonly nodeId?: string;
  readonly error: SluiceError;
}

/** What the interceptor needs. */
export interface PeerAuthOptions {
  readonly security: PeerSecurity;
  /** The gRPC service whose calls are checked (`sluice.v1.Replica`). */
  readonly service: string;
  /** Resolves when node `nodeId` may call this node; rejects with the reason otherwise. */
  readonly admit: (nodeId: string) => Promise<void>;
  readonly onRefused?: (refusal: PeerRefusal) => void;
}

/** Refuses calls of `service` whose TLS session does not name an admitted node, before their message is read. */
export function peerAuthInterceptor(o: PeerAuthOptions): ServerInterceptor {
  const prefix = `/${o.service}/`;
  return (method, call) =>
    new ServerInterceptingCall(call, {
      start: (next) =>
        next({
          onReceiveMetadata: (metadata, pass) => {
            if (!method.path.startsWith(prefix)) return pass(metadata);
            let nodeId: string | undefined;
            const refuse = (err: unknown): void => {
              const error = err instanceof SluiceError ? err : new SluiceError('PERMISSION_DENIED', `caller check failed: ${(err as Error).message}`);
              o.onRefused?.({ peer: call.getPeer(), method: method.path, error, ...(nodeId === undefined ? {} : { nodeId }) });
              const e = toServiceError(error);
              call.sendStatus({ code: e.code ?? status.PERMISSION_DENIED, details: e.details ?? error.message, metadata: e.metadata ?? new Metadata() });
            };
            try {
              nodeId = o.security.callerNodeId(call.getAuthContext());
            } catch (err) {
              refuse(err);
              return;
            }
            if (nodeId === undefined) return pass(metadata);
            o.admit(nodeId).then(() => pass(metadata), refuse);
          },
        }),
    });
}

/**
 * The check of each write on a long-lived write stream: the caller's node
 * id is read from its certificate once, when the stream opens (the
 * interceptor above has judged that opening), and `admit` is asked again
 * before every write, so a node the roster drops while its stream is open
 * is refused from its next write on.
 */
export function streamAdmission(o: Omit<PeerAuthOptions, 'service'>): (call: ServerDuplexStream<Buffer, Buffer>) => StreamAdmission {
  return (call) => {
    const nodeId = o.security.callerNodeId(call.getAuthContext());
    if (nodeId === undefined) return () => Promise.resolve();
    return () =>
      o.admit(nodeId).catch((err: unknown) => {
        const error = err instanceof SluiceError ? err : new SluiceError('PERMISSION_DENIED', `caller check failed: ${(err as Error).message}`);
        o.onRefused?.({ peer: call.getPeer(), method: call.getPath(), nodeId, error });
        throw error;
      });
  };
}
