/**
 * A 3-node sluice cluster with its own 3-member etcd on this machine, for
 * the cluster benches: free ports, one data dir and one certs dir per node
 * (a CA made for the run: nodes replicate over mutual TLS, as in
 * production), every process killed by PID when it is stopped or this
 * process exits.
 */
import { readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { NodeProcess, http } from '../../test/process/harness.ts';
import { freePort } from '../../test/process/etcd.ts';
import { waitUntil } from '../../test/process/cluster.ts';
import { createTestCa, nodeCertsDir } from '../../test/support/cluster-certs.ts';
import { startEtcdCluster, type EtcdCluster } from '../etcd-baseline.ts';
import { labelled } from './node-metrics.ts';

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
    const bootstrapStarted = performance.now();
    await waitUntil(async () => (await Promise.all(urls.map((u) => labelled(u, 'sluice_anti_entropy_records_total')))).every((m) => m.size > 0), 60_000, 'the bootstrap repair round of every node');
    const bootstrapMs = performance.now() - bootstrapStarted;
    return { etcd, nodes, urls, bootstrapMs, stop };
  } catch (err) {
    const tails = nodes.map((n, i) => `n${i + 1}: ${n.stderr.slice(-2000)} ${JSON.stringify(n.logs.slice(-3))}`).join('\n');
    await stop();
    throw new Error(`${err instanceof Error ? err.message : String(err)}\n${tails}`);
  }
}

/** CPU seconds of each thread of process `pid` from /proc/PID/task/*\/stat, by thread id (with its name). */
export function threadCpu(pid: number): Map<number, { name: string; seconds: number }> {
  const out = new Map<number, { name: string; seconds: number }>();
  let tids: string[] = [];
  try {
    tids = readdirSync(`/proc/${pid}/task`);
  } catch {
    return out;
  }
  for (const tid of tids) {
    try {
      const stat = readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8');
      const name = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'));
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      out.set(Number(tid), { name, seconds: (Number(fields[11]) + Number(fields[12])) / 100 });
    } catch {
      // the thread ended between the listing and the read
    }
  }
  return out;
}

/** CPU seconds each thread name used between two `threadCpu` readings (threads started since count from zero). */
export function threadCpuDelta(before: ReadonlyMap<number, { name: string; seconds: number }>, after: ReadonlyMap<number, { name: string; seconds: number }>): Map<string, number> {
  const out = new Map<string, number>();
  for (const [tid, t] of after) out.set(t.name, (out.get(t.name) ?? 0) + t.seconds - (before.get(tid)?.seconds ?? 0));
  return out;
}
