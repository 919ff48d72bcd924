/**
 * The "wait until the machine is quiet" gate of a single-node bench (the
 * cluster benches have their own in cluster-atomic.bench.ts): the machine
 * is shared, so a measured load starts only once processes other than the
 * node and this client used fewer than `coresMax` cores over a 2 s window,
 * and the node itself as few (the previous load's background work, index
 * flushes, is done and does not bill the next load), or after `waitMsMax`
 * anyway. The CPU others used during each load is reported next to its
 * figures.
 */
import { sleep } from '../../test/process/harness.ts';
import { cpuSeconds, machineBusySeconds } from './node-metrics.ts';

/** The window the gate measures over. */
const WINDOW_MS = 2_000;

/** A point to measure CPU from: the node's, this process's and the whole machine's seconds. */
export interface CpuMark {
  readonly node: number;
  readonly client: NodeJS.CpuUsage;
  readonly machine: number;
}

/** Marks the CPU counters now. */
export function cpuMark(nodePid: number): CpuMark {
  return { node: cpuSeconds(nodePid), client: process.cpuUsage(), machine: machineBusySeconds() };
}

/** CPU seconds since `m`: the node, this process, and every other process of the machine. */
export function cpuSince(nodePid: number, m: CpuMark): { node: number; client: number; other: number } {
  const node = cpuSeconds(nodePid) - m.node;
  const c = process.cpuUsage(m.client);
  const client = (c.user + c.system) / 1e6;
  return { node, client, other: Math.max(0, machineBusySeconds() - m.machine - node - client) };
}

/** Waits until the node and other processes each use fewer than `coresMax` cores (or `waitMsMax` passed); returns how long it waited, ms. */
export async function waitQuiet(nodePid: number, coresMax: number, waitMsMax: number): Promise<number> {
  const started = performance.now();
  for (;;) {
    const mark = cpuMark(nodePid);
    await sleep(WINDOW_MS);
    const used = cpuSince(nodePid, mark);
    const seconds = WINDOW_MS / 1000;
    const waited = performance.now() - started;
    if ((used.other / seconds < coresMax && used.node / seconds < coresMax) || waited > waitMsMax) return waited;
  }
}
