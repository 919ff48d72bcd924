/**
 * A value inside an OTLP request that sluice cannot take (a bad id, a
 * number that is no int64, a value nested past the depth limit). Thrown by
 * the value decoders and caught by the request decoders: inside a log
 * record it refuses that record alone; in a resource or scope, the request.
 */
import { SluiceError } from '../../../core/errors.ts';
import type { ViolationCode } from '../../../core/schema/violation.ts';
import type { EntryProblem } from './otlp-log-entry.ts';

/** A refused value, with the JSON pointer of where it sits. */
export class ValueProblem extends Error {
  readonly path: string;
  readonly code: ViolationCode;

  constructor(path: string, code: ViolationCode, message: string) {
    super(message);
    this.path = path;
    this.code = code;
  }

  /** The problem as a log record carries it. */
  toEntryProblem(): EntryProblem {
    return { path: this.path, code: this.code, message: this.message };
  }
}

/** Runs `fn`; a ValueProblem becomes INVALID_OTLP for the whole request (a resource's or scope's value). */
export function wholeRequest<T>(where: string, fn: () => T): T {
  try {
    return fn();
  } catch (err) {
    if (!(err instanceof ValueProblem)) throw err;
    throw new SluiceError('INVALID_OTLP', `${where}${err.path}: ${err.message}`, [{ path: `${where}${err.path}`, code: err.code, message: err.message }]);
  }
}

/** Runs `fn`; a ValueProblem becomes the record's problem. */
export function perRecord<T>(fn: () => T): { value: T } | { problem: EntryProblem } {
  try {
    return { value: fn() };
  } catch (err) {
    if (!(err instanceof ValueProblem)) throw err;
    return { problem: err.toEntryProblem() };
  }
}
