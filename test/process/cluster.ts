/**
 * Test launcher for a real cluster: one real etcd and N real `sluice serve
 * --etcd` processes on loopback, each with its own data dir, HTTP, gRPC and
 * peer port, and its own certs dir signed by the cluster's CA (made in
 * process once per cluster; a node keeps its certificate across restarts),
 * so nodes replicate over mutual TLS as in production. Failure detection
 * and lease timings are shortened so a test sees a dead peer within a
 * second or two; everything is killed when the test ends.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { createTestCa, nodeCertsDir, type TestCa } from '../support/cluster-certs.ts';
import { EtcdProcess, freePort } from './etcd.ts';
import { NodeProcess, http, sleep, type NodeProcessOptions } from './harness.ts';
import { verifyOutcome, type LoadOutcome } from './load.ts';

type Owner = { after: (fn: () => Promise<void> | void) => void };

/** Flags that make failures visible fast in tests. */
export const FAST_CLUSTER_FLAGS = [
  '--lease-ttl-ms', '6000',
  '--keep-alive-ms', '1000',
  '--health-interval-ms', '200',
  '--suspect-after-misses', '2',
  '--dead-after-ms', '5000',
  '--replica-timeout-ms', '1500',
  '--hint-replay-interval-ms', '200',
  '--anti-entropy-interval-ms', '0',
  '--disk-free-bytes-min', '0',
];

/** One node's fixed identity (kept across restarts). */
interface Slot {
  readonly id: string;
  readonly dataDir: string;
  /** ca.crt, node.crt, node.key of this node (--certs-dir). */
  readonly certsDir: string;
  httpPort: number;
  grpcPort: number;
  peerPort: number;
  proc: NodeProcess | undefined;
}

/** A running test cluster. */
export class TestCluster {
  readonly etcd: EtcdProcess;
  /** The cluster's CA (tests issue more certificates with it). */
  readonly ca: TestCa;
  private readonly slots: Slot[];
  private readonly owner: Owner;
  private readonly extra: readonly string[];
  private readonly dir: string;
  /** Flags one node gets besides the cluster's (by node id), e.g. its own --metrics-listen address. */
  private readonly nodeArgs: (id: string) => readonly string[];

  private constructor(owner: Owner, etcd: EtcdProcess, ca: TestCa, dir: string, extra: readonly string[], nodeArgs: (id: string) => readonly string[] = () => []) {
    this.owner = owner;
    this.etcd = etcd;
    this.ca = ca;
    this.dir = dir;
    this.slots = [];
    this.extra = extra;
    this.nodeArgs = nodeArgs;
  }

  /** Starts etcd and `size` nodes, and waits until every node sees all of them alive in one placement. */
  static async start(owner: Owner, options: { size?: number; args?: readonly string[]; nodeArgs?: (id: string) => readonly string[] } = {}): Promise<TestCluster> {
    const etcd = await EtcdProcess.start(owner);
    const dir = mkdtempSync(path.join(os.tmpdir(), 'sluice-cluster-'));
    const ca = await createTestCa(path.join(dir, 'certs'));
    const cluster = new TestCluster(owner, etcd, ca, dir, options.args ?? [], options.nodeArgs);
    // After-hooks run in the order registered, so this one runs before the nodes' own: it kills them
    // first, because a live node may create a file while the tree is removed (ENOTEMPTY in CI).
    owner.after(async () => {
      await Promise.all(cluster.slots.map((s) => s.proc?.kill('SIGKILL')));
      rmSync(dir, { recursive: true, force: true });
    });
    for (let i = 0; i < (options.size ?? 3); i++) await cluster.newSlot();
    await Promise.all(cluster.slots.map((_, i) => cluster.startNode(i)));
    await cluster.waitConverged();
    return cluster;
  }

  /** Adds a node (a new id, data dir and ports) and starts it; returns its index. */
  async addNode(): Promise<number> {
    const i = await this.newSlot();
    await this.startNode(i);
    return i;
  }

  /** Adds a node like `addNode` but does not wait for it: returns its index and process at once. */
  async spawnNode(env?: Readonly<Record<string, string>>): Promise<{ index: number; proc: NodeProcess }> {
    const i = await this.newSlot();
    const proc = NodeProcess.spawn(this.processOptions(this.slot(i), undefined, env));
    this.owner.after(async () => {
      await proc.kill('SIGKILL');
    });
    this.slot(i).proc = proc;
    return { index: i, proc };
  }

  /** A slot for the next node (id, data dir, certs dir, free ports); returns its index. */
  private async newSlot(): Promise<number> {
    const i = this.slots.length;
    const id = `n${i + 1}`;
    const certsDir = await nodeCertsDir(this.ca, id);
    this.slots.push({ id, dataDir: path.join(this.dir, id), certsDir, httpPort: await freePort(), grpcPort: await freePort(), peerPort: await freePort(), proc: undefined });
    return i;
  }

  /** How a slot's node is started: its dirs and ports, the cluster's fast timings, then `args` (default: the cluster's extra flags), with `env` added. */
  private processOptions(slot: Slot, args?: readonly string[], env?: Readonly<Record<string, string>>): NodeProcessOptions {
    return {
      dataDir: slot.dataDir,
      port: slot.httpPort,
      args: [
        '--etcd', this.etcd.clientUrl,
        '--node-id', slot.id,
        '--grpc', `127.0.0.1:${slot.grpcPort}`,
        '--grpc-peer', `127.0.0.1:${slot.peerPort}`,
        '--certs-dir', slot.certsDir,
        ...FAST_CLUSTER_FLAGS,
        ...this.nodeArgs(slot.id),
        ...(args ?? this.extra),
      ],
      ...(env === undefined ? {} : { env }),
    };
  }

  /** Base URL of node `i` (0-based). */
  url(i: number): string {
    return `http://127.0.0.1:${this.slot(i).httpPort}`;
  }

  /** The node id of node `i`. */
  nodeId(i: number): string {
    return this.slot(i).id;
  }

  /** host:port of node `i`'s client gRPC listener (Ingest). */
  grpcAddress(i: number): string {
    return `127.0.0.1:${this.slot(i).grpcPort}`;
  }

  /** host:port of node `i`'s peer listener (Replica, mutual TLS). */
  peerAddress(i: number): string {
    return `127.0.0.1:${this.slot(i).peerPort}`;
  }

  /** The data dir of node `i`. */
  dataDir(i: number): string {
    return this.slot(i).dataDir;
  }

  /** The certs dir node `i` is started with. */
  certsDir(i: number): string {
    return this.slot(i).certsDir;
  }

  /** The process of node `i`. */
  node(i: number): NodeProcess {
    const proc = this.slot(i).proc;
    assert.ok(proc !== undefined, `node ${i} is not running`);
    return proc;
  }

  /** Starts node `i` (again) with its data dir and ports; `args` replace the cluster's extra flags; `env` is added to its environment. */
  async startNode(i: number, args?: readonly string[], env?: Readonly<Record<string, string>>): Promise<NodeProcess> {
    const slot = this.slot(i);
    for (let attempt = 1; ; attempt++) {
      try {
        slot.proc = await NodeProcess.start(this.owner, this.processOptions(slot, args, env));
        return slot.proc;
      } catch (err) {
        // A port probed free may be taken by another test's process before the node binds it:
        // take new ones (peers learn the new addresses from the node's registration).
        if (attempt >= 3 || !/EADDRINUSE/.test(String((err as Error).message))) throw err;
        slot.httpPort = await freePort();
        slot.grpcPort = await freePort();
        slot.peerPort = await freePort();
      }
    }
  }

  /** SIGKILLs node `i`. */
  async kill(i: number): Promise<void> {
    await this.slot(i).proc?.kill('SIGKILL');
    this.slot(i).proc = undefined;
  }

  /** Deletes node `i`'s data dir (it must be stopped). */
  async wipe(i: number): Promise<void> {
    assert.equal(this.slot(i).proc, undefined, 'wipe a stopped node only');
    await rm(this.slot(i).dataDir, { recursive: true, force: true });
  }

  /** Creates a table through node `via` and waits until every running node has it; returns the answer's body. */
  async createTable(def: object, via = 0): Promise<Record<string, unknown>> {
    const created = await http(`${this.url(via)}/v1/tables`, { method: 'POST', body: JSON.stringify(def) });
    assert.equal(created.status, 201, created.text);
    const name = (def as { name: string }).name;
    for (let i = 0; i < this.slots.length; i++) {
      if (this.slots[i]?.proc === undefined) continue;
      await waitUntil(async () => (await http(`${this.url(i)}/v1/tables/${name}`)).status === 200, 5_000, `table ${name} on node ${i}`);
    }
    return created.body as Record<string, unknown>;
  }

  /** GET /v1/cluster from node `i`. */
  async status(i: number): Promise<ClusterView> {
    const res = await http(`${this.url(i)}/v1/cluster`);
    assert.equal(res.status, 200, res.text);
    return res.body as ClusterView;
  }

  /** Waits until node `i` sees `peer` in `state`. */
  async waitPeerState(i: number, peer: number, state: 'alive' | 'suspect' | 'dead', timeoutMs = 20_000): Promise<void> {
    const id = this.slot(peer).id;
    await waitUntil(async () => (await this.status(i)).nodes.find((n) => n.id === id)?.state === state, timeoutMs, `node ${i} sees ${id} ${state}`);
  }

  /** Waits until every running node has every node in its placement and sees the running ones alive. */
  async waitConverged(timeoutMs = 30_000): Promise<void> {
    const ids = this.slots.map((s) => s.id);
    // What the last poll found unconverged, for the timeout's message.
    let why = 'not polled yet';
    await waitUntil(
      async () => {
        // Every node's view is read, so a timeout names every pair that disagrees (one way or both).
        const wrong: string[] = [];
        for (let i = 0; i < this.slots.length; i++) {
          if (this.slots[i]?.proc === undefined) continue;
          const view = await this.status(i);
          const missing = ids.filter((id) => !view.placement.nodes.includes(id));
          if (view.placement.target !== undefined || missing.length > 0) {
            wrong.push(`node ${i}: placement ${JSON.stringify(view.placement)}${missing.length > 0 ? `, missing ${missing.join(', ')}` : ''}`);
          }
          for (let j = 0; j < this.slots.length; j++) {
            const running = this.slots[j]?.proc !== undefined;
            const entry = view.nodes.find((n) => n.id === this.slots[j]?.id);
            const state = entry?.state;
            if (running && state !== 'alive') {
              // What that node knows of the peer (registered? at which peer address?) against where it listens.
              wrong.push(`node ${i} sees ${this.slots[j]?.id} ${state ?? 'nowhere'} (${JSON.stringify(entry)}; its peer port is ${this.slots[j]?.peerPort})`);
            }
          }
        }
        why = wrong.join('; ');
        return wrong.length === 0;
      },
      timeoutMs,
      'cluster converged',
    ).catch((err: unknown) => {
      throw new Error(`${err instanceof Error ? err.message : String(err)}; last seen: ${why}`);
    });
  }

  /** Waits until node `i` has delivered every hint. */
  async waitHintsDrained(i: number, timeoutMs = 30_000): Promise<void> {
    await waitUntil(async () => (await this.status(i)).hintsPending === 0, timeoutMs, `node ${i} drained its hints`);
  }

  private slot(i: number): Slot {
    const slot = this.slots[i];
    assert.ok(slot !== undefined, `no node ${i}`);
    return slot;
  }
}

/** GET /v1/cluster as the tests read it. */
export interface ClusterView {
  readonly nodeId: string;
  readonly live: boolean;
  readonly placement: { readonly epoch: number; readonly nodes: readonly string[]; readonly target?: readonly string[] };
  readonly decommissioned: readonly string[];
  readonly nodes: readonly { readonly id: string; readonly state: string; readonly registered?: boolean; readonly peer?: string; readonly shards: number; readonly hintsPending: number }[];
  readonly hintsPending: number;
}

/** Polls `check` until it is true; fails naming `what` after `timeoutMs`. */
export async function waitUntil(check: () => Promise<boolean>, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  while (Date.now() < deadline) {
    try {
      if (await check()) return;
    } catch (err) {
      lastError = err;
    }
    await sleep(100);
  }
  throw new Error(`timed out waiting for: ${what}${lastError instanceof Error ? ` (last error: ${lastError.message})` : ''}`);
}

/**
 * Ends a load after `gone` left the ring: waits a second, stops the writers
 * (none may have failed), waits until every node in `nodes` delivered its
 * hints to live peers and node 0 discarded its hints for `gone`, then checks
 * that each of `nodes` holds every acknowledged record.
 */
export async function settleWithout(cluster: TestCluster, gone: string, nodes: readonly number[], stop: () => void, writing: Promise<LoadOutcome>): Promise<LoadOutcome> {
  await sleep(1_000);
  stop();
  const outcome = await writing;
  assert.equal(outcome.unknown.size, 0, JSON.stringify(outcome.failures));
  assert.ok(outcome.acked.size > 1_000, `writers made progress: ${outcome.acked.size}`);
  for (const i of nodes) await cluster.waitHintsDrained(i);
  // The queue of a node that left is redirected hint by hint (its pending count reaches 0 as they go), then
  // deleted and logged: the event may come a moment after the count.
  const discardedFor = (): Record<string, unknown>[] => cluster.node(0).events('hints_discarded').filter((e) => e['target'] === gone && Number(e['hints']) > 0);
  await waitUntil(async () => discardedFor().length > 0, 30_000, `node 0 discarded its hints for ${gone}: ${JSON.stringify(cluster.node(0).events('hints_discarded'))}`);
  for (const i of nodes) await verifyOutcome(cluster.url(i), outcome);
  return outcome;
}
