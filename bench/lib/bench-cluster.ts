/**
 * A 3-node sluice cluster with its own 3-member etcd on this machine, for
 * the cluster benches: free ports, one data dir and one certs dir per node
 * (a CA made for the run: nodes replicate over mutual TLS, as in
 * production), every process killed by PID when it is stopped or this
 * process exits.
 */
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import tls from 'node:tls';
import { NodeProcess, http } from '../../test/process/harness.ts';
import { freePort } from '../../test/process/etcd.ts';
import { waitUntil } from '../../test/process/cluster.ts';
import { createTestCa, nodeCertsDir } from '../../test/support/cluster-certs.ts';
import { startEtcdCluster, type EtcdCluster } from '../etcd-baseline.ts';
import { loadNodeCerts } from '../../src/security/certs/load-cert-pair.ts';
import { PEER_HTTP2_CONNECTION_WINDOW_BYTES, PEER_HTTP2_STREAM_WINDOW_BYTES } from '../../src/config.ts';
import { GrpcServer, replicaGrpcService } from '../../src/cluster/transport/grpc-server.ts';
import { GrpcTransport } from '../../src/cluster/transport/grpc-transport.ts';
import { peerAuthInterceptor, streamAdmission } from '../../src/cluster/transport/peer-auth.ts';
import { unaryReplicaServiceDefinition } from '../../src/cluster/transport/replica-service.ts';
import { mutualTls, plaintextPeers, type PeerSecurity } from '../../src/cluster/transport/peer-tls.ts';
import { REPLICA_SERVICE } from '../../src/cluster/transport/replica-messages.ts';
import type { ReplicaHandlers } from '../../src/cluster/transport/replica-transport.ts';

/** Nodes in the cluster. */
export const NODES = 3;

/** A running 3-node cluster with its own 3-member etcd. */
export interface BenchCluster {
  readonly etcd: EtcdCluster;
  readonly nodes: NodeProcess[];
  readonly urls: string[];
  /** How long the nodes' bootstrap repair rounds went on after the cluster converged. */
  readonly bootstrapMs: number;
  /** SIGKILLs every node and etcd member by PID and waits for them; safe to call twice. */
  stop(): Promise<void>;
}

/**
 * Starts a 3-member etcd and `NODES` nodes using it, each with its own data
 * dir, certs dir, HTTP, gRPC and peer port, and waits until every node has all of them in
 * its placement and sees them alive. Everything started is killed by PID on
 * failure, by `stop()`, and if this process exits first. `extraArgs` are
 * added to every node's `sluice serve` flags (e.g. `--debug-endpoints`).
 * Nodes accept the test token (TEST_TOKEN), which every request of the
 * benches sends. `peer: 'insecure'` replicates in plain text
 * (`--insecure-cluster`), only to measure what mutual TLS costs.
 */
export async function startCluster(dir: string, engine?: 'lmdb' | 'level', extraArgs: readonly string[] = [], peer: 'mtls' | 'insecure' = 'mtls'): Promise<BenchCluster> {
  const etcd = await startEtcdCluster(path.join(dir, 'etcd'));
  const nodes: NodeProcess[] = [];
  const killAll = (): void => {
    for (const n of nodes) if (n.child.exitCode === null && n.child.signalCode === null) n.child.kill('SIGKILL');
  };
  const onSignal = (signal: NodeJS.Signals): void => {
    killAll();
    process.kill(process.pid, signal);
  };
  const signals = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;
  process.on('exit', killAll);
  for (const sig of signals) process.once(sig, onSignal);
  let stopped = false;
  const stop = async (): Promise<void> => {
    if (stopped) return;
    stopped = true;
    process.off('exit', killAll);
    for (const sig of signals) process.off(sig, onSignal);
    await Promise.all(nodes.map((n) => n.kill('SIGKILL')));
    await etcd.stop();
  };
  try {
    const ports = new Set<number>();
    while (ports.size < 3 * NODES) ports.add(await freePort());
    const [httpPorts, grpcPorts, peerPorts] = [0, 1, 2].map((k) => [...ports].slice(k * NODES, (k + 1) * NODES)) as [number[], number[], number[]];
    const ca = await createTestCa(path.join(dir, 'certs'), 'bench');
    for (let i = 0; i < NODES; i++) {
      const id = `n${i + 1}`;
      nodes.push(
        NodeProcess.spawn({
          dataDir: path.join(dir, id),
          port: httpPorts[i] as number,
          args: [
            '--etcd', etcd.endpoints.join(','),
            '--node-id', id,
            '--grpc', `127.0.0.1:${grpcPorts[i]}`,
            '--grpc-peer', `127.0.0.1:${peerPorts[i]}`,
            ...(peer === 'mtls' ? ['--certs-dir', await nodeCertsDir(ca, id)] : ['--insecure-cluster']),
            '--disk-free-bytes-min', '0',
            ...(engine === undefined ? [] : ['--engine', engine]),
            ...extraArgs,
          ],
        }),
      );
    }
    await Promise.all(nodes.map((n) => n.ready(60_000)));
    const urls = httpPorts.map((p) => `http://127.0.0.1:${p}`);
    const ids = nodes.map((_, i) => `n${i + 1}`);
    await waitUntil(
      async () => {
        for (const url of urls) {
          const view = (await http(`${url}/v1/cluster`)).body as { placement?: { nodes?: string[] }; nodes?: { id: string; state: string }[] } | undefined;
          if (!ids.every((id) => view?.placement?.nodes?.includes(id) === true)) return false;
          if (!ids.every((id) => view?.nodes?.find((n) => n.id === id)?.state === 'alive')) return false;
        }
        return true;
      },
      60_000,
      'every node to see all of them alive in its placement',
    );
    // A node with an empty index runs an anti-entropy round over every shard as soon as a peer is alive
    // (bootstrap repair); every node of a fresh cluster does. Measure after it, not during it.
    // Its end is logged: the anti-entropy counter also appears after a placement catch-up, before the round.
    const bootstrapStarted = performance.now();
    await waitUntil(async () => nodes.every((n) => n.events('bootstrap_repair_done').length > 0), 60_000, 'the bootstrap repair round of every node');
    const bootstrapMs = performance.now() - bootstrapStarted;
    return { etcd, nodes, urls, bootstrapMs, stop };
  } catch (err) {
    const tails = nodes.map((n, i) => `n${i + 1}: ${n.stderr.slice(-2000)} ${JSON.stringify(n.logs.slice(-3))}`).join('\n');
    await stop();
    throw new Error(`${err instanceof Error ? err.message : String(err)}\n${tails}`);
  }
}

/** CPU of moving one replica batch between two nodes, both ends together, by transport. */
export interface TransportCost {
  readonly transport: string;
  /** CPU microseconds per batch, sender and receiver (one process). */
  readonly usPerBatch: number;
  readonly batchesPerSec: number;
}

/**
 * What one replica copy of a batch costs on the wire, in this process (both
 * ends on one event loop): a Write through the production gRPC path
 * (GrpcTransport to a GrpcServer with the Replica service, answered at once
 * without storing) on the write stream, and as the unary calls it replaced
 * (still what a node of an earlier release gets), each in plaintext and
 * over mutual TLS with the peer checks, against the floor of the same
 * bytes as length-prefixed frames on one mutual-TLS socket acknowledged
 * with 8 bytes each. `dir` receives a test CA.
 */
export async function replicaTransportCosts(dir: string, batchBytes: number, batches: number, inFlight = 8): Promise<TransportCost[]> {
  const ca = await createTestCa(path.join(dir, 'transport-certs'), 'bench');
  const [server, client] = await Promise.all([loadNodeCerts(await nodeCertsDir(ca, 'n1')), loadNodeCerts(await nodeCertsDir(ca, 'n2'))]);
  const batch = Buffer.alloc(batchBytes, 7);
  const out: TransportCost[] = [];
  for (const [name, serverSecurity, clientSecurity, streamed] of [
    ['gRPC write stream, plaintext', plaintextPeers(), plaintextPeers(), true],
    ['gRPC write stream, mutual TLS + roster check per write (production)', mutualTls(server), mutualTls(client), true],
    ['gRPC unary Write, plaintext', plaintextPeers(), plaintextPeers(), false],
    ['gRPC unary Write, mutual TLS + peer check per call (to a node of an earlier release)', mutualTls(server), mutualTls(client), false],
  ] as const) {
    out.push(await grpcWriteCost(name, serverSecurity, clientSecurity, batch, batches, inFlight, streamed));
  }
  out.push(await tlsStreamCost(server.tls, client.tls, batch, batches, inFlight));
  return out;
}

/** CPU per batch of `batches` calls, `inFlight` at a time, after a warm-up of 200. */
async function cpuPerCall(name: string, batches: number, inFlight: number, call: () => Promise<void>): Promise<TransportCost> {
  const run = async (n: number): Promise<void> => {
    let next = 0;
    await Promise.all(Array.from({ length: inFlight }, async () => {
      while (next++ < n) await call();
    }));
  };
  await run(200);
  const cpu0 = process.cpuUsage();
  const wall0 = performance.now();
  await run(batches);
  const cpu = process.cpuUsage(cpu0);
  return { transport: name, usPerBatch: (cpu.user + cpu.system) / batches, batchesPerSec: batches / ((performance.now() - wall0) / 1000) };
}

/** One transport row: a GrpcTransport's Writes to a GrpcServer, on the write stream, or unary (the server serving no stream, as an earlier release). */
async function grpcWriteCost(name: string, serverSecurity: PeerSecurity, clientSecurity: PeerSecurity, batch: Buffer, batches: number, inFlight: number, streamed: boolean): Promise<TransportCost> {
  const handlers = { Write: async () => ({ lsn: '1' }) } as unknown as ReplicaHandlers;
  const admit = async (): Promise<void> => undefined;
  const interceptors = serverSecurity.secure ? [peerAuthInterceptor({ security: serverSecurity, service: REPLICA_SERVICE, admit })] : [];
  const service = replicaGrpcService(handlers, serverSecurity.secure ? streamAdmission({ security: serverSecurity, admit }) : undefined);
  // The peer listener's windows with the stream; a listener of an earlier release had HTTP/2's defaults.
  const windows = streamed ? { streamBytes: PEER_HTTP2_STREAM_WINDOW_BYTES, connectionBytes: PEER_HTTP2_CONNECTION_WINDOW_BYTES } : undefined;
  const server = await GrpcServer.start('127.0.0.1', 0, [streamed ? service : { ...service, definition: unaryReplicaServiceDefinition }], serverSecurity.serverCredentials(), interceptors, windows);
  const transport = new GrpcTransport(clientSecurity);
  try {
    transport.setAddress('n1', `127.0.0.1:${server.port}`);
    return await cpuPerCall(name, batches, inFlight, async () => {
      await transport.call('n1', 'Write', { batch, epoch: 1 }, 30_000);
    });
  } finally {
    transport.close();
    await server.stop(1_000);
  }
}

/** The floor: 4-byte length + batch written to one mutual-TLS socket, 8 bytes back per batch. */
async function tlsStreamCost(serverPair: { ca: string; key: string; cert: string }, clientPair: { ca: string; key: string; cert: string }, batch: Buffer, batches: number, inFlight: number): Promise<TransportCost> {
  const server = tls.createServer({ ...serverPair, requestCert: true, rejectUnauthorized: true }, (socket) => {
    let chunks: Buffer[] = [];
    let have = 0;
    let need = -1;
    socket.on('data', (d: Buffer) => {
      chunks.push(d);
      have += d.length;
      // Joined only once a whole length or batch is in, as a receiver reading into one buffer would.
      for (;;) {
        if (have < (need < 0 ? 4 : need)) return;
        const all = chunks.length === 1 ? (chunks[0] as Buffer) : Buffer.concat(chunks);
        if (need < 0) {
          need = all.readUInt32BE(0);
          chunks = [all.subarray(4)];
          have -= 4;
          continue;
        }
        const rest = all.subarray(need);
        chunks = rest.length > 0 ? [rest] : [];
        have = rest.length;
        need = -1;
        socket.write(Buffer.alloc(8));
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const socket = tls.connect({ ...clientPair, port: (server.address() as AddressInfo).port, host: '127.0.0.1', checkServerIdentity: () => undefined });
  await new Promise((resolve) => socket.once('secureConnect', resolve));
  const waiting: (() => void)[] = [];
  socket.on('data', (d: Buffer) => {
    for (let i = 0; i < d.length / 8; i++) waiting.shift()?.();
  });
  const head = Buffer.alloc(4);
  head.writeUInt32BE(batch.length);
  try {
    return await cpuPerCall('length-prefixed frames on one mutual-TLS socket (floor)', batches, inFlight, () =>
      new Promise<void>((resolve) => {
        waiting.push(resolve);
        socket.write(head);
        socket.write(batch);
      }),
    );
  } finally {
    socket.destroy();
    server.close();
  }
}
