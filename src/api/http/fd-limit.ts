/**
 * The open-file limit against `--connections-max`. Every HTTP connection
 * is a file descriptor, and so are LevelDB's table files (half the limit,
 * open-files-budget.ts) and FDS_RESERVED others. Past the limit accept()
 * fails with EMFILE and clients wait in the backlog unanswered, so the
 * node works out at start the limit its cap needs, raises its own where
 * the kernel lets it, and otherwise refuses to start saying what to do.
 */
import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { promisify } from 'node:util';
import { FDS_RESERVED, FD_LIMIT_RAISE_TIMEOUT_MS, HTTP_CONNECTIONS_AUTO_MIN, HTTP_CONNECTIONS_UNKNOWN_LIMIT_DEFAULT } from '../../config.ts';
import { SluiceError } from '../../core/errors.ts';
import { openFilesBudgetOf } from '../../storage/engine/open-files-budget.ts';
import { hasSysResource, parseOpenFileLimits, type OpenFileLimits } from '../../core/open-file-limits.ts';

/** What the kernel says about this process's open files. */
export interface FdFacts {
  readonly limits: OpenFileLimits;
  /** fs.nr_open: no process may have a hard limit above it (Infinity when unknown). */
  readonly nrOpen: number;
  /** CAP_SYS_RESOURCE: the process may raise its hard limit. */
  readonly privileged: boolean;
}

/** What to do about the limit: nothing, raise it to soft:hard, or refuse to start with a message. */
export type FdDecision = { readonly kind: 'ok' } | { readonly kind: 'raise'; readonly soft: number; readonly hard: number } | { readonly kind: 'refuse'; readonly message: string };

/** What the node settled at start (logged). */
export interface FdLimitOutcome {
  readonly connectionsMax: number;
  /** The cap was derived from the limit (`--connections-max` not given). */
  readonly auto: boolean;
  /** The limits now; undefined where they cannot be read (no /proc). */
  readonly limits: OpenFileLimits | undefined;
  /** The limits before the node raised them, when it did. */
  readonly raisedFrom?: OpenFileLimits;
}

/** LevelDB's table files under a soft limit of `limit`; none with the LMDB engine (one file, mapped). */
function tableFiles(limit: number, levelDb: boolean): number {
  return levelDb ? openFilesBudgetOf(limit) : 0;
}

/** Open files a node holding `connectionsMax` HTTP connections needs under a soft limit of `limit` (LevelDB's share grows with it). */
export function fdsNeeded(connectionsMax: number, limit: number, levelDb = true): number {
  return connectionsMax + tableFiles(limit, levelDb) + FDS_RESERVED;
}

/** The smallest open-file limit that holds `connectionsMax` connections. */
export function fdLimitFor(connectionsMax: number, levelDb = true): number {
  // LevelDB takes at most half of a larger limit, so what is left grows with the limit: bisect.
  let lo = 1;
  let hi = 2 * fdsNeeded(connectionsMax, Number.POSITIVE_INFINITY, levelDb);
  while (lo < hi) {
    const mid = Math.floor((lo + hi) / 2);
    if (fdsNeeded(connectionsMax, mid, levelDb) <= mid) hi = mid;
    else lo = mid + 1;
  }
  return lo;
}

/** The most HTTP connections a soft limit holds. */
export function connectionsFitting(limit: number, levelDb = true): number {
  return Math.max(0, limit - tableFiles(limit, levelDb) - FDS_RESERVED);
}

/** Whether `connectionsMax` fits the limits, and if not how to raise them, or why the node cannot. */
export function decideFdLimit(connectionsMax: number, facts: FdFacts, levelDb = true): FdDecision {
  const { soft, hard } = facts.limits;
  if (fdsNeeded(connectionsMax, soft, levelDb) <= soft) return { kind: 'ok' };
  const needed = fdLimitFor(connectionsMax, levelDb);
  // Up to the hard limit anyone may raise their own soft limit (Node does at start; a launcher may have lowered it since).
  if (needed <= hard) return { kind: 'raise', soft: needed, hard };
  if (facts.privileged && needed <= facts.nrOpen) return { kind: 'raise', soft: needed, hard: needed };
  return { kind: 'refuse', message: fdLimitAdvice(connectionsMax, facts, levelDb) };
}

/** Why `connectionsMax` does not fit, and the ways out. */
export function fdLimitAdvice(connectionsMax: number, facts: FdFacts, levelDb = true): string {
  const needed = fdLimitFor(connectionsMax, levelDb);
  const { soft, hard } = facts.limits;
  const why: string[] = [];
  if (needed > facts.nrOpen) why.push(`the kernel allows no process more than fs.nr_open = ${facts.nrOpen} (sysctl -w fs.nr_open=${needed})`);
  if (!facts.privileged) why.push('this process may not raise its hard limit (no CAP_SYS_RESOURCE)');
  return (
    `--connections-max ${connectionsMax} needs an open-file limit (RLIMIT_NOFILE) of ${needed}: ${connectionsMax} connections, ` +
    `${tableFiles(needed, levelDb)} LevelDB table files and ${FDS_RESERVED} others; this process has ${soft} (hard ${hard})` +
    (why.length > 0 ? `, and ${why.join('; ')}` : '') +
    `. Raise it where sluice is started: \`ulimit -n ${needed}\` in its shell, \`prlimit --pid <pid> --nofile=${needed}:${needed}\`, ` +
    `or LimitNOFILE=${needed} in its systemd unit; or give a smaller --connections-max (the present limit holds ${connectionsFitting(soft, levelDb)})`
  );
}

/**
 * Settles the HTTP connection cap at start: `configured` (0: what the
 * limit leaves, at least HTTP_CONNECTIONS_AUTO_MIN), raising the
 * open-file limit with util-linux `prlimit` when it must and may.
 * `levelDb`: the index engine keeps LevelDB table files open (not LMDB).
 * Throws INVALID_ARGUMENT when the cap cannot fit.
 */
export async function ensureFdLimit(configured: number, levelDb = true): Promise<FdLimitOutcome> {
  const auto = configured === 0;
  const limits = parseOpenFileLimits(await readText('/proc/self/limits'));
  // No /proc (not Linux): nothing to check against.
  if (limits === undefined || !Number.isFinite(limits.soft)) return { connectionsMax: auto ? HTTP_CONNECTIONS_UNKNOWN_LIMIT_DEFAULT : configured, auto, limits };
  const connectionsMax = auto ? Math.max(HTTP_CONNECTIONS_AUTO_MIN, connectionsFitting(limits.soft, levelDb)) : configured;
  const nrOpen = Number((await readText('/proc/sys/fs/nr_open'))?.trim());
  const facts: FdFacts = { limits, nrOpen: Number.isFinite(nrOpen) && nrOpen > 0 ? nrOpen : Number.POSITIVE_INFINITY, privileged: hasSysResource((await readText('/proc/self/status')) ?? '') };
  const decision = decideFdLimit(connectionsMax, facts, levelDb);
  if (decision.kind === 'ok') return { connectionsMax, auto, limits };
  if (decision.kind === 'refuse') throw new SluiceError('INVALID_ARGUMENT', decision.message);
  const hard = Number.isFinite(decision.hard) ? String(decision.hard) : 'unlimited';
  try {
    await promisify(execFile)('prlimit', ['--pid', String(process.pid), `--nofile=${decision.soft}:${hard}`], { timeout: FD_LIMIT_RAISE_TIMEOUT_MS });
  } catch (err) {
    throw new SluiceError('INVALID_ARGUMENT', `could not raise the open-file limit to ${decision.soft}:${hard} (prlimit: ${String((err as { stderr?: unknown }).stderr ?? (err as Error).message).trim()}); ${fdLimitAdvice(connectionsMax, facts, levelDb)}`, [], { cause: err });
  }
  const after = parseOpenFileLimits(await readText('/proc/self/limits'));
  if (after === undefined || after.soft < decision.soft) {
    throw new SluiceError('INVALID_ARGUMENT', `prlimit left the open-file limit at ${after?.soft ?? 'unknown'}, not ${decision.soft}; ${fdLimitAdvice(connectionsMax, facts, levelDb)}`);
  }
  return { connectionsMax, auto, limits: after, raisedFrom: limits };
}

async function readText(file: string): Promise<string | undefined> {
  try {
    return await readFile(file, 'utf8');
  } catch {
    return undefined;
  }
}
