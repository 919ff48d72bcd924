/**
 * Where OTLP bodies are decoded: bodies of at least `workerBodyBytesMin`
 * (the node's threshold for its decode workers) go to worker threads, so
 * the main thread keeps routing and answering while a large batch is
 * decoded, mapped and turned into JSON; smaller ones are decoded inline,
 * where a thread hop costs more than the work. The threads start at the
 * first large body and stop when idle or when the server closes.
 */
import { Piscina } from 'piscina';
import { SluiceError } from '../../../../core/errors.ts';
import { runOtlpDecode, type OtlpDecodeAnswer, type OtlpDecodeTask, type OtlpDecoded } from './otlp-decode-task.ts';

/** Options of the pool. */
export interface OtlpDecodePoolOptions {
  /** Worker threads; 0 decodes everything inline. */
  readonly threads: number;
  /** Smallest body sent to a worker, bytes. */
  readonly workerBodyBytesMin: number;
  /** Old-generation heap of each worker, MiB: the working set of the largest body. */
  readonly workerHeapMbMax: number;
  /** A worker idle this long exits. */
  readonly idleTimeoutMs: number;
}

/** Decodes OTLP bodies inline or in worker threads. */
export class OtlpDecodePool {
  private readonly options: OtlpDecodePoolOptions;
  private pool: Piscina | undefined;

  constructor(options: OtlpDecodePoolOptions) {
    this.options = options;
  }

  /** Decodes one body; throws the SluiceError of a body refused whole. The body is transferred to a worker: do not reuse it. */
  async decode(task: OtlpDecodeTask): Promise<OtlpDecoded> {
    const answer = this.options.threads === 0 || task.body.length < this.options.workerBodyBytesMin ? runOtlpDecode(task) : await this.inWorker(task);
    if (!answer.ok) throw new SluiceError(answer.error.code, answer.error.message, answer.error.details);
    return answer.decoded;
  }

  /** Stops the threads; idempotent. */
  async close(): Promise<void> {
    const pool = this.pool;
    this.pool = undefined;
    await pool?.destroy();
  }

  private inWorker(task: OtlpDecodeTask): Promise<OtlpDecodeAnswer> {
    this.pool ??= new Piscina({
      filename: new URL('./otlp-decode-worker.ts', import.meta.url).href,
      minThreads: 0,
      maxThreads: this.options.threads,
      // Admission bounds the bodies in flight; the queue only smooths bursts.
      maxQueue: Number.POSITIVE_INFINITY,
      idleTimeout: this.options.idleTimeoutMs,
      resourceLimits: { maxOldGenerationSizeMb: this.options.workerHeapMbMax, maxYoungGenerationSizeMb: 16 },
    });
    const body = task.body;
    const whole = body.byteOffset === 0 && body.byteLength === body.buffer.byteLength;
    // Transfer the body when it owns its memory; a view into a shared buffer is copied instead.
    return this.pool.run(task, whole ? { transferList: [body.buffer] as never } : {}) as Promise<OtlpDecodeAnswer>;
  }
}
