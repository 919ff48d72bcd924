/**
 * The contract every source of records implements (HTTP, gRPC, Kafka,
 * files): a lifecycle, a status with progress, and the rule that a source
 * acknowledges or commits upstream only after `IngestDoor.write` resolved,
 * that is, after the records are durable at the table's W. Backpressure
 * reaches a source through the door: request/response sources refuse
 * (`tryAdmit`), streaming sources stop reading (`admit` waits).
 */

/** Where a source is in its life. `paused`: waiting for room in the node (backpressure). */
export type IngestorState = 'starting' | 'running' | 'paused' | 'stopping' | 'stopped' | 'failed';

/** The kinds of sources. */
export type IngestorKind = 'http' | 'grpc' | 'kafka' | 'file';

/** What a source has done since it started. */
export interface IngestorProgress {
  /** Records written durably. */
  records: number;
  /** Records refused by validation (answered to the sender or dead-lettered). */
  rejected: number;
  /** Batches written. */
  batches: number;
}

/** A source's status as `GET /v1/sources` shows it. */
export interface IngestorStatus {
  readonly name: string;
  readonly kind: IngestorKind;
  readonly state: IngestorState;
  readonly progress: Readonly<IngestorProgress>;
  /** Source-specific figures (a Kafka source's lag per partition, committed offsets). */
  readonly detail?: Readonly<Record<string, unknown>>;
  /** Why a failed source failed. */
  readonly error?: string;
}

/** One source of records. */
export interface Ingestor {
  readonly name: string;
  readonly kind: IngestorKind;
  /** Starts taking records; resolves once it is running. */
  start(): Promise<void>;
  /** Stops taking records, finishes (and commits) what is in flight; idempotent. */
  stop(): Promise<void>;
  status(): IngestorStatus;
}

/** Counts one durable write in a source's progress. */
export function countWrite(progress: IngestorProgress | undefined, result: { readonly written: number; readonly rejectedCount: number }): void {
  if (progress === undefined) return;
  progress.records += result.written;
  progress.rejected += result.rejectedCount;
  progress.batches++;
}

/** A zeroed progress record. */
export function newProgress(): IngestorProgress {
  return { records: 0, rejected: 0, batches: 0 };
}
