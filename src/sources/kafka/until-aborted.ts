/**
 * Waiting for something that may never happen on this connection: a batch
 * before ours that a crash or a stop leaves unfinished.
 */
import { SluiceError } from '../../core/errors.ts';

/** `promise`, or SHUTTING_DOWN once `signal` aborts (a batch before it will never finish on this connection). */
export function untilAborted(promise: Promise<void>, signal: AbortSignal): Promise<void> {
  if (signal.aborted) return Promise.reject(new SluiceError('SHUTTING_DOWN', 'the connection ended'));
  return new Promise((resolve, reject) => {
    const onAbort = (): void => reject(new SluiceError('SHUTTING_DOWN', 'the connection ended'));
    signal.addEventListener('abort', onAbort, { once: true });
    promise.then(
      () => {
        signal.removeEventListener('abort', onAbort);
        resolve();
      },
      (err: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(err as Error);
      },
    );
  });
}
