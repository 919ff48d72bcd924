/**
 * Certificate lifetimes as the CLI takes them: `10y`, `1y`, `90d`, `12h`.
 * A year is 365 days: a certificate's end date need not land on the same
 * calendar day, only be predictable.
 */
import { SluiceError } from '../../core/errors.ts';

const HOUR_MS = 3_600_000;
const UNIT_MS: Readonly<Record<string, number>> = { h: HOUR_MS, d: 24 * HOUR_MS, y: 365 * 24 * HOUR_MS };
/** Past this a lifetime is a typo: X.509 dates end in 9999 and a CA outliving its operators helps no one. */
const MAX_MS = 100 * UNIT_MS['y']!;

/** Milliseconds of a lifetime such as `10y`, `90d` or `12h`; INVALID_ARGUMENT naming `flag` otherwise. */
export function parseLifetime(text: string, flag = '--lifetime'): number {
  const m = /^([1-9][0-9]{0,5})([hdy])$/.exec(text.trim());
  const ms = m === null ? undefined : Number(m[1]) * UNIT_MS[m[2] as string]!;
  if (ms === undefined || ms > MAX_MS) throw new SluiceError('INVALID_ARGUMENT', `${flag} must be a whole number of hours, days or years up to 100y, like 12h, 90d or 10y; got ${JSON.stringify(text)}`);
  return ms;
}
