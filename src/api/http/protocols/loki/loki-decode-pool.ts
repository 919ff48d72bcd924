/**
 * Where Loki pushes are decoded (body-decode-pool.ts): snappy, protobuf,
 * labels and records take about a second of CPU for a 10 MB push on a
 * loaded two-core machine, so large pushes go to worker threads.
 */
import { SluiceError } from '../../../../core/errors.ts';
import { BodyDecodePool, type BodyDecodePoolOptions } from '../body-decode-pool.ts';
import { runLokiDecode, type LokiDecodeAnswer, type LokiDecodeTask } from './loki-decode.ts';

/** Options of the pool. */
export type LokiDecodePoolOptions = BodyDecodePoolOptions;

/** What a decoded push holds. */
export interface LokiDecoded {
  readonly records: Uint8Array;
  readonly count: number;
  readonly decodedBytes: number;
}

/** Decodes Loki pushes inline or in worker threads. */
export class LokiDecodePool {
  private readonly pool: BodyDecodePool<LokiDecodeTask, LokiDecodeAnswer>;

  constructor(options: LokiDecodePoolOptions) {
    this.pool = new BodyDecodePool(options, new URL('./loki-decode-worker.ts', import.meta.url), runLokiDecode);
  }

  /** Decodes one push; throws the SluiceError of a bad one. A large body is transferred to the worker: the caller must not use it after. */
  async decode(task: LokiDecodeTask): Promise<LokiDecoded> {
    const answer = await this.pool.run(task);
    if (!answer.ok) throw new SluiceError(answer.error.code, answer.error.message, answer.error.details);
    return answer;
  }

  /** Stops the worker threads; idempotent. */
  close(): Promise<void> {
    return this.pool.close();
  }
}
