/**
 * V8 heap tuning for the long-running commands (`serve`, `kafka`), applied
 * before they load anything else: see V8_HEAP_GROWING_PERCENT and decision 37.
 */
import v8 from 'node:v8';
import { V8_HEAP_GROWING_PERCENT } from '../config.ts';

const FLAG = '--heap-growing-percent';

/** Whether `args` (node's own arguments) already set V8's heap growing percent. */
export function setsHeapGrowing(args: readonly string[]): boolean {
  return args.some((a) => a === FLAG || a.startsWith(`${FLAG}=`) || a === '--heap_growing_percent' || a.startsWith('--heap_growing_percent='));
}

/** Sets V8's heap growing percent unless node was started with one; returns the flag set, or undefined. */
export function tuneHeapGrowing(execArgv: readonly string[] = process.execArgv): string | undefined {
  if (setsHeapGrowing(execArgv)) return undefined;
  // Read by V8 at every full collection, so setting it once the process runs takes effect from the next one.
  const flag = `${FLAG}=${V8_HEAP_GROWING_PERCENT}`;
  v8.setFlagsFromString(flag);
  return flag;
}
