/**
 * Rows of a file, converted to records, cut into request bodies: runs of
 * consecutive rows as one JSON array each (one JSON.stringify per body is
 * faster than one per row, and a node takes a JSON array like NDJSON).
 * A body is cut at `rowsMax` rows, and split again when its text passes
 * `bytesMax`. Rows that are not sent (refused in skip mode, or before a
 * resume point) end the run, so every body is a contiguous row range:
 * a node numbers a body's records from its first row (dedupe keys).
 * A node's own import gives an encoder instead: each run becomes a record
 * batch, validated and encoded here (encode-rows.ts), with no JSON text.
 */
import type { EncodedBatch } from '../batch-encoder.ts';

/** Rows [first, first + rows) of a task; `body` null: nothing to send for them. */
export interface ConvertedBatch {
  readonly first: number;
  readonly rows: number;
  readonly body: Uint8Array | null;
  /** The rows as a record batch (a batcher with an encoder); `body` is then null. */
  readonly encoded?: EncodedBatch;
}

/** Encodes a run of records starting at task row `first`. */
export type RunEncoder = (records: readonly unknown[], first: number) => EncodedBatch;

/** Bounds of one body. */
export interface BatchLimits {
  readonly rowsMax: number;
  readonly bytesMax: number;
}

const utf8 = new TextEncoder();

/** Collects converted rows in order and cuts them into batches. */
export class RowBatcher {
  readonly batches: ConvertedBatch[] = [];
  private readonly limits: BatchLimits;
  private readonly encoder: RunEncoder | undefined;
  private run: unknown[] = [];
  private runFirst = 0;
  /** Rows accounted for so far (the next row's index). */
  private next = 0;

  /** Without `encoder` runs become JSON bodies; with it, record batches. */
  constructor(limits: BatchLimits, encoder?: RunEncoder) {
    this.limits = limits;
    this.encoder = encoder;
  }

  /** Row `next` becomes a record. */
  add(record: unknown): void {
    if (this.run.length === 0) this.runFirst = this.next;
    this.run.push(record);
    this.next++;
    if (this.run.length >= this.limits.rowsMax) this.flush();
  }

  /** The next `count` rows send nothing (refused, or already written before a resume). */
  pass(count: number): void {
    if (count <= 0) return;
    this.flush();
    const last = this.batches.at(-1);
    if (last !== undefined && last.body === null && last.encoded === undefined && last.first + last.rows === this.next) {
      this.batches[this.batches.length - 1] = { first: last.first, rows: last.rows + count, body: null };
    } else {
      this.batches.push({ first: this.next, rows: count, body: null });
    }
    this.next += count;
  }

  /** Rows accounted for. */
  get rows(): number {
    return this.next;
  }

  /** Ends the current run; call once after the last row. */
  flush(): void {
    if (this.run.length === 0) return;
    this.encode(this.run, this.runFirst);
    this.run = [];
  }

  private encode(records: unknown[], first: number): void {
    if (this.encoder !== undefined) {
      const encoded = this.encoder(records, first);
      if (encoded.batch.byteLength <= this.limits.bytesMax || records.length === 1) {
        this.batches.push({ first, rows: records.length, body: null, encoded });
        return;
      }
    } else {
      const body = utf8.encode(JSON.stringify(records));
      if (body.length <= this.limits.bytesMax || records.length === 1) {
        this.batches.push({ first, rows: records.length, body });
        return;
      }
    }
    // Too large (wide rows): halves until each fits; a single row goes as it is and the node judges its size.
    const half = Math.ceil(records.length / 2);
    this.encode(records.slice(0, half), first);
    this.encode(records.slice(half), first + half);
  }
}
