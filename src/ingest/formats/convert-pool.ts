/**
 * Worker threads that convert file chunks (CSV text, Parquet row ranges)
 * into request bodies, so that a CLI import keeps its main thread for
 * reading and sending, and a node keeps its main thread for serving.
 * With 0 threads tasks run inline (tests, tiny imports).
 */
import { Piscina } from 'piscina';
import { runConvertTask, type ConvertResult, type ConvertTask } from './convert-task.ts';

/** Options of a conversion pool. */
export interface ConvertPoolOptions {
  /** Worker threads; 0 runs tasks on the calling thread. */
  readonly threads: number;
  /** A worker idle this long exits (a node keeps no threads between imports). @default 30_000 */
  readonly idleTimeoutMs?: number;
  /**
   * Old-generation heap of each worker. A task holds one chunk's rows
   * (about 1 MiB of CSV, or 8 MiB of Parquet values; a 65,536-row task of
   * the benchmark file runs in 32 MiB); without a bound V8 lets garbage
   * grow each worker's heap towards the machine's memory. @default 96
   */
  readonly workerHeapMbMax?: number;
  /**
   * Young generation of each worker. A Parquet task's decoded columns (a
   * whole row range, tens of MiB of strings and bigints) live through many
   * scavenges; with 16 MiB most of them were copied and promoted, and
   * old-generation marking followed. 64 MiB: the node's CPU per million
   * imported rows 10.6 → 9.2 CPU-s (medians of 6 interleaved runs); 32 and
   * 128 did less (docs/benchmarks.md, "Parquet import: where the CPU
   * goes"). The node's import route asks for 64; the default stays 16 for
   * `sluice ingest`, whose resident memory is bounded (a 1 GiB CSV import
   * peaked at 515 MiB with 64, past its 512 MiB bound). @default 16
   */
  readonly workerYoungMbMax?: number;
}

/** Runs conversion tasks inline or in worker threads. */
export class ConvertPool {
  readonly threads: number;
  private readonly pool: Piscina | undefined;

  constructor(options: ConvertPoolOptions) {
    this.threads = options.threads;
    this.pool =
      options.threads > 0
        ? new Piscina({
            filename: new URL('./convert-worker.ts', import.meta.url).href,
            minThreads: 0,
            maxThreads: options.threads,
            // Callers bound what they submit (tasks in flight ≤ threads + a few): no queue growth here.
            maxQueue: Number.POSITIVE_INFINITY,
            idleTimeout: options.idleTimeoutMs ?? 30_000,
            resourceLimits: { maxOldGenerationSizeMb: options.workerHeapMbMax ?? 96, maxYoungGenerationSizeMb: options.workerYoungMbMax ?? 16 },
          })
        : undefined;
  }

  /** Converts one task. A CSV chunk's bytes are transferred (the caller must not reuse them). */
  run(task: ConvertTask): Promise<ConvertResult> {
    if (this.pool === undefined) return runConvertTask(task);
    if (task.kind === 'csv') {
      const b = task.bytes;
      const owns = b.byteOffset === 0 && b.byteLength === b.buffer.byteLength;
      return this.pool.run(task, owns ? { transferList: [b.buffer] as never } : {}) as Promise<ConvertResult>;
    }
    return this.pool.run(task) as Promise<ConvertResult>;
  }

  /** Stops the threads; idempotent. */
  async close(): Promise<void> {
    await this.pool?.destroy();
  }
}
