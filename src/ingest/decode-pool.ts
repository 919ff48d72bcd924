/**
 * Where decoding runs: bodies at least `workerBodyBytesMin` long go to a
 * piscina pool of worker threads so the main thread keeps routing,
 * appending and answering; smaller ones are decoded inline, where a thread
 * hop would cost more than the parse. A task waits here for a free thread
 * (one task per thread, as piscina runs them), so a caller learns when its
 * task starts and can reserve the task's memory only from then on.
 */
import { Piscina } from 'piscina';
import { SluiceError } from '../core/errors.ts';
import { runDecode, type DecodeAnswer, type DecodeTask } from './decode-worker.ts';
import type { EncodedBatch } from './batch-encoder.ts';

/** Options of the decode pool. */
export interface DecodePoolOptions {
  /** Worker threads; 0 decodes everything inline. */
  readonly threads: number;
  /** Smallest body sent to a worker. */
  readonly workerBodyBytesMin: number;
  /**
   * Old-generation heap limit of each worker. Without it V8 lets worker heaps
   * grow lazily towards the machine's memory; with it they collect early.
   */
  readonly workerHeapMbMax: number;
}

/** Options of one decode. */
export interface DecodeOptions {
  /** The caller reads the body afterwards (dead letters cut refused records from it): copy it to a worker, never transfer it. */
  readonly keepBody?: boolean;
  /**
   * Runs right before the task does (inline: at once; in a worker: once a
   * thread is free, not while the task waits for one), so a caller can
   * reserve the task's working set only while it exists. If it throws,
   * the task does not run and decode rejects with its error.
   */
  readonly onStart?: () => void;
  /** Given the body a thread refused records of, handed back (a body transferred there is empty here meanwhile). */
  readonly bodyBack?: (body: Uint8Array) => void;
}

/** Decodes request bodies inline or in worker threads. */
export class DecodePool {
  private readonly pool: Piscina | undefined;
  private readonly workerBodyBytesMin: number;
  private readonly threads: number;
  /** Tasks handed to the threads and not finished: at most `threads`, so piscina's own queue stays empty. */
  private running = 0;
  /** Tasks waiting for a thread, first come first served (admission bounds how many). */
  private readonly waiting: (() => void)[] = [];

  constructor(options: DecodePoolOptions) {
    this.workerBodyBytesMin = options.workerBodyBytesMin;
    this.threads = options.threads;
    this.pool =
      options.threads > 0
        ? new Piscina({
            filename: new URL('./decode-worker.ts', import.meta.url).href,
            minThreads: options.threads,
            maxThreads: options.threads,
            // Admission control already bounds what is in flight; the queue only smooths bursts.
            maxQueue: Number.POSITIVE_INFINITY,
            idleTimeout: 60_000,
            resourceLimits: { maxOldGenerationSizeMb: options.workerHeapMbMax, maxYoungGenerationSizeMb: 16 },
          })
        : undefined;
  }

  /** Decodes, validates and encodes one body. Throws the SluiceError of a bad body. */
  async decode(task: DecodeTask, options: DecodeOptions = {}): Promise<EncodedBatch> {
    let answer: DecodeAnswer;
    if (this.pool === undefined || task.body.length < this.workerBodyBytesMin) {
      options.onStart?.();
      answer = runDecode(task);
    } else {
      answer = await this.inWorker(this.pool, task, options);
    }
    if (!answer.ok) throw new SluiceError(answer.error.code, answer.error.message, answer.error.details);
    if (answer.body !== undefined) options.bodyBack?.(answer.body);
    return answer.encoded;
  }

  /** Runs `task` on a thread once one is free. */
  private async inWorker(pool: Piscina, task: DecodeTask, options: DecodeOptions): Promise<DecodeAnswer> {
    if (this.running < this.threads) this.running++;
    // A finishing task hands its thread over (`running` unchanged).
    else await new Promise<void>((resolve) => this.waiting.push(resolve));
    try {
      options.onStart?.();
      const body = task.body;
      const whole = options.keepBody !== true && body.byteOffset === 0 && body.byteLength === body.buffer.byteLength;
      // Transfer the body when it owns its memory; a view into a shared buffer is copied instead.
      return (await (whole ? pool.run(task, { transferList: [body.buffer] as never }) : pool.run(task))) as DecodeAnswer;
    } finally {
      const next = this.waiting.shift();
      if (next === undefined) this.running--;
      else next();
    }
  }

  /** Stops the worker threads; idempotent. */
  async close(): Promise<void> {
    await this.pool?.destroy();
  }
}
