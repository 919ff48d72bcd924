/**
 * What Linux says about a process's open files, parsed from `/proc`: its
 * soft and hard RLIMIT_NOFILE, and whether it may raise the hard one. The
 * node (its connection cap, LevelDB's table cache) and the load generator
 * (its connections) both size themselves by it.
 */

/** Soft and hard open-file limits (RLIMIT_NOFILE); Infinity for `unlimited`. */
export interface OpenFileLimits {
  readonly soft: number;
  readonly hard: number;
}

/** The `Max open files` line of a `/proc/<pid>/limits` text; undefined if absent or not numbers. */
export function parseOpenFileLimits(limitsText: string | undefined): OpenFileLimits | undefined {
  const line = limitsText?.split('\n').find((l) => l.startsWith('Max open files'));
  const [soft, hard] = (line?.slice('Max open files'.length).trim().split(/\s+/) ?? []).map((f) => (f === 'unlimited' ? Number.POSITIVE_INFINITY : Number(f)));
  if (soft === undefined || hard === undefined || Number.isNaN(soft) || Number.isNaN(hard)) return undefined;
  return { soft, hard };
}

const CAP_SYS_RESOURCE_BIT = 24n;

/** True when a `/proc/<pid>/status` text has CAP_SYS_RESOURCE in CapEff, which raising a hard limit needs (root in a container often has not). */
export function hasSysResource(statusText: string): boolean {
  const hex = /^CapEff:\s*([0-9a-fA-F]+)\s*$/m.exec(statusText)?.[1];
  return hex !== undefined && ((BigInt(`0x${hex}`) >> CAP_SYS_RESOURCE_BIT) & 1n) === 1n;
}
