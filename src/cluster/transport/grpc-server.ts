/**
 * A gRPC server of the node: the services it is given and the standard
 * `grpc.health.v1.Health` service. A node has up to two: the client
 * listener (`--grpc`: Ingest) and, in a cluster, the peer listener
 * (`--grpc-peer`: the internal Replica service, mutual TLS; peers' failure
 * detectors probe its Health). Health turns NOT_SERVING while the node stops.
 */
import { Server, ServerCredentials, type ServerInterceptor, type ServerUnaryCall, type ServiceDefinition, type sendUnaryData, type UntypedServiceImplementation } from '@grpc/grpc-js';
import { HealthImplementation } from 'grpc-health-check';
import { GRPC_MESSAGE_BYTES_MAX } from '../../config.ts';
import { REPLICA_METHODS, REPLICA_SERVICE, decodeRequest } from './replica-messages.ts';
import { checkProtocolVersion, encodeMessage, protocolMetadata, replicaServiceDefinition, toServiceError } from './replica-service.ts';
import type { ReplicaHandlers } from './replica-transport.ts';

/**
 * Who may call a method: anyone (Health), a client with a bearer token
 * (checked by the service's interceptor and handlers), or a node of the
 * cluster by its certificate (the peer listener's mutual TLS and roster).
 */
export type GrpcAccess = 'public' | 'bearer-token' | 'node-certificate';

/** One service a GrpcServer serves; `name` is its health-check name. */
export interface GrpcService {
  readonly name: string;
  readonly definition: ServiceDefinition;
  readonly implementation: UntypedServiceImplementation;
  /** What each method of `definition` requires; a server refuses to start with a method missing here (deny by default). */
  readonly access: Readonly<Record<string, GrpcAccess>>;
  /** Runs on every call of the server before its message is read (the Ingest service's authentication). */
  readonly interceptor?: ServerInterceptor;
}

/**
 * The Replica service over `handlers` (replica-v1: msgpack bodies, sluice
 * codes in trailers). A call in a protocol version this node does not speak,
 * or whose request is not replica-v1's shape, is refused with
 * REPLICA_PROTOCOL before its handler runs.
 */
export function replicaGrpcService(handlers: ReplicaHandlers): GrpcService {
  const implementation: UntypedServiceImplementation = {};
  for (const name of REPLICA_METHODS) {
    const handler = handlers[name] as (request: unknown) => Promise<unknown>;
    implementation[name] = (call: ServerUnaryCall<Buffer, Buffer>, callback: sendUnaryData<Buffer>) => {
      let request: unknown;
      try {
        checkProtocolVersion(name, call.metadata);
        request = decodeRequest(name, call.request);
      } catch (err) {
        callback(toServiceError(err));
        return;
      }
      // The version goes in the trailers, beside the status: headers sent ahead of the reply cost a write per call.
      handler(request).then(
        (reply) => callback(null, encodeMessage(reply), protocolMetadata()),
        (err: unknown) => callback(toServiceError(err)),
      );
    };
  }
  return { name: REPLICA_SERVICE, definition: replicaServiceDefinition, implementation, access: Object.fromEntries(REPLICA_METHODS.map((m) => [m, 'node-certificate'])) };
}

/** A listening gRPC server. */
export class GrpcServer {
  private readonly server: Server;
  private readonly health: HealthImplementation;
  private readonly names: readonly string[];
  readonly port: number;

  private constructor(server: Server, health: HealthImplementation, port: number, names: readonly string[]) {
    this.server = server;
    this.health = health;
    this.port = port;
    this.names = names;
  }

  /**
   * Binds host:port (0 picks a free port) and serves `services`, in
   * plaintext unless `credentials` say otherwise; `interceptors` run on
   * every call before the services' own.
   */
  static async start(host: string, port: number, services: readonly GrpcService[], credentials = ServerCredentials.createInsecure(), interceptors: readonly ServerInterceptor[] = []): Promise<GrpcServer> {
    for (const s of services) checkAccessDeclared(s);
    const all = [...interceptors, ...services.flatMap((s) => (s.interceptor === undefined ? [] : [s.interceptor]))];
    const server = new Server({ 'grpc.max_receive_message_length': GRPC_MESSAGE_BYTES_MAX, 'grpc.max_send_message_length': GRPC_MESSAGE_BYTES_MAX, interceptors: all });
    for (const s of services) server.addService(s.definition, s.implementation);
    const health = new HealthImplementation({ '': 'SERVING', ...Object.fromEntries(services.map((s) => [s.name, 'SERVING'])) });
    health.addToServer(server);
    const bound = await new Promise<number>((resolve, reject) => {
      server.bindAsync(`${host.includes(':') ? `[${host}]` : host}:${port}`, credentials, (err, p) => (err ? reject(err) : resolve(p)));
    });
    return new GrpcServer(server, health, bound, services.map((s) => s.name));
  }

  /** Reports NOT_SERVING to health checks (before a graceful stop). */
  setNotServing(): void {
    this.health.setStatus('', 'NOT_SERVING');
    for (const name of this.names) this.health.setStatus(name, 'NOT_SERVING');
  }

  /** Stops accepting calls and waits for those in flight (forced after `graceMs`). */
  async stop(graceMs: number): Promise<void> {
    await new Promise<void>((resolve) => {
      const force = setTimeout(() => {
        this.server.forceShutdown();
        resolve();
      }, graceMs);
      this.server.tryShutdown(() => {
        clearTimeout(force);
        resolve();
      });
    });
  }
}

/** Throws unless every method of `service` declares who may call it. */
export function checkAccessDeclared(service: GrpcService): void {
  const missing = Object.keys(service.definition).filter((m) => service.access[m] === undefined);
  if (missing.length > 0) throw new Error(`gRPC ${service.name} methods ${missing.join(', ')} declare no access requirement`);
}
