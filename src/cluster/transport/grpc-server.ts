/**
 * A gRPC server of the node: the services it is given and the standard
 * `grpc.health.v1.Health` service. A node has up to two: the client
 * listener (`--grpc`: Ingest) and, in a cluster, the peer listener
 * (`--grpc-peer`: the internal Replica service, mutual TLS; peers' failure
 * detectors probe its Health). Health turns NOT_SERVING while the node stops.
 */
import { Server, ServerCredentials, type ServerDuplexStream, type ServerInterceptor, type ServerUnaryCall, type ServiceDefinition, type sendUnaryData, type UntypedServiceImplementation } from '@grpc/grpc-js';
import type { Http2SecureServer, Http2Server, ServerHttp2Session } from 'node:http2';
import { HealthImplementation } from 'grpc-health-check';
import { GRPC_MESSAGE_BYTES_MAX } from '../../config.ts';
import { REPLICA_METHODS, REPLICA_SERVICE, decodeRequest } from './replica-messages.ts';
import { checkProtocolVersion, encodeMessage, protocolMetadata, replicaServiceDefinition, toServiceError } from './replica-service.ts';
import type { ReplicaHandlers } from './replica-transport.ts';
import { WRITE_STREAM_METHOD } from './write-stream-messages.ts';
import { writeStreamServer, type StreamAdmission } from './write-stream-service.ts';

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
  /** Asks the service's long-lived streams to end once their work is answered (the server is stopping). */
  readonly drain?: () => void;
}

/**
 * The Replica service over `handlers` (replica-v1: msgpack bodies, sluice
 * codes in trailers). A call in a protocol version this node does not speak,
 * or whose request is not replica-v1's shape, is refused with
 * REPLICA_PROTOCOL before its handler runs. Writes may also come on the
 * write stream (write-stream-service.ts), each checked by `admission`
 * when given.
 */
export function replicaGrpcService(handlers: ReplicaHandlers, admission?: (call: ServerDuplexStream<Buffer, Buffer>) => StreamAdmission): GrpcService {
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
  const stream = writeStreamServer(handlers.Write, admission);
  implementation[WRITE_STREAM_METHOD] = stream.handle;
  const access = Object.fromEntries([...REPLICA_METHODS, WRITE_STREAM_METHOD].map((m) => [m, 'node-certificate' as const]));
  return { name: REPLICA_SERVICE, definition: replicaServiceDefinition, implementation, access, drain: stream.drain };
}

/** A listening gRPC server. */
export class GrpcServer {
  private readonly server: Server;
  private readonly health: HealthImplementation;
  private readonly services: readonly GrpcService[];
  readonly port: number;

  private constructor(server: Server, health: HealthImplementation, port: number, services: readonly GrpcService[]) {
    this.server = server;
    this.health = health;
    this.port = port;
    this.services = services;
  }

  /**
   * Binds host:port (0 picks a free port) and serves `services`, in
   * plaintext unless `credentials` say otherwise; `interceptors` run on
   * every call before the services' own; a message past `receiveBytesMax`
   * is refused by gRPC before it is read whole (RESOURCE_EXHAUSTED).
   */
  static async start(
    host: string,
    port: number,
    services: readonly GrpcService[],
    credentials = ServerCredentials.createInsecure(),
    interceptors: readonly ServerInterceptor[] = [],
    flowControl?: FlowControlWindows,
    receiveBytesMax = GRPC_MESSAGE_BYTES_MAX,
  ): Promise<GrpcServer> {
    for (const s of services) checkAccessDeclared(s);
    const all = [...interceptors, ...services.flatMap((s) => (s.interceptor === undefined ? [] : [s.interceptor]))];
    const server = new Server({
      'grpc.max_receive_message_length': receiveBytesMax,
      'grpc.max_send_message_length': GRPC_MESSAGE_BYTES_MAX,
      // What a grpc-js that reads it on servers will use (grpc-node PR 3058); until then widenFlowControl below.
      ...(flowControl === undefined ? {} : { 'grpc-node.flow_control_window': flowControl.streamBytes }),
      interceptors: all,
    });
    for (const s of services) server.addService(s.definition, s.implementation);
    const health = new HealthImplementation({ '': 'SERVING', ...Object.fromEntries(services.map((s) => [s.name, 'SERVING'])) });
    health.addToServer(server);
    const bound = await new Promise<number>((resolve, reject) => {
      server.bindAsync(`${host.includes(':') ? `[${host}]` : host}:${port}`, credentials, (err, p) => (err ? reject(err) : resolve(p)));
    });
    if (flowControl !== undefined) widenFlowControl(server, flowControl);
    return new GrpcServer(server, health, bound, services);
  }

  /** Reports NOT_SERVING to health checks (before a graceful stop). */
  setNotServing(): void {
    this.health.setStatus('', 'NOT_SERVING');
    for (const s of this.services) this.health.setStatus(s.name, 'NOT_SERVING');
  }

  /** Stops accepting calls and waits for those in flight, streams included (forced after `graceMs`). */
  async stop(graceMs: number): Promise<void> {
    // A stream stays open until one side ends it: without the drain, every stop would wait out its grace.
    for (const s of this.services) s.drain?.();
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

/** HTTP/2 receive windows of a server's connections, bytes. */
export interface FlowControlWindows {
  /** Each stream's (SETTINGS_INITIAL_WINDOW_SIZE, advertised to every new connection). */
  readonly streamBytes: number;
  /** The whole connection's. */
  readonly connectionBytes: number;
}

/**
 * Gives every new connection of `server` the receive windows of `windows`.
 * grpc-js 1.14 reads `grpc-node.flow_control_window` on channels only, so
 * this reaches its HTTP/2 servers (a private field) and uses Node's public
 * `updateSettings` and `setLocalWindowSize` on them. A grpc-js without
 * that field fails the server's start here rather than serving 64 KiB
 * windows unnoticed; a test reads the window a connecting peer is offered.
 */
function widenFlowControl(server: Server, windows: FlowControlWindows): void {
  const http2Servers = (server as unknown as { http2Servers?: unknown }).http2Servers;
  if (!(http2Servers instanceof Map) || http2Servers.size === 0) throw new Error('cannot widen the HTTP/2 flow-control window: this grpc-js keeps its HTTP/2 servers elsewhere');
  for (const h of http2Servers.keys() as Iterable<Http2Server | Http2SecureServer>) {
    h.updateSettings({ initialWindowSize: windows.streamBytes });
    h.on('session', (session: ServerHttp2Session) => session.setLocalWindowSize(windows.connectionBytes));
  }
}

/** Throws unless every method of `service` declares who may call it. */
export function checkAccessDeclared(service: GrpcService): void {
  const missing = Object.keys(service.definition).filter((m) => service.access[m] === undefined);
  if (missing.length > 0) throw new Error(`gRPC ${service.name} methods ${missing.join(', ')} declare no access requirement`);
}
