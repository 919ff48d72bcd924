/**
 * Library failures turned into SluiceErrors. Callers switch on the code:
 * DISK_FULL (the disk ran out of space, retryable once space is freed),
 * STORAGE_IO (anything else the engine library reported), SHUTTING_DOWN
 * (the engine was closed).
 */
import { SluiceError, errnoCode } from '../../core/errors.ts';

/** LMDB reports errno values as numbers in `code`; 28 is ENOSPC on Linux. */
const ENOSPC_NUMBER = 28;

function isDiskFull(err: unknown): boolean {
  if (errnoCode(err) === 'ENOSPC') return true;
  if (typeof err !== 'object' || err === null) return false;
  if ('code' in err && err.code === ENOSPC_NUMBER) return true;
  return err instanceof Error && /no space left on device/i.test(err.message);
}

/** Wraps an error thrown by an engine library; SluiceErrors pass through unchanged. */
export function storageError(what: string, err: unknown): SluiceError {
  if (err instanceof SluiceError) return err;
  const message = describe(err);
  return new SluiceError(isDiskFull(err) || isDiskFull(causeOf(err)) ? 'DISK_FULL' : 'STORAGE_IO', `${what}: ${message}`, [], { cause: err });
}

/** The message with its cause's (abstract-level wraps LevelDB's status in `cause`). */
function describe(err: unknown): string {
  if (!(err instanceof Error)) return String(err);
  const cause = causeOf(err);
  return cause instanceof Error && !err.message.includes(cause.message) ? `${err.message} (${cause.message})` : err.message;
}

function causeOf(err: unknown): unknown {
  return err instanceof Error ? err.cause : undefined;
}

/** The error every operation on a closed (or closing) engine rejects with. */
export function closedError(kind: string, dir: string): SluiceError {
  return new SluiceError('SHUTTING_DOWN', `the ${kind} index engine in ${dir} is closed`);
}

/** The error commits reject with after an earlier commit failed. */
export function failedError(kind: string, dir: string, failure: unknown): SluiceError {
  const message = describe(failure);
  return new SluiceError(
    'STORAGE_IO',
    `the ${kind} index engine in ${dir} refuses commits after a failed commit (${message}); reopen it and replay the WAL`,
    [],
    { cause: failure },
  );
}
