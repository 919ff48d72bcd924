/**
 * The error a source's wait (for admission, for a table's rate) ends with
 * when its signal aborts: SHUTTING_DOWN, retryable, nothing written.
 */
import { SluiceError, isSluiceError } from '../core/errors.ts';

/**
 * The SHUTTING_DOWN a wait ends with once `signal` aborts: the abort's own
 * reason when it is one (the node stopping says so), else `message`.
 */
export function stoppedError(signal: AbortSignal | undefined, message: string): SluiceError {
  const reason: unknown = signal?.reason;
  if (isSluiceError(reason) && reason.code === 'SHUTTING_DOWN') return new SluiceError('SHUTTING_DOWN', reason.message);
  return new SluiceError('SHUTTING_DOWN', message);
}
