/**
 * What a run counts besides latency: requests and records by outcome,
 * per table, and errors by kind (a transport error's code, or
 * `HTTP <status> <CODE>`). Plain numbers, so a per-second timeline is the
 * difference of two snapshots.
 */

/** Counts of one table. */
export interface TableCounts {
  ackedRecords: number;
  ackedRequests: number;
  failedRecords: number;
  failedRequests: number;
}

/** A copy of the running totals. */
export interface CounterSnapshot {
  readonly attempts: number;
  readonly ackedRequests: number;
  readonly ackedRecords: number;
  readonly failedRequests: number;
  readonly failedRecords: number;
  readonly droppedRequests: number;
  readonly droppedRecords: number;
  readonly retries: number;
  readonly throttled: number;
}

/** See the file comment. */
export class RunCounters {
  private attempts = 0;
  private ackedRequests = 0;
  private ackedRecords = 0;
  private failedRequests = 0;
  private failedRecords = 0;
  private droppedRequests = 0;
  private droppedRecords = 0;
  private retries = 0;
  private throttledCount = 0;
  /** Failures (requests that gave up) by kind. */
  readonly errors = new Map<string, number>();
  /** Retried attempts by kind. */
  readonly retried = new Map<string, number>();
  readonly tables = new Map<string, TableCounts>();

  /** An attempt was written. */
  attempt(): void {
    this.attempts++;
  }

  /** A request of `records` records was acknowledged. */
  acked(table: string, records: number): void {
    this.ackedRequests++;
    this.ackedRecords += records;
    const t = this.table(table);
    t.ackedRequests++;
    t.ackedRecords += records;
  }

  /** A request gave up (not retryable, or out of retries). */
  failed(table: string, kind: string, records: number): void {
    this.failedRequests++;
    this.failedRecords += records;
    this.errors.set(kind, (this.errors.get(kind) ?? 0) + 1);
    const t = this.table(table);
    t.failedRequests++;
    t.failedRecords += records;
  }

  /** A request waited past the queue limit and was never sent. */
  dropped(records: number): void {
    this.droppedRequests++;
    this.droppedRecords += records;
  }

  /** An attempt failed and will be retried. */
  retry(kind: string): void {
    this.retries++;
    this.retried.set(kind, (this.retried.get(kind) ?? 0) + 1);
  }

  /** A 429 answer. */
  throttled(): void {
    this.throttledCount++;
  }

  /** The totals now. */
  snapshot(): CounterSnapshot {
    return {
      attempts: this.attempts,
      ackedRequests: this.ackedRequests,
      ackedRecords: this.ackedRecords,
      failedRequests: this.failedRequests,
      failedRecords: this.failedRecords,
      droppedRequests: this.droppedRequests,
      droppedRecords: this.droppedRecords,
      retries: this.retries,
      throttled: this.throttledCount,
    };
  }

  private table(name: string): TableCounts {
    let t = this.tables.get(name);
    if (t === undefined) {
      t = { ackedRecords: 0, ackedRequests: 0, failedRecords: 0, failedRequests: 0 };
      this.tables.set(name, t);
    }
    return t;
  }
}
