/**
 * A process's CPU by thread and by kind of thread, from /proc/PID/task/TID/stat: where a
 * node's CPU goes without a profiler attached (issue 16 asks each bench
 * figure to say so). Thread names are Node's: `node` or the process's own
 * name for the main thread, `WorkerThread` for worker_threads (the decode
 * and conversion pools), `libuv-worker` for the thread pool (WAL writes and
 * fdatasync, LevelDB's writes and compactions, LMDB's commits), `V8Worker`
 * (V8's GC and compiler helpers).
 */
import { readdirSync, readFileSync } from 'node:fs';

/** The kinds a node's threads are grouped into. */
export const THREAD_KINDS = ['main', 'workers', 'libuv', 'v8', 'other'] as const;
export type ThreadKind = (typeof THREAD_KINDS)[number];

/** CPU seconds (user + system) so far, by kind; threads that ended are not counted. */
export type ThreadCpu = Record<ThreadKind, number>;

const TICKS_PER_SECOND = 100;

/** One thread's name and CPU seconds so far. */
export interface ThreadTime {
  readonly name: string;
  readonly seconds: number;
}

/** CPU seconds (user + system) of each thread of process `pid`, by thread id (empty once it is gone). */
export function threadTimes(pid: number): Map<number, ThreadTime> {
  const out = new Map<number, ThreadTime>();
  let tids: string[];
  try {
    tids = readdirSync(`/proc/${pid}/task`);
  } catch {
    return out;
  }
  for (const tid of tids) {
    let stat: string;
    try {
      stat = readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8');
    } catch {
      continue; // the thread ended between the listing and the read
    }
    const close = stat.lastIndexOf(')');
    const fields = stat.slice(close + 2).split(' ');
    // utime and stime are fields 14 and 15 of stat(5): 11 and 12 after the name.
    out.set(Number(tid), { name: stat.slice(stat.indexOf('(') + 1, close), seconds: (Number(fields[11]) + Number(fields[12])) / TICKS_PER_SECOND });
  }
  return out;
}

/** CPU seconds each thread name used between two `threadTimes` readings (threads started since count from zero). */
export function threadCpuDelta(before: ReadonlyMap<number, ThreadTime>, after: ReadonlyMap<number, ThreadTime>): Map<string, number> {
  const out = new Map<string, number>();
  for (const [tid, t] of after) out.set(t.name, (out.get(t.name) ?? 0) + t.seconds - (before.get(tid)?.seconds ?? 0));
  return out;
}

/** CPU seconds by thread kind of process `pid` (zeros once it is gone). */
export function threadCpu(pid: number): ThreadCpu {
  const out: ThreadCpu = { main: 0, workers: 0, libuv: 0, v8: 0, other: 0 };
  for (const [tid, t] of threadTimes(pid)) out[kindOf(tid === pid, t.name)] += t.seconds;
  return out;
}

function kindOf(isMain: boolean, name: string): ThreadKind {
  if (isMain) return 'main';
  if (name.startsWith('WorkerThread')) return 'workers';
  if (name.startsWith('libuv-worker')) return 'libuv';
  if (name.startsWith('V8Worker')) return 'v8';
  return 'other';
}

/** `after - before`, by kind. */
export function threadCpuSince(before: ThreadCpu, after: ThreadCpu): ThreadCpu {
  const out = { ...after };
  for (const k of THREAD_KINDS) out[k] = after[k] - before[k];
  return out;
}
