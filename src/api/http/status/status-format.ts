/**
 * How the status page writes numbers for people: durations, byte sizes,
 * rates. Pure functions; the JSON view keeps the raw numbers.
 */

/** `0.25 ms`, `850 ms`, `4.2 s`, `3 m 07 s`, `5 h 02 m`, `2 d 04 h`. */
export function formatDuration(ms: number): string {
  if (!Number.isFinite(ms)) return '∞';
  // fsync buckets go down to 0.1 ms: keep their digits.
  if (ms < 10) return `${Number(ms.toFixed(2))} ms`;
  if (ms < 1000) return `${Math.round(ms)} ms`;
  const s = ms / 1000;
  if (s < 60) return `${s.toFixed(1)} s`;
  const two = (n: number): string => String(Math.floor(n)).padStart(2, '0');
  if (s < 3600) return `${Math.floor(s / 60)} m ${two(s % 60)} s`;
  if (s < 86_400) return `${Math.floor(s / 3600)} h ${two((s % 3600) / 60)} m`;
  return `${Math.floor(s / 86_400)} d ${two((s % 86_400) / 3600)} h`;
}

/** `512 B`, `3.4 MiB`, `1.2 TiB`. */
export function formatBytes(bytes: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB'];
  let n = bytes;
  let i = 0;
  while (n >= 1024 && i < units.length - 1) {
    n /= 1024;
    i++;
  }
  return i === 0 ? `${n} B` : `${n.toFixed(1)} ${units[i] as string}`;
}

/** Records per second: whole numbers from 100 up, one decimal below. */
export function formatRate(perSec: number): string {
  return perSec >= 100 ? Math.round(perSec).toLocaleString('en-US') : perSec.toFixed(1);
}

/** A count with thousands separators. */
export function formatCount(n: number): string {
  return n.toLocaleString('en-US');
}
