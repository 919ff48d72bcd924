/**
 * The one door every source writes through: admission (backpressure) in
 * front of the shared pipeline, and per-source progress behind it. A
 * source never talks to the pipeline or the admission counters directly,
 * so HTTP, gRPC, Kafka and file imports get the same limits, validation,
 * routing, durability and metrics.
 */
import { SluiceError } from '../core/errors.ts';
import { stoppedError } from './stopped-error.ts';
import type { Admission, AdmissionTicket } from './admission.ts';
import { countWrite, type IngestorProgress } from './ingestor.ts';
import type { IngestPipeline, WriteRequest, WriteResult } from './pipeline.ts';
import type { OnInvalid } from './batch-encoder.ts';
import type { RowEncodeParams } from './formats/encode-rows.ts';

/** How often a waiting source retries admission. Short: a slot frees when any write finishes. */
const ADMISSION_POLL_MS = 5;

/**
 * Polls `tryAcquire` until it hands out a ticket: a streaming source's
 * backpressure (it stops reading meanwhile). `onWait` runs once, when the
 * first try fails; rejects with SHUTTING_DOWN once `signal` aborts.
 */
export async function waitForTicket(tryAcquire: () => AdmissionTicket | undefined, signal: AbortSignal, onWait?: () => void): Promise<AdmissionTicket> {
  let waited = false;
  for (;;) {
    if (signal.aborted) throw stoppedError(signal, 'the source stopped while waiting for room');
    const ticket = tryAcquire();
    if (ticket !== undefined) return ticket;
    if (!waited) {
      waited = true;
      onWait?.();
    }
    await new Promise((resolve) => setTimeout(resolve, ADMISSION_POLL_MS));
  }
}

/** A write through the door: the pipeline request without the ticket. */
export type DoorWrite = Omit<WriteRequest, 'ticket'>;

/** What a streaming source needs from whatever it writes to: this node's door, or a remote node's (`sluice kafka`). */
export interface SourceDoor {
  /** Waits until there is room for `bytes`; rejects with SHUTTING_DOWN once `signal` aborts. */
  admit(bytes: number, signal: AbortSignal, onWait?: () => void): Promise<AdmissionTicket>;
  /** Writes one admitted batch; resolves once durable at the table's W. */
  write(req: DoorWrite, ticket: AdmissionTicket, progress?: IngestorProgress): Promise<WriteResult>;
}

/** Admission plus the pipeline, shared by all sources of a node. */
export class IngestDoor implements SourceDoor {
  private readonly admission: Admission;
  private readonly pipeline: () => IngestPipeline;
  /** Aborted when the node stops: every wait for admission or a table's rate ends then, not at the shutdown grace. */
  private readonly closing = new AbortController();

  /** `pipeline` throws NOT_READY / SHUTTING_DOWN while the node cannot write. */
  constructor(admission: Admission, pipeline: () => IngestPipeline) {
    this.admission = admission;
    this.pipeline = pipeline;
  }

  /**
   * The node is stopping: every batch waiting for room or for its table's
   * rate (a stream's, an import's, a Kafka source's) fails at once with
   * SHUTTING_DOWN, before it is written; writes past their waits finish.
   * A rate wait can be hours and an admission wait as long as the writes
   * ahead of it, so holding the stop on them would wait out the grace and
   * then cut the callers off without an answer.
   */
  shutdown(): void {
    this.closing.abort(new SluiceError('SHUTTING_DOWN', 'the node is stopping; send the batch again (to another node, or once this one is back)'));
  }

  /** Room for `bytes` now, or undefined: a request/response source answers OVERLOADED. */
  tryAdmit(bytes: number): AdmissionTicket | undefined {
    return this.admission.tryAcquire(bytes);
  }

  /**
   * Waits until there is room for `bytes`: a streaming source stops reading
   * meanwhile, which is its backpressure. Rejects with SHUTTING_DOWN once
   * `signal` aborts.
   */
  admit(bytes: number, signal: AbortSignal, onWait?: () => void): Promise<AdmissionTicket> {
    return waitForTicket(() => this.admission.tryAcquire(bytes), AbortSignal.any([signal, this.closing.signal]), onWait);
  }

  /** The pipeline's encode context for a source that encodes its records itself (IngestPipeline.encodeParams). */
  encodeParams(table: string, onInvalid: OnInvalid, dedupe?: { readonly prefix: string; readonly digits: number }): RowEncodeParams {
    return this.pipeline().encodeParams(table, onInvalid, dedupe);
  }

  /** Writes one admitted batch; resolves once it is durable at the table's W. The ticket is released on every path. */
  async write(req: DoorWrite, ticket: AdmissionTicket, progress?: IngestorProgress): Promise<WriteResult> {
    let pipeline: IngestPipeline;
    try {
      pipeline = this.pipeline();
    } catch (err) {
      ticket.release();
      throw err;
    }
    // A batch that may wait for its table's rate stops waiting when its source stops or the node does.
    const signal = req.rateLimit !== 'wait' ? req.signal : req.signal === undefined ? this.closing.signal : AbortSignal.any([req.signal, this.closing.signal]);
    const result = await pipeline.write({ ...req, ...(signal === undefined ? {} : { signal }), ticket });
    countWrite(progress, result);
    return result;
  }
}
