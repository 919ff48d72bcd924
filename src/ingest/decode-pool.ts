/**
 * Where decoding runs: bodies at least `workerBodyBytesMin` long go to a
 * piscina pool of worker threads so the main thread keeps routing,
 * appending and answering; smaller ones are decoded inline, where a thread
 * hop would cost more than the parse.
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

/** Decodes request bodies inline or in worker threads. */
export class DecodePool {
  private readonly pool: Piscina | undefined;
  private readonly workerBodyBytesMin: number;

  constructor(options: DecodePoolOptions) {
    this.workerBodyBytesMin = options.workerBodyBytesMin;
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

  /**
   * Decodes, validates and encodes one body. Throws the SluiceError of a bad
   * body. `keepBody`: the caller reads the body afterwards (dead letters cut
   * refused records from it), so it is copied to a worker, never transferred.
   */
  async decode(task: DecodeTask, options: { readonly keepBody?: boolean } = {}): Promise<EncodedBatch> {
    let answer: DecodeAnswer;
    if (this.pool === undefined || task.body.length < this.workerBodyBytesMin) {
      answer = runDecode(task);
    } else {
      const body = task.body;
      const whole = options.keepBody !== true && body.byteOffset === 0 && body.byteLength === body.buffer.byteLength;
      // Transfer the body when it owns its memory; a view into a shared buffer is copied instead.
      answer = (await (whole ? this.pool.run(task, { transferList: [body.buffer] as never }) : this.pool.run(task))) as DecodeAnswer;
    }
    if (!answer.ok) throw new SluiceError(answer.error.code, answer.error.message, answer.error.details);
    return answer.encoded;
  }

  /** Stops the worker threads; idempotent. */
  async close(): Promise<void> {
    await this.pool?.destroy();
  }
}
