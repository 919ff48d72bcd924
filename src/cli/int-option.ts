/**
 * Integer command-line options, checked against their bounds with a message
 * that names the flag (exit code 2, a usage error).
 */
import { CliError } from './cli-error.ts';

/** `value` as an integer in [min, max]; a CliError naming `flag` otherwise. */
export function intOption(value: string, flag: string, min: number, max: number): number {
  if (!/^[0-9]+$/.test(value) || Number(value) < min || Number(value) > max) throw new CliError(`${flag} must be an integer from ${min} to ${max}, got ${value}`, 2);
  return Number(value);
}
