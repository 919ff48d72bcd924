/**
 * Hinted handoff: replica writes a peer missed, kept durably on this node
 * until the peer can take them. Each target peer has its own small WAL
 * (`DATA/hints/<node>/`, the same segment format and fsync discipline as
 * the main WAL), so hints survive a restart and replay in order; a cursor
 * file records how far replay got, and released segments are deleted.
 *
 * Replay is idempotent on the replica: a record's key includes its id and
 * a primary-key record carries its HLC version, so a hint delivered twice
 * (a crash between delivery and the cursor write) changes nothing.
 */
import { mkdir, readdir, rm } from 'node:fs/promises';
import path from 'node:path';
import type { Logger } from 'pino';
import { SluiceError } from '../../core/errors.ts';
import { readJsonFile, writeFileAtomic } from '../../storage/atomic-file.ts';
import { Wal } from '../../storage/wal/wal.ts';

/** Frame type of a hinted record batch. */
const HINT_FRAME = 1;

interface Queue {
  readonly wal: Wal;
  /** LSN of the last hint delivered. */
  delivered: bigint;
  replaying: Promise<void> | undefined;
}

export interface HintQueueOptions {
  readonly dir: string;
  /**
   * Disk a peer's queue may take. Past it new hints for that peer are
   * dropped (counted and logged): the write still has its W copies, and
   * anti-entropy refills the peer when it is back. Cassandra bounds hints
   * the same way (max_hint_window); unbounded, one long-dead peer fills the disk.
   */
  readonly bytesMaxPerPeer: number;
  readonly segmentBytesMax: number;
  readonly frameBytesMax: number;
  readonly log: Logger;
}

/** Durable per-peer hint queues. */
export class HintQueue {
  private readonly o: HintQueueOptions;
  private readonly queues = new Map<string, Promise<Queue>>();
  /** Set by `close`: from then on no queue opens and nothing is written. */
  private closing: Promise<void> | undefined;
  /** Hints replayed since start, for metrics. */
  replayed = 0;
  /** Hints dropped because their peer's queue was full, since start. */
  dropped = 0;

  constructor(options: HintQueueOptions) {
    this.o = options;
  }

  /** Opens the queues left by an earlier run. */
  async open(): Promise<void> {
    await mkdir(this.o.dir, { recursive: true });
    for (const name of await readdir(this.o.dir)) await this.queue(name);
  }

  /**
   * Stores a stamped record batch for `target`; resolves true once it is
   * fsync'd, false when the peer's queue is full and the hint was dropped.
   */
  async add(target: string, batch: Buffer): Promise<boolean> {
    const q = await this.queue(target);
    // Full once the segments, the active one counted whole, would exceed the budget: a budget of k segments
    // holds k of them (`>=` refused the k-th, so a one-segment budget, the smallest allowed, took no hint at all).
    if (q.wal.segmentCount * this.o.segmentBytesMax > this.o.bytesMaxPerPeer) {
      this.dropped++;
      if (this.dropped % 1000 === 1) this.o.log.warn({ event: 'hints_dropped', target, dropped: this.dropped }, 'hint queue full: dropping hints (anti-entropy will repair the peer)');
      return false;
    }
    await q.wal.append(HINT_FRAME, batch);
    return true;
  }

  /** Hints not yet delivered, per peer. */
  async pending(): Promise<Record<string, number>> {
    const out: Record<string, number> = {};
    for (const [target, q] of this.queues) {
      const queue = await q;
      out[target] = Number(queue.wal.lastLsn - queue.delivered);
    }
    return out;
  }

  /**
   * Delivers `target`'s hints in order through `send`, stopping at the first
   * failure (the rest waits for the next call). One replay per peer at a time.
   */
  replay(target: string, send: (batch: Buffer) => Promise<void>): Promise<void> {
    const queued = this.queues.get(target);
    if (queued === undefined || this.closing !== undefined) return Promise.resolve();
    return queued.then((q) => {
      q.replaying ??= this.deliver(target, q, send).finally(() => {
        q.replaying = undefined;
      });
      return q.replaying;
    });
  }

  /** Peers with hints not yet delivered. */
  async targets(): Promise<string[]> {
    const pending = await this.pending();
    return Object.keys(pending).filter((t) => (pending[t] ?? 0) > 0);
  }

  /**
   * Deletes a peer's queue with whatever it still holds; returns the hints
   * thrown away. For a peer that left the ring: the records it missed have
   * their copies on the replicas that took its shards, and its queue would
   * otherwise stay on disk and in `hintsPending` for ever.
   */
  async discard(target: string): Promise<number> {
    const queued = this.queues.get(target);
    if (queued === undefined) return 0;
    this.queues.delete(target);
    const q = await queued;
    await q.replaying;
    const left = Number(q.wal.lastLsn - q.delivered);
    await q.wal.close();
    await rm(path.join(this.o.dir, target), { recursive: true, force: true });
    return left;
  }

  /**
   * Closes every queue, those still opening too, once their replays under
   * way end (pending hints stay on disk); later hints are refused with
   * SHUTTING_DOWN. Idempotent. A write that times out after its node stopped
   * hints after this: it must not open a queue (mkdir -p) in a data dir that
   * may be gone.
   */
  close(): Promise<void> {
    this.closing ??= this.closeQueues();
    return this.closing;
  }

  private async closeQueues(): Promise<void> {
    for (const queued of this.queues.values()) {
      const q = await queued.catch(() => undefined);
      if (q === undefined) continue;
      // A replay writes its cursor when it ends.
      await q.replaying?.catch(() => undefined);
      await q.wal.close();
    }
  }

  private async deliver(target: string, q: Queue, send: (batch: Buffer) => Promise<void>): Promise<void> {
    if (q.wal.lastLsn <= q.delivered) return;
    const from = q.delivered + 1n < q.wal.firstLsn ? q.wal.firstLsn : q.delivered + 1n;
    let sent = 0;
    try {
      await q.wal.replay(from, async (frames) => {
        for (const frame of frames) {
          await send(frame.payload);
          q.delivered = frame.lsn;
          sent++;
          this.replayed++;
        }
      });
    } finally {
      if (sent > 0) {
        await writeFileAtomic(path.join(this.o.dir, target, 'delivered.json'), JSON.stringify({ lsn: String(q.delivered) }));
        await q.wal.releaseBefore(q.delivered + 1n);
        this.o.log.info({ event: 'hints_replayed', target, hints: sent, remaining: String(q.wal.lastLsn - q.delivered) }, 'hints replayed');
      }
    }
  }

  private queue(target: string): Promise<Queue> {
    if (this.closing !== undefined) return Promise.reject(new SluiceError('SHUTTING_DOWN', 'the hint queue is closed'));
    let q = this.queues.get(target);
    if (q === undefined) {
      q = this.openQueue(target);
      this.queues.set(target, q);
      // A queue that failed to open is forgotten, so the next hint tries again (and nothing is left unhandled).
      q.catch((err: unknown) => {
        this.o.log.error({ err, target }, 'cannot open hint queue');
        this.queues.delete(target);
      });
    }
    return q;
  }

  private async openQueue(target: string): Promise<Queue> {
    const dir = path.join(this.o.dir, target);
    const wal = await Wal.open({
      dir: path.join(dir, 'wal'),
      segmentBytesMax: this.o.segmentBytesMax,
      frameBytesMax: this.o.frameBytesMax,
      diskFreeBytesMin: 0,
    });
    const saved = (await readJsonFile(path.join(dir, 'delivered.json'))) as { lsn?: string } | undefined;
    const delivered = saved?.lsn === undefined ? wal.firstLsn - 1n : BigInt(saved.lsn);
    return { wal, delivered: delivered > wal.lastLsn ? wal.lastLsn : delivered, replaying: undefined };
  }
}
