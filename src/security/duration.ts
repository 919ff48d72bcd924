/**
 * Durations as operators write them: `90d`, `24h`, `30m`, `45s`, `1y`
 * (365 days), or plain milliseconds.
 */
import { SluiceError } from '../core/errors.ts';

const UNIT_MS: Record<string, number> = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000, y: 365 * 86_400_000 };

/** Milliseconds of `text`; INVALID_ARGUMENT naming `what` when it is not a duration. */
export function parseDuration(text: string, what: string): number {
  const m = /^([0-9]{1,9})(ms|s|m|h|d|y)?$/.exec(text.trim());
  if (m === null) throw new SluiceError('INVALID_ARGUMENT', `${what} must be a duration like 90d, 24h, 30m or 45s, got ${JSON.stringify(text)}`, [{ path: what, message: text }]);
  return Number(m[1]) * (UNIT_MS[m[2] ?? 'ms'] as number);
}
