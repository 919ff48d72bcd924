/**
 * One process per data directory. LMDB happily lets two processes open
 * one environment and the WAL has no lock of its own, so two nodes on one
 * data dir would interleave WAL frames and corrupt it.
 *
 * The lock is a listening Unix socket whose name is derived from the data
 * dir's realpath, never a PID file: binding a name is atomic (EADDRINUSE
 * means a live owner) and the kernel frees the name when the owner's last
 * file descriptor closes, which happens as the process dies, before it
 * becomes a zombie. A PID file could not tell a dead owner from a live one:
 * a SIGKILLed node's PID stays "alive" to kill(pid, 0) while it is a zombie
 * its parent has not reaped yet, and in a container a PID is soon reused,
 * so a restarted node refused to start. (flock(2)/fcntl locks would do as
 * well, but Node exposes neither without a native addon.)
 *
 * - Linux: an abstract-namespace socket `\0sluice-datadir-<hash>`. It has no
 *   file to go stale and nothing to clean up. Caveats: the abstract namespace
 *   belongs to the network namespace, so two processes in different network
 *   namespaces (containers without a shared network, sharing the data dir
 *   through a volume) do NOT exclude each other, and a bind mount seen at
 *   another path has another realpath, hence another name. (The PID file did
 *   not protect those cases either: PIDs are per PID namespace.) Abstract
 *   names have no permissions: any local process could squat one (a denial
 *   of service, not a corruption). `ss -xlp | grep sluice-datadir` shows
 *   the owner.
 * - Windows: a named pipe `\\.\pipe\sluice-datadir-<hash>`, which has the
 *   same semantics (the first instance is exclusive, freed with its process).
 * - Elsewhere (macOS, BSD): a socket file DATA_DIR/LOCK.sock (in the temp
 *   dir when that path is too long for sun_path). A dead owner leaves the
 *   file behind, so EADDRINUSE is checked by connecting: ECONNREFUSED means
 *   stale, and the file is unlinked and bound again. That is racy: two
 *   nodes starting together on a dir left by a crashed one can both see it
 *   stale, and the later unlink removes the earlier one's fresh socket, so
 *   both run. Acceptable for development platforms; production is Linux.
 *
 * DATA_DIR/LOCK holds the owner's PID for people and for the refusal's
 * message only: it is written after the socket is bound, removed on release,
 * and its content is never trusted to decide anything.
 */
import { createHash } from 'node:crypto';
import { realpathSync, unlinkSync, writeFileSync, readFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { SluiceError, errnoCode } from '../core/errors.ts';

/** A held data-dir lock; release it on close. */
export interface DirLock {
  /** Frees the lock at once (the socket is closed synchronously); idempotent. */
  release(): void;
}

/** Where the lock's socket lives: the platform's choice unless a test asks for another. */
export type DirLockKind = 'abstract' | 'pipe' | 'file';

/** Options of `lockDataDir`. */
export interface DirLockOptions {
  /** Tests force `file` to exercise the non-Linux fallback on Linux. */
  readonly kind?: DirLockKind;
  /** How long a held lock is tried again before the refusal (default `LOCK_WAIT_MS`). */
  readonly waitMs?: number;
}

/**
 * A SIGKILLed process frees its descriptors when its last thread exits:
 * Node's threads take a few milliseconds after the signal (the main thread
 * already shows as a zombie meanwhile). A held lock is tried again this
 * long, so `kill -9 PID; sluice serve` in a script does not race them.
 */
export const LOCK_WAIT_MS = 500;
const LOCK_RETRY_MS = 25;

/** The informational file with the owner's PID. */
const INFO_FILE = 'LOCK';
/** The socket file of the `file` kind. */
const SOCKET_FILE = 'LOCK.sock';
/** Below sun_path's size on every Unix (104 on macOS and the BSDs, 108 on Linux). */
const SOCKET_PATH_BYTES_MAX = 100;

/** The platform's kind of lock. */
export function defaultLockKind(): DirLockKind {
  if (process.platform === 'linux') return 'abstract';
  if (process.platform === 'win32') return 'pipe';
  return 'file';
}

/**
 * Takes the lock of `dataDir` (which must exist) or throws STORAGE_IO naming
 * the process that holds it. A second attempt from the same process on a
 * held dir is refused too.
 */
export async function lockDataDir(dataDir: string, options: DirLockOptions = {}): Promise<DirLock> {
  let real: string;
  try {
    real = realpathSync(dataDir);
  } catch (err) {
    throw new SluiceError('STORAGE_IO', `cannot lock data dir ${dataDir}: ${(err as Error).message}`, [], { cause: err });
  }
  const kind = options.kind ?? defaultLockKind();
  const name = `sluice-datadir-${createHash('sha256').update(real).digest('hex').slice(0, 32)}`;
  const address = lockAddress(kind, real, name);
  const infoFile = path.join(dataDir, INFO_FILE);
  const deadline = Date.now() + (options.waitMs ?? LOCK_WAIT_MS);
  let server: net.Server | undefined;
  try {
    for (;;) {
      server = kind === 'file' ? await bindSocketFile(address) : await bind(address);
      if (server !== undefined || Date.now() >= deadline) break;
      await sleep(LOCK_RETRY_MS);
    }
  } catch (err) {
    throw new SluiceError('STORAGE_IO', `cannot take the lock of data dir ${dataDir} (${describe(address)}): ${(err as Error).message}`, [], { cause: err });
  }
  if (server === undefined) {
    const owner = readOwner(infoFile);
    const who = owner === undefined ? `another process (${infoFile} names none yet)` : `process ${owner}${owner === process.pid ? ' (this process)' : ''} (pid from ${infoFile})`;
    throw new SluiceError('STORAGE_IO', `data dir ${dataDir} is in use by ${who}; the lock is the socket ${describe(address)}`);
  }
  const held = server;
  try {
    writeFileSync(infoFile, `${process.pid}\n`, { mode: 0o644 });
  } catch (err) {
    held.close();
    throw new SluiceError('STORAGE_IO', `cannot write ${infoFile}: ${(err as Error).message}`, [], { cause: err });
  }
  let released = false;
  return {
    release: () => {
      if (released) return;
      released = true;
      // While the socket is held no one else writes LOCK, so this removes our own.
      try {
        unlinkSync(infoFile);
      } catch {
        // Already gone: it is only information.
      }
      // Closes the descriptor synchronously: the name is free when this returns.
      held.close();
    },
  };
}

function lockAddress(kind: DirLockKind, real: string, name: string): string {
  switch (kind) {
    case 'abstract':
      return `\0${name}`;
    case 'pipe':
      return `\\\\.\\pipe\\${name}`;
    case 'file': {
      const inDir = path.join(real, SOCKET_FILE);
      return Buffer.byteLength(inDir) <= SOCKET_PATH_BYTES_MAX ? inDir : path.join(os.tmpdir(), `${name}.sock`);
    }
  }
}

function describe(address: string): string {
  return address.startsWith('\0') ? `@${address.slice(1)}` : address;
}

/** Binds `address`: the listening server, or undefined when the name is taken (EADDRINUSE). */
function bind(address: string): Promise<net.Server | undefined> {
  return new Promise((resolve, reject) => {
    // Nobody is meant to connect; the `file` kind's liveness probe is just closed.
    const server = net.createServer((socket) => socket.destroy());
    const onError = (err: Error): void => {
      if (errnoCode(err) === 'EADDRINUSE') resolve(undefined);
      else reject(err);
    };
    server.once('error', onError);
    // exclusive: a cluster worker must bind the name itself, not share the primary's handle.
    server.listen({ path: address, exclusive: true }, () => {
      server.off('error', onError);
      // An accept error (EMFILE) must not crash the node over a socket nobody needs.
      server.on('error', () => {});
      // The lock must not keep the process alive.
      server.unref();
      resolve(server);
    });
  });
}

/** The `file` kind: a stale socket file (no listener) is unlinked and bound again, once. */
async function bindSocketFile(address: string): Promise<net.Server | undefined> {
  for (let attempt = 0; attempt < 2; attempt++) {
    const server = await bind(address);
    if (server !== undefined) return server;
    if (await isListening(address)) return undefined;
    // The race of the module comment: another starter may have replaced the stale file in between.
    try {
      unlinkSync(address);
    } catch (err) {
      if (errnoCode(err) !== 'ENOENT') throw err;
    }
  }
  return undefined;
}

/** Whether a process listens on the socket file `address`. */
function isListening(address: string): Promise<boolean> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ path: address });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', (err) => {
      const code = errnoCode(err);
      // ECONNREFUSED: a socket file nobody listens on (or not a socket at all); ENOENT: gone meanwhile.
      // ECONNRESET: a holder that is dying (SIGKILLed, its listener closing under the connect): still
      // held for now, so the caller tries again until LOCK_WAIT_MS, never unlinking a live holder's file.
      if (code === 'ECONNREFUSED' || code === 'ENOENT') resolve(false);
      else if (code === 'ECONNRESET') resolve(true);
      else reject(err);
    });
  });
}

function readOwner(file: string): number | undefined {
  try {
    const pid = Number(readFileSync(file, 'utf8').trim());
    return Number.isInteger(pid) && pid > 0 ? pid : undefined;
  } catch {
    return undefined;
  }
}
