/**
 * How many table files LevelDB may keep open. LevelDB's table cache holds
 * `maxOpenFiles` files; an index with more table files (2 MiB each, so past
 * about 2 GB) reopens a file and rereads its index block on most random
 * reads: 30M records in 2,000 files served 8.9k point reads/s with 1,000
 * open files and 26k with 20,000 (decision 16). The budget is half the
 * process's open-file limit, leaving the rest to sockets, WAL segments and
 * hint queues; Node raises the soft limit to the hard one at start-up.
 */
import { readFileSync } from 'node:fs';
import { parseOpenFileLimits } from '../../core/open-file-limits.ts';

/** LevelDB's own default, used when the limit cannot be read. */
const FALLBACK = 1_000;
/** LevelDB clips `max_open_files` to this itself (SanitizeOptions). */
const CEILING = 50_000;


/** Half of a soft open-file limit, within [1,000, 50,000]. */
export function openFilesBudgetOf(softLimit: number): number {
  return Math.max(FALLBACK, Math.min(CEILING, Math.floor(softLimit / 2)));
}

/** Half the soft limit in a `/proc/self/limits` text, within [1,000, 50,000]; 1,000 if absent or unreadable. */
export function openFilesBudget(limitsText: string | undefined): number {
  const limits = parseOpenFileLimits(limitsText);
  return limits === undefined ? FALLBACK : openFilesBudgetOf(limits.soft);
}

/** The budget of this process (Linux; 1,000 elsewhere). */
export function processOpenFilesBudget(): number {
  let text: string | undefined;
  try {
    text = readFileSync('/proc/self/limits', 'utf8');
  } catch {
    text = undefined;
  }
  return openFilesBudget(text);
}
