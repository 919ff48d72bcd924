/**
 * Spawns a child process that the kernel kills when this process dies:
 * util-linux's `setpriv --pdeathsig KILL` sets PR_SET_PDEATHSIG and execs
 * the command (same PID), so a test file killed on a timeout, or a runner
 * SIGKILLed by CI, leaves no etcd, Kafka broker or sluice node behind.
 * Where setpriv is missing the child is spawned as it is.
 */
import { spawn, type ChildProcess, type ChildProcessByStdio, type SpawnOptions, type SpawnOptionsWithStdioTuple, type StdioNull, type StdioPipe } from 'node:child_process';
import { existsSync } from 'node:fs';
import type { Readable } from 'node:stream';

const SETPRIV = ['/usr/bin/setpriv', '/bin/setpriv'].find((p) => existsSync(p));

/** `spawn`, with the child bound to this process's life. */
export function spawnOwned(command: string, args: readonly string[], options: SpawnOptionsWithStdioTuple<StdioNull, StdioPipe, StdioPipe>): ChildProcessByStdio<null, Readable, Readable>;
export function spawnOwned(command: string, args: readonly string[], options: SpawnOptions): ChildProcess;
export function spawnOwned(command: string, args: readonly string[], options: SpawnOptions): ChildProcess {
  return SETPRIV === undefined ? spawn(command, args, options) : spawn(SETPRIV, ['--pdeathsig', 'KILL', '--', command, ...args], options);
}
