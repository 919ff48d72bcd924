/**
 * Where Loki pushes are decoded: a push at least `workerBodyBytesMin` long
 * goes to worker threads, so the main thread keeps routing and answering
 * while snappy, protobuf, labels and records are worked through (about a
 * second of CPU for a 10 MB push on a loaded two-core machine); a smaller
 * one is decoded inline, where a thread hop would cost more. The threads
 * start at the first large push and stop when idle.
 */
import { Piscina } from 'piscina';
import { SluiceError } from '../../../../core/errors.ts';
import { runLokiDecode, type LokiDecodeAnswer, type LokiDecodeTask } from './loki-decode.ts';

/** Options of the pool. */
export interface LokiDecodePoolOptions {
  /** Worker threads; 0 decodes everything inline. */
  readonly threads: number;
  /** Smallest body sent to a worker, bytes. */
  readonly workerBodyBytesMin: number;
  /** Old-generation heap of each worker, MiB: room for the objects of one largest push and its records body. */
  readonly workerHeapMbMax: number;
  /** A worker idle this long exits, ms. */
  readonly idleTimeoutMs: number;
}

/** What a decoded push holds. */
export interface LokiDecoded {
  readonly records: Uint8Array;
  readonly count: number;
  readonly decodedBytes: number;
}

/** Decodes Loki pushes inline or in worker threads. */
export class LokiDecodePool {
  private readonly options: LokiDecodePoolOptions;
  private pool: Piscina | undefined;

  constructor(options: LokiDecodePoolOptions) {
    this.options = options;
  }

  /** Decodes one push; throws the SluiceError of a bad one. A large body is transferred to the worker: the caller must not use it after. */
  async decode(task: LokiDecodeTask): Promise<LokiDecoded> {
    let answer: LokiDecodeAnswer;
    if (this.options.threads === 0 || task.body.length < this.options.workerBodyBytesMin) {
      answer = runLokiDecode(task);
    } else {
      answer = await this.inWorker(task);
    }
    if (!answer.ok) throw new SluiceError(answer.error.code, answer.error.message, answer.error.details);
    return answer;
  }

  /** Stops the worker threads; idempotent. */
  async close(): Promise<void> {
    const pool = this.pool;
    this.pool = undefined;
    await pool?.destroy();
  }

  /** Transfers the body when it owns its memory; a view into a shared buffer, or memory V8 cannot transfer (a native addon's), is copied. */
  private async inWorker(task: LokiDecodeTask): Promise<LokiDecodeAnswer> {
    const body = task.body;
    const pool = this.started();
    if (body.byteOffset === 0 && body.byteLength === body.buffer.byteLength) {
      try {
        return (await pool.run(task, { transferList: [body.buffer] as never })) as LokiDecodeAnswer;
      } catch (err) {
        // Refused before anything moved: the body is intact, send a copy.
        if (!(err instanceof Error && err.name === 'DataCloneError')) throw err;
      }
    }
    return (await pool.run(task)) as LokiDecodeAnswer;
  }

  private started(): Piscina {
    this.pool ??= new Piscina({
      filename: new URL('./loki-decode-worker.ts', import.meta.url).href,
      minThreads: 0,
      maxThreads: this.options.threads,
      // Admission control bounds the pushes in flight; the queue only smooths bursts.
      maxQueue: Number.POSITIVE_INFINITY,
      idleTimeout: this.options.idleTimeoutMs,
      resourceLimits: { maxOldGenerationSizeMb: this.options.workerHeapMbMax, maxYoungGenerationSizeMb: 16 },
    });
    return this.pool;
  }
}
