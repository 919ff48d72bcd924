/**
 * Zero-filled spare segment files, prepared in the background so that
 * rotation finds a segment whose blocks already exist.
 *
 * Why: a segment that grows by appending makes every fdatasync also commit
 * a file-size change (a journal commit on ext4). Measured on the bench
 * machine (issue 16): a 4 KiB write + fdatasync took ≈205 µs appended to a
 * growing file, ≈105–120 µs over a zero-filled preallocated one, ≈155–175 µs
 * over a sparse (ftruncate'd) one, whose unwritten extents still need a
 * metadata change on first write. So spares are written with real zeros,
 * as PostgreSQL does with its WAL segments (Node has no fallocate either).
 *
 * Invariants:
 * - A spare holds only zeros: it is a new file, never a recycled segment, so
 *   it can hold no stale frame of an older generation (see the decision
 *   record docs/decisions/ on why released segments are not recycled).
 * - A spare is filled under a `.tmp` name and renamed to its final name only
 *   after its zeros are fdatasync'd; a crash mid-fill leaves a `.tmp` that
 *   the next open deletes. Neither name matches a segment name, so recovery
 *   and replay never see a spare.
 * - At most `sparesMax` spares exist and one fill runs at a time; a fill
 *   that would take free space below `freeBytesMin` is not started.
 * - Every failure (ENOSPC included) removes the partial file and is only
 *   reported in `status`: rotation then creates a segment as it did before.
 */
import fs from 'node:fs/promises';
import type { FileHandle } from 'node:fs/promises';
import path from 'node:path';
import { SluiceError, errnoCode } from '../../core/errors.ts';
import { syncDir, writeAll } from './segment.ts';

/** Bytes per zero-fill write: large sequential writes, one bounded buffer. */
const FILL_WRITE_BYTES = 1024 * 1024;
/** Bytes zero-filled between two fdatasyncs: bounds the dirty pages a fill leaves for the kernel to flush at once. */
const FILL_SYNC_BYTES = 8 * 1024 * 1024;
/** Wait before retrying after a failed fill (no space, I/O error). */
const FILL_RETRY_DELAY_MS = 10_000;
const SPARE_PATTERN = /^spare-(\d{10})\.wal-spare$/;
const TMP_PATTERN = /^spare-\d{10}\.wal-spare\.tmp$/;

/** Options of the preallocator. */
export interface PreallocatorOptions {
  readonly dir: string;
  /** Bytes of one spare: the segment size. */
  readonly segmentBytes: number;
  /** Spares kept ready (≥ 1). */
  readonly sparesMax: number;
  /** A fill is not started when it would leave less free space than this; 0 disables the check (ENOSPC still ends a fill cleanly). */
  readonly freeBytesMin: number;
  /** Told the bytes of each completed spare (disk-space accounting). */
  readonly onFilled?: (bytes: number) => void;
  /** Told the first failure after open or after a success (repeats of a lasting failure stay quiet). */
  readonly onFailed?: (err: Error) => void;
}

/** What the preallocator did so far (tests, metrics, logs). */
export interface PreallocationStatus {
  /** Spares ready now. */
  readonly ready: number;
  /** Spares completed since open. */
  readonly filled: number;
  /** Fills that failed or were skipped for lack of space. */
  readonly failures: number;
  readonly lastError: string | undefined;
}

/** Keeps up to `sparesMax` zero-filled spare segment files ready in the WAL directory. */
export class SegmentPreallocator {
  readonly #options: PreallocatorOptions;
  readonly #ready: string[];
  #nextId: number;
  #filling: Promise<void> | undefined;
  #retryTimer: NodeJS.Timeout | undefined;
  #closed = false;
  #filled = 0;
  #failures = 0;
  #lastError: string | undefined;
  /** The current run of failures was reported already. */
  #failureReported = false;

  private constructor(options: PreallocatorOptions, ready: string[], nextId: number) {
    this.#options = options;
    this.#ready = ready;
    this.#nextId = nextId;
  }

  /**
   * Deletes leftovers of interrupted fills and spares of another size (the
   * segment size changed), adopts complete spares, and starts filling.
   */
  static async open(options: PreallocatorOptions): Promise<SegmentPreallocator> {
    const ready: string[] = [];
    let nextId = 0;
    let removed = false;
    for (const name of (await fs.readdir(options.dir)).sort()) {
      const file = path.join(options.dir, name);
      const spare = SPARE_PATTERN.exec(name);
      if (spare === null && !TMP_PATTERN.test(name)) continue;
      if (spare !== null) nextId = Math.max(nextId, Number(spare[1]) + 1);
      const keep = spare !== null && ready.length < options.sparesMax && (await fs.stat(file)).size === options.segmentBytes;
      if (keep) {
        ready.push(file);
      } else {
        await fs.rm(file, { force: true });
        removed = true;
      }
    }
    if (removed) await syncDir(options.dir);
    const preallocator = new SegmentPreallocator(options, ready, nextId);
    preallocator.#refill();
    return preallocator;
  }

  /** Deletes every spare file of `dir` (preallocation turned off: they would only hold disk space). */
  static async removeAll(dir: string): Promise<void> {
    const spares = (await fs.readdir(dir)).filter((name) => SPARE_PATTERN.test(name) || TMP_PATTERN.test(name));
    for (const name of spares) await fs.rm(path.join(dir, name), { force: true });
    if (spares.length > 0) await syncDir(dir);
  }

  /** The path of a ready spare (now the caller's), or undefined; starts preparing its replacement. */
  take(): string | undefined {
    const spare = this.#ready.shift();
    this.#refill();
    return spare;
  }

  /** What the preallocator did so far. */
  get status(): PreallocationStatus {
    return { ready: this.#ready.length, filled: this.#filled, failures: this.#failures, lastError: this.#lastError };
  }

  /** Resolves when no fill is running (tests and benches wait for the spares with it). */
  async idle(): Promise<void> {
    while (this.#filling !== undefined) await this.#filling;
  }

  /** Stops filling: the running fill stops at its next write and removes its file. Ready spares stay for the next open. Idempotent. */
  async close(): Promise<void> {
    this.#closed = true;
    clearTimeout(this.#retryTimer);
    await this.idle();
  }

  /** Starts a fill when spares are missing and none runs. */
  #refill(): void {
    if (this.#closed || this.#filling !== undefined || this.#retryTimer !== undefined) return;
    if (this.#ready.length >= this.#options.sparesMax) return;
    this.#filling = this.#fillOne().then(
      (file) => {
        this.#filling = undefined;
        if (file === undefined) return;
        this.#ready.push(file);
        this.#filled++;
        this.#failureReported = false;
        this.#options.onFilled?.(this.#options.segmentBytes);
        this.#refill();
      },
      (err: unknown) => {
        this.#filling = undefined;
        this.#failures++;
        const error = err instanceof Error ? err : new Error(String(err));
        this.#lastError = error.message;
        if (!this.#failureReported) this.#options.onFailed?.(error);
        this.#failureReported = true;
        if (this.#closed) return;
        this.#retryTimer = setTimeout(() => {
          this.#retryTimer = undefined;
          this.#refill();
        }, FILL_RETRY_DELAY_MS).unref();
      },
    );
  }

  /** Fills one spare; its final path, or undefined when closed mid-fill. */
  async #fillOne(): Promise<string | undefined> {
    const { dir, segmentBytes, freeBytesMin } = this.#options;
    const stats = freeBytesMin === 0 ? undefined : await fs.statfs(dir);
    const free = stats === undefined ? Number.POSITIVE_INFINITY : stats.bavail * stats.bsize;
    if (free - segmentBytes < freeBytesMin) {
      throw new SluiceError('DISK_FULL', `WAL segment preallocation skipped: ${free} bytes free in ${dir}, a spare of ${segmentBytes} bytes would leave less than ${freeBytesMin}`);
    }
    const name = `spare-${String(this.#nextId++).padStart(10, '0')}.wal-spare`;
    const file = path.join(dir, name);
    const tmp = `${file}.tmp`;
    const handle = await fs.open(tmp, 'w');
    let complete = false;
    try {
      complete = await this.#zeroFill(handle);
      if (complete) await handle.datasync();
    } catch (err) {
      await handle.close().catch(() => undefined);
      await fs.rm(tmp, { force: true }).catch(() => undefined);
      throw new SluiceError('WAL_IO', `WAL segment preallocation failed in ${dir} (${errnoCode(err) ?? String(err)})`, [], { cause: err });
    }
    await handle.close();
    if (!complete) {
      await fs.rm(tmp, { force: true });
      return undefined;
    }
    await fs.rename(tmp, file);
    await syncDir(dir);
    return file;
  }

  /** Writes zeros over the whole spare; false when closed part-way. */
  async #zeroFill(handle: FileHandle): Promise<boolean> {
    const { segmentBytes } = this.#options;
    const zeros = Buffer.alloc(Math.min(FILL_WRITE_BYTES, segmentBytes));
    let sinceSync = 0;
    for (let offset = 0; offset < segmentBytes; ) {
      if (this.#closed) return false;
      const bytes = Math.min(zeros.length, segmentBytes - offset);
      await writeAll(handle, zeros.subarray(0, bytes), offset);
      offset += bytes;
      sinceSync += bytes;
      if (sinceSync >= FILL_SYNC_BYTES && offset < segmentBytes) {
        await handle.datasync();
        sinceSync = 0;
      }
    }
    return true;
  }
}
