/**
 * The one door every source writes through: admission (backpressure) in
 * front of the shared pipeline, and per-source progress behind it. A
 * source never talks to the pipeline or the admission counters directly,
 * so HTTP, gRPC, Kafka and file imports get the same limits, validation,
 * routing, durability and metrics.
 */
import { SluiceError } from '../core/errors.ts';
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
    if (signal.aborted) throw new SluiceError('SHUTTING_DOWN', 'the source stopped while waiting for room');
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

  /** `pipeline` throws NOT_READY / SHUTTING_DOWN while the node cannot write. */
  constructor(admission: Admission, pipeline: () => IngestPipeline) {
    this.admission = admission;
    this.pipeline = pipeline;
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
    return waitForTicket(() => this.admission.tryAcquire(bytes), signal, onWait);
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
    const result = await pipeline.write({ ...req, ticket });
    countWrite(progress, result);
    return result;
  }
}
