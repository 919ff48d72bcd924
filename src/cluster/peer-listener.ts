/**
 * The peer listener of a cluster node (`--grpc-peer`): the internal
 * Replica service and Health, with the peer credentials. With mutual TLS
 * every Replica call is checked before its message is read: the caller's
 * certificate must name a node of this cluster (peer-tls.ts) that the
 * roster admits (registered in etcd, and not decommissioned out of the
 * ring). Replica writes on a peer's write stream are checked against the
 * roster one by one. Refusals are logged, rate-limited.
 */
import type { Logger } from 'pino';
import { PEER_HTTP2_CONNECTION_WINDOW_BYTES, PEER_HTTP2_STREAM_WINDOW_BYTES, grpcPeerListen, type NodeConfig } from '../config.ts';
import type { PeerRoster } from './membership/peer-roster.ts';
import type { PlacementService } from './placement/placement-service.ts';
import { GrpcServer, replicaGrpcService } from './transport/grpc-server.ts';
import { peerAuthInterceptor, streamAdmission, type PeerRefusal } from './transport/peer-auth.ts';
import type { PeerSecurity } from './transport/peer-tls.ts';
import { REPLICA_SERVICE } from './transport/replica-messages.ts';
import type { ReplicaHandlers } from './transport/replica-transport.ts';

/** Refused peer calls are logged at most this often per caller address and reason (a misconfigured peer retries constantly). */
const REFUSAL_LOG_INTERVAL_MS = 10_000;

/**
 * The peer listener: Replica and Health on --grpc-peer with the peer
 * credentials; with mutual TLS, every Replica call is checked against the
 * roster before its message is read.
 */
export async function startPeerListener(config: NodeConfig, security: PeerSecurity, local: ReplicaHandlers, roster: PeerRoster, log: Logger, onRefused?: (r: PeerRefusal) => void): Promise<GrpcServer> {
  const { host, port } = grpcPeerListen(config);
  const admit = (id: string): Promise<void> => roster.admit(id);
  const refused = refusalLogger(log, onRefused);
  const interceptors = security.secure ? [peerAuthInterceptor({ security, service: REPLICA_SERVICE, admit, onRefused: refused })] : [];
  const service = replicaGrpcService(local, security.secure ? streamAdmission({ security, admit, onRefused: refused }) : undefined);
  const windows = { streamBytes: PEER_HTTP2_STREAM_WINDOW_BYTES, connectionBytes: PEER_HTTP2_CONNECTION_WINDOW_BYTES };
  const server = await GrpcServer.start(host, port, [service], security.serverCredentials(), interceptors, windows);
  log.info({ event: 'grpc_peer_listening', host, port: server.port, tls: security.secure }, 'peer gRPC listening');
  return server;
}

/** Logs (and reports to `report`) refused peer calls, once per caller address and reason every REFUSAL_LOG_INTERVAL_MS. */
function refusalLogger(log: Logger, report?: (r: PeerRefusal) => void): (r: PeerRefusal) => void {
  const lastLogged = new Map<string, number>();
  return (r) => {
    const address = r.peer.replace(/:[0-9]+$/, '');
    const key = `${address} ${r.error.message}`;
    const now = Date.now();
    if (now - (lastLogged.get(key) ?? -Infinity) < REFUSAL_LOG_INTERVAL_MS) return;
    if (lastLogged.size > 1_000) lastLogged.clear();
    lastLogged.set(key, now);
    report?.(r);
    log.warn({ event: 'peer_refused', peer: r.peer, method: r.method, nodeId: r.nodeId, code: r.error.code, err: r.error.message }, `peer call refused: ${r.error.message}`);
  };
}

/** True once `id` was decommissioned and has left the ring: while its slots are copied away it is still a replica peers must hear. */
export function leftTheRing(placement: PlacementService, id: string): boolean {
  if (!placement.decommissioned.has(id)) return false;
  const current = placement.current;
  return !current.nodes.includes(id) && !(current.target ?? []).includes(id);
}
