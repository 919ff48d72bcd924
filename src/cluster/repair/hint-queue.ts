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
 *
 * Each hint carries the time it was written; one older than `windowMs` is
 * never replayed (DESIGN §7, Cassandra's max_hint_window: a peer away that
 * long gets its data back from anti-entropy, not from a flood of hints).
 * The time is on disk, so the window survives restarts. Frame grammar:
 *
 *   HINT_FRAME    (1) => batch                       (releases before the window: no time)
 *   HINT_AT_FRAME (2) => writtenAtMs:u64le batch
 */
import { mkdir, readdir, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import type { Logger } from 'pino';
import { DEFAULT_CONFIG } from '../../config.ts';
import { SluiceError } from '../../core/errors.ts';
import { readJsonFile, writeFileAtomic } from '../../storage/atomic-file.ts';
import { frameBytes } from '../../storage/wal/frame-v1.ts';
import { Wal } from '../../storage/wal/wal.ts';

/** Frame type of a hinted record batch without its time (written by releases before the window). */
const HINT_FRAME = 1;
/** Frame type of a hinted record batch after the ms it was written at. */
const HINT_AT_FRAME = 2;
const WRITTEN_AT_BYTES = 8;

/** A frame's batch and when it was written; a legacy frame is timed `legacyAtMs`. */
function decodeHint(frame: { type: number; payload: Buffer }, legacyAtMs: number): { atMs: number; batch: Buffer } {
  if (frame.type === HINT_FRAME) return { atMs: legacyAtMs, batch: frame.payload };
  return { atMs: Number(frame.payload.readBigUInt64LE(0)), batch: frame.payload.subarray(WRITTEN_AT_BYTES) };
}

interface Queue {
  readonly wal: Wal;
  /**
   * Bytes of the hints not yet delivered (frames being appended included):
   * what `bytesMaxPerPeer` bounds. At open, the size of the segment files,
   * which also counts the delivered hints the first of them still holds.
   */
  bytes: number;
  /** LSN of the last hint delivered. */
  delivered: bigint;
  /**
   * When hints without a time (from a release before the window) count as
   * written: the first start that read them, kept in `delivered.json` so a
   * restart does not renew their window.
   */
  readonly legacyAtMs: number;
  /** No hint can expire before this (the oldest one's time + window), so `expire` need not read the queue. */
  expiresAtMs: number;
  replaying: Promise<unknown> | undefined;
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
  /** Age past which a hint is dropped instead of replayed, ms from when it was written. @default DEFAULT_CONFIG.hintWindowMs */
  readonly windowMs?: number;
  /** The wall clock hints are timed by (tests pass a fake one). @default Date.now */
  readonly now?: () => number;
  readonly log: Logger;
}

/** Bytes of the files in a queue's WAL dir. */
async function walBytes(dir: string): Promise<number> {
  let total = 0;
  for (const name of await readdir(dir)) total += (await stat(path.join(dir, name))).size;
  return total;
}

/**
 * Sends one hint: resolves once its peer took it, or with 'refused' when the
 * peer answered it will never take it (the hint is skipped); rejects to stop
 * the replay there.
 */
export type HintSend = (batch: Buffer) => Promise<void | 'refused'>;

/** Thrown inside a WAL replay to end it early. */
const STOP = Symbol('stop');

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
  /** Hints dropped unreplayed because they outlived the window, since start. */
  expired = 0;
  /** Hints skipped because their peer refused them for good (hint-refusal.ts), since start. */
  refused = 0;

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
    // Counted in bytes, not segments: a hint larger than a segment makes a segment of its own, and a count of
    // segments let a 256 KiB budget hold 1 MiB of such hints.
    const bytes = frameBytes(WRITTEN_AT_BYTES + batch.length);
    if (q.bytes + bytes > this.o.bytesMaxPerPeer) {
      this.dropped++;
      if (this.dropped % 1000 === 1) this.o.log.warn({ event: 'hints_dropped', target, dropped: this.dropped }, 'hint queue full: dropping hints (anti-entropy will repair the peer)');
      return false;
    }
    const framed = Buffer.allocUnsafe(WRITTEN_AT_BYTES + batch.length);
    framed.writeBigUInt64LE(BigInt(this.now()), 0);
    framed.set(batch, WRITTEN_AT_BYTES);
    // Counted before the append, so hints added meanwhile see it.
    q.bytes += bytes;
    try {
      await q.wal.append(HINT_AT_FRAME, framed);
    } catch (err) {
      q.bytes -= bytes;
      throw err;
    }
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
   * failure (the rest waits for the next call). A hint `send` answers
   * 'refused' for (its peer will never take it) is done with as one
   * delivered, and counted apart. One replay per peer at a time.
   */
  async replay(target: string, send: HintSend): Promise<void> {
    await this.exclusive(target, (q) => this.deliver(target, q, send));
  }

  /**
   * Drops `target`'s leading hints that outlived the window, sending
   * nothing (for a peer that is down); returns how many. Hints are in write
   * order, so it stops at the first one still in the window.
   */
  async expire(target: string): Promise<number> {
    return (await this.exclusive(target, async (q) => (this.now() < q.expiresAtMs ? 0 : this.deliver(target, q, undefined)))) ?? 0;
  }

  /** Runs `job` on `target`'s queue unless a replay of it is under way (then waits for that one); undefined without a queue. */
  private exclusive<T>(target: string, job: (q: Queue) => Promise<T>): Promise<T | undefined> {
    const queued = this.queues.get(target);
    if (queued === undefined || this.closing !== undefined) return Promise.resolve(undefined);
    return queued.then((q) => {
      q.replaying ??= job(q).finally(() => {
        q.replaying = undefined;
      });
      return q.replaying as Promise<T>;
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

  /**
   * Sends `target`'s hints in order, skipping those past the window; without
   * `send`, only skips the expired ones at the head. Returns the hints expired.
   */
  private async deliver(target: string, q: Queue, send: HintSend | undefined): Promise<number> {
    if (q.wal.lastLsn <= q.delivered) return 0;
    const from = q.delivered + 1n < q.wal.firstLsn ? q.wal.firstLsn : q.delivered + 1n;
    const done = { sent: 0, expired: 0, refused: 0 };
    try {
      await q.wal.replay(from, async (frames) => {
        for (const frame of frames) {
          const hint = decodeHint(frame, q.legacyAtMs);
          if (this.now() - hint.atMs > this.windowMs) done.expired++;
          else if (send === undefined) {
            q.expiresAtMs = hint.atMs + this.windowMs;
            throw STOP;
          } else if ((await send(hint.batch)) === 'refused') done.refused++;
          else {
            done.sent++;
            this.replayed++;
          }
          q.delivered = frame.lsn;
          q.bytes = Math.max(0, q.bytes - frameBytes(frame.payload.length));
        }
      });
    } catch (err) {
      if (err !== STOP) throw err;
    } finally {
      if (done.sent + done.expired + done.refused > 0) await this.advanced(target, q, done);
    }
    return done.expired;
  }

  /** Persists the cursor after hints were sent or expired, and frees the segments behind it. */
  private async advanced(target: string, q: Queue, { sent, expired, refused }: { sent: number; expired: number; refused: number }): Promise<void> {
    await this.saveCursor(target, q);
    await q.wal.releaseBefore(q.delivered + 1n);
    this.expired += expired;
    this.refused += refused;
    const remaining = String(q.wal.lastLsn - q.delivered);
    if (sent > 0) this.o.log.info({ event: 'hints_replayed', target, hints: sent, remaining }, 'hints replayed');
    // Anti-entropy is what repairs the peer for these: the periodic round, or `sluice cluster repair` when it is off.
    if (expired > 0) this.o.log.warn({ event: 'hints_expired', target, hints: expired, windowMs: this.windowMs, remaining }, 'hints older than the hint window dropped: anti-entropy repairs the peer');
  }

  private saveCursor(target: string, q: Queue): Promise<void> {
    return writeFileAtomic(path.join(this.o.dir, target, 'delivered.json'), JSON.stringify({ lsn: String(q.delivered), legacyAtMs: q.legacyAtMs }));
  }

  private get windowMs(): number {
    return this.o.windowMs ?? DEFAULT_CONFIG.hintWindowMs;
  }

  private now(): number {
    return (this.o.now ?? Date.now)();
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
    const saved = (await readJsonFile(path.join(dir, 'delivered.json'))) as { lsn?: string; legacyAtMs?: number } | undefined;
    const delivered = saved?.lsn === undefined ? wal.firstLsn - 1n : BigInt(saved.lsn);
    const q: Queue = { wal, bytes: await walBytes(path.join(dir, 'wal')), delivered: delivered > wal.lastLsn ? wal.lastLsn : delivered, legacyAtMs: saved?.legacyAtMs ?? this.now(), expiresAtMs: 0, replaying: undefined };
    // Hints from before the window have no time: their window starts now, and must not start again at the next start.
    if (saved?.legacyAtMs === undefined && wal.lastLsn > q.delivered) await this.saveCursor(target, q);
    return q;
  }
}
