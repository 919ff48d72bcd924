/**
 * The HTTP listener's backlog against the kernel's cap. listen(2) takes the
 * backlog silently clipped to net.core.somaxconn, so a burst of connects
 * past the clipped queue is dropped (clients retry SYNs, seconds later)
 * while the configuration claims otherwise: say so in the log.
 */
import { readFile } from 'node:fs/promises';

/** The warning for a backlog past `somaxconnText` (/proc/sys/net/core/somaxconn), or undefined when it fits or is unknown. */
export function backlogWarning(backlog: number, somaxconnText: string | undefined): string | undefined {
  const somaxconn = Number(somaxconnText?.trim() ?? Number.NaN);
  if (!Number.isInteger(somaxconn) || somaxconn <= 0 || backlog <= somaxconn) return undefined;
  return `--http-backlog ${backlog} is past net.core.somaxconn ${somaxconn}, which the kernel caps it at: raise it with \`sysctl -w net.core.somaxconn=${backlog}\``;
}

/** The warning for `backlog` on this machine (Linux; undefined elsewhere). */
export async function listenBacklogWarning(backlog: number): Promise<string | undefined> {
  let text: string | undefined;
  try {
    text = await readFile('/proc/sys/net/core/somaxconn', 'utf8');
  } catch {
    text = undefined;
  }
  return backlogWarning(backlog, text);
}
