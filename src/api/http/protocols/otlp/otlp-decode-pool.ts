/**
 * Where OTLP bodies are decoded (body-decode-pool.ts): a large batch is
 * decoded, mapped and turned into JSON in worker threads, bodies under the
 * node's decode-worker threshold inline.
 */
import { SluiceError } from '../../../../core/errors.ts';
import { BodyDecodePool, type BodyDecodePoolOptions } from '../body-decode-pool.ts';
import { runOtlpDecode, type OtlpDecodeAnswer, type OtlpDecodeTask, type OtlpDecoded } from './otlp-decode-task.ts';

/** Options of the pool. */
export type OtlpDecodePoolOptions = BodyDecodePoolOptions;

/** Decodes OTLP bodies inline or in worker threads. */
export class OtlpDecodePool {
  private readonly pool: BodyDecodePool<OtlpDecodeTask, OtlpDecodeAnswer>;

  constructor(options: OtlpDecodePoolOptions) {
    this.pool = new BodyDecodePool(options, new URL('./otlp-decode-worker.ts', import.meta.url), runOtlpDecode);
  }

  /** Decodes one body; throws the SluiceError of a body refused whole. The body is transferred to a worker: do not reuse it. */
  async decode(task: OtlpDecodeTask): Promise<OtlpDecoded> {
    const answer = await this.pool.run(task);
    if (!answer.ok) throw new SluiceError(answer.error.code, answer.error.message, answer.error.details);
    return answer.decoded;
  }

  /** Stops the threads; idempotent. */
  close(): Promise<void> {
    return this.pool.close();
  }
}
