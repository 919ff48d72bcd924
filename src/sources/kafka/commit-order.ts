/**
 * Which offsets may be committed. Batches of a source are written
 * concurrently and may become durable out of order; an offset is committed
 * only when every batch before it is durable too, otherwise a crash could
 * skip a batch that was fetched earlier but never written.
 */

/** The next offset to read per partition, as Kafka commits it. */
export type PartitionOffsets = Map<number, { offset: bigint; leaderEpoch: number }>;

/** Tracks batches in fetch order and releases offsets as the durable prefix grows. */
export class CommitOrder {
  private readonly pending: { seq: number; offsets: PartitionOffsets; done: boolean }[] = [];
  private nextSeq = 0;
  private ready: PartitionOffsets = new Map();
  /** Callers waiting for every batch before a sequence number to be durable. */
  private waiters: { seq: number; resolve: () => void }[] = [];

  /** Registers a batch (in fetch order); returns its sequence number. */
  add(offsets: PartitionOffsets): number {
    const seq = this.nextSeq++;
    this.pending.push({ seq, offsets, done: false });
    return seq;
  }

  /** Marks a batch durable; offsets of the durable prefix become committable. */
  done(seq: number): void {
    const batch = this.pending.find((b) => b.seq === seq);
    if (batch === undefined) throw new Error(`commit order: unknown batch ${seq}`);
    batch.done = true;
    while (this.pending[0]?.done === true) {
      const head = this.pending.shift();
      for (const [partition, o] of head?.offsets ?? []) {
        const known = this.ready.get(partition);
        if (known === undefined || o.offset > known.offset) this.ready.set(partition, o);
      }
    }
    this.wake();
  }

  /**
   * Resolves once every batch registered before `seq` is durable: then the
   * offsets up to the end of batch `seq` may be committed with it (the
   * dead-letter transaction commits them itself).
   */
  earlierDone(seq: number): Promise<void> {
    if (this.isEarlierDone(seq)) return Promise.resolve();
    return new Promise((resolve) => this.waiters.push({ seq, resolve }));
  }

  private isEarlierDone(seq: number): boolean {
    return this.pending.every((b) => b.seq >= seq || b.done);
  }

  private wake(): void {
    const ready = this.waiters.filter((w) => this.isEarlierDone(w.seq));
    if (ready.length === 0) return;
    this.waiters = this.waiters.filter((w) => !ready.includes(w));
    for (const w of ready) w.resolve();
  }

  /** Batches not yet durable. */
  get inFlight(): number {
    return this.pending.length;
  }

  /** Takes the committable offsets (empty when nothing new). */
  take(): PartitionOffsets {
    const out = this.ready;
    this.ready = new Map();
    return out;
  }

  /** Puts back offsets whose commit failed, unless newer ones arrived meanwhile. */
  restore(offsets: PartitionOffsets): void {
    for (const [partition, o] of offsets) {
      const known = this.ready.get(partition);
      if (known === undefined || o.offset > known.offset) this.ready.set(partition, o);
    }
  }
}
