/**
 * Where a shipper protocol's bodies are decoded: a body at least
 * `workerBodyBytesMin` long goes to worker threads, so the main thread
 * keeps routing and answering while it is decompressed, decoded and turned
 * into records; a smaller one is decoded inline, where a thread hop costs
 * more than the work. The threads start at the first large body and stop
 * when idle or when the server closes. The OTLP and Loki routes each keep
 * one, with their own worker file.
 */
import { Piscina } from 'piscina';

/** Options of a pool. */
export interface BodyDecodePoolOptions {
  /** Worker threads; 0 decodes everything inline. */
  readonly threads: number;
  /** Smallest body sent to a worker, bytes. */
  readonly workerBodyBytesMin: number;
  /** Old-generation heap of each worker, MiB: room for the working set of one largest body. */
  readonly workerHeapMbMax: number;
  /** A worker idle this long exits, ms. */
  readonly idleTimeoutMs: number;
}

/** Runs `decode(task)` inline or, for a large body, the same function in a worker of `workerFile`. */
export class BodyDecodePool<Task extends { readonly body: Uint8Array }, Answer> {
  private readonly options: BodyDecodePoolOptions;
  private readonly workerFile: URL;
  private readonly decodeInline: (task: Task) => Answer;
  private pool: Piscina | undefined;

  constructor(options: BodyDecodePoolOptions, workerFile: URL, decodeInline: (task: Task) => Answer) {
    this.options = options;
    this.workerFile = workerFile;
    this.decodeInline = decodeInline;
  }

  /** Decodes one body. A large body's memory is transferred to the worker: the caller must not use it after. */
  run(task: Task): Promise<Answer> {
    if (this.options.threads === 0 || task.body.length < this.options.workerBodyBytesMin) return Promise.resolve(this.decodeInline(task));
    return this.inWorker(task);
  }

  /** Stops the worker threads; idempotent. */
  async close(): Promise<void> {
    const pool = this.pool;
    this.pool = undefined;
    await pool?.destroy();
  }

  /** Transfers the body when it owns its memory; a view into a shared buffer, or memory V8 cannot transfer (a native addon's), is copied. */
  private async inWorker(task: Task): Promise<Answer> {
    const body = task.body;
    const pool = this.started();
    if (body.byteOffset === 0 && body.byteLength === body.buffer.byteLength) {
      try {
        return (await pool.run(task, { transferList: [body.buffer] as never })) as Answer;
      } catch (err) {
        // Refused before anything moved: the body is intact, send a copy.
        if (!(err instanceof Error && err.name === 'DataCloneError')) throw err;
      }
    }
    return (await pool.run(task)) as Answer;
  }

  private started(): Piscina {
    this.pool ??= new Piscina({
      filename: this.workerFile.href,
      minThreads: 0,
      maxThreads: this.options.threads,
      // Admission control bounds the bodies in flight; the queue only smooths bursts.
      maxQueue: Number.POSITIVE_INFINITY,
      idleTimeout: this.options.idleTimeoutMs,
      resourceLimits: { maxOldGenerationSizeMb: this.options.workerHeapMbMax, maxYoungGenerationSizeMb: 16 },
    });
    return this.pool;
  }
}
