/**
 * Which offsets may be committed. Batches of a source are written
 * concurrently and may become durable out of order; an offset of a
 * partition is committed only when every earlier batch's messages of that
 * partition are done too, otherwise a crash could skip a batch that was
 * fetched earlier but never written.
 *
 * The order is kept per partition, not per batch: a batch whose dead
 * letters for partition 3 are still on their way to the broker holds back
 * partition 3's offsets only, while the offsets of the other partitions it
 * carried, and of later batches, are committed as soon as they are durable.
 */

/** The next offset to read per partition, as Kafka commits it. */
export type PartitionOffsets = Map<number, { offset: bigint; leaderEpoch: number }>;

interface Entry {
  readonly seq: number;
  readonly next: { offset: bigint; leaderEpoch: number };
  done: boolean;
}

/** Tracks batches in fetch order per partition and releases offsets as each partition's done prefix grows. */
export class CommitOrder {
  /** Per partition, its batches' entries in fetch order, from the first not yet committable. */
  private readonly queues = new Map<number, Entry[]>();
  /** Per batch not wholly done, the partitions it still holds back. */
  private readonly open = new Map<number, Set<number>>();
  private nextSeq = 0;
  private ready: PartitionOffsets = new Map();
  /** Callers waiting for a partition's earlier batches to be done. */
  private waiters: { seq: number; partition: number; resolve: () => void }[] = [];

  /** Registers a batch (in fetch order); returns its sequence number. */
  add(offsets: PartitionOffsets): number {
    const seq = this.nextSeq++;
    for (const [partition, next] of offsets) {
      let queue = this.queues.get(partition);
      if (queue === undefined) this.queues.set(partition, (queue = []));
      queue.push({ seq, next, done: false });
    }
    this.open.set(seq, new Set(offsets.keys()));
    return seq;
  }

  /**
   * Marks a batch done in `partitions` (by default in every partition it
   * still holds); each partition's done prefix becomes committable.
   */
  done(seq: number, partitions?: Iterable<number>): void {
    const open = this.open.get(seq);
    if (open === undefined) throw new Error(`commit order: unknown batch ${seq}`);
    for (const partition of [...(partitions ?? open)]) {
      if (!open.delete(partition)) continue;
      const queue = this.queues.get(partition) ?? [];
      const entry = queue.find((e) => e.seq === seq);
      if (entry !== undefined) entry.done = true;
      this.advance(partition, queue);
    }
    if (open.size === 0) this.open.delete(seq);
    this.wake();
  }

  private advance(partition: number, queue: Entry[]): void {
    while (queue[0]?.done === true) {
      const head = queue.shift() as Entry;
      const known = this.ready.get(partition);
      if (known === undefined || head.next.offset > known.offset) this.ready.set(partition, head.next);
    }
    if (queue.length === 0) this.queues.delete(partition);
  }

  /**
   * Resolves once every batch registered before `seq` is done in
   * `partition`: then the partition's offsets up to the end of batch `seq`
   * may be committed with it (the dead-letter transaction commits them itself).
   */
  earlierDone(seq: number, partition: number): Promise<void> {
    if (this.isEarlierDone(seq, partition)) return Promise.resolve();
    return new Promise((resolve) => this.waiters.push({ seq, partition, resolve }));
  }

  private isEarlierDone(seq: number, partition: number): boolean {
    return (this.queues.get(partition) ?? []).every((e) => e.seq >= seq || e.done);
  }

  private wake(): void {
    const ready = this.waiters.filter((w) => this.isEarlierDone(w.seq, w.partition));
    if (ready.length === 0) return;
    this.waiters = this.waiters.filter((w) => !ready.includes(w));
    for (const w of ready) w.resolve();
  }

  /** Batches not yet done in every partition they carry. */
  get inFlight(): number {
    return this.open.size;
  }

  /** Takes the committable offsets (empty when nothing new). */
  take(): PartitionOffsets {
    const out = this.ready;
    this.ready = new Map();
    return out;
  }

  /** Puts back offsets whose commit failed or was held back, unless newer ones arrived meanwhile. */
  restore(offsets: PartitionOffsets): void {
    for (const [partition, o] of offsets) {
      const known = this.ready.get(partition);
      if (known === undefined || o.offset > known.offset) this.ready.set(partition, o);
    }
  }
}
