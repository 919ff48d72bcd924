/**
 * Refuses writes cleanly (DISK_FULL, HTTP 507) while the WAL's file system
 * has less than a floor of free space, before the disk is actually full:
 * Loki's full disk left a corrupt segment and a restart loop (loki#12583).
 *
 * `statfs` runs at most once per `checkIntervalMs`, in the background, never
 * per append; between checks the bytes the WAL wrote are subtracted from the
 * last reading, so a burst cannot overshoot the floor by more than the
 * writes of other processes.
 */
import fs from 'node:fs/promises';
import { SluiceError } from '../../core/errors.ts';

export interface DiskSpaceGuardOptions {
  readonly dir: string;
  /** Free-space floor in bytes; 0 disables the guard. */
  readonly freeBytesMin: number;
  readonly checkIntervalMs: number;
}

export class DiskSpaceGuard {
  readonly #options: DiskSpaceGuardOptions;
  #freeBytes = Number.POSITIVE_INFINITY;
  #writtenSinceCheck = 0;
  #checkedAtMs = Number.NEGATIVE_INFINITY;
  #checking: Promise<void> | undefined;

  constructor(options: DiskSpaceGuardOptions) {
    this.#options = options;
  }

  /** Free bytes as last measured minus what the WAL wrote since. */
  get freeBytesEstimate(): number {
    return this.#freeBytes - this.#writtenSinceCheck;
  }

  /** Measures free space now (also called once on open). */
  async refresh(): Promise<void> {
    if (this.#options.freeBytesMin === 0) return;
    this.#checking ??= this.#measure().finally(() => {
      this.#checking = undefined;
    });
    await this.#checking;
  }

  /** A DISK_FULL error when free space is below the floor, else undefined; starts a background check when stale. */
  check(): SluiceError | undefined {
    const { freeBytesMin, checkIntervalMs, dir } = this.#options;
    if (freeBytesMin === 0) return undefined;
    if (this.#checking === undefined && performance.now() - this.#checkedAtMs >= checkIntervalMs) {
      // A failed statfs keeps the last reading; the next interval retries.
      this.refresh().catch(() => undefined);
    }
    const free = this.freeBytesEstimate;
    if (free >= freeBytesMin) return undefined;
    return new SluiceError(
      'DISK_FULL',
      `WAL refuses writes: ${Math.max(0, free)} bytes free on the file system of ${dir}, below diskFreeBytesMin ${freeBytesMin}`,
    );
  }

  /** Accounts bytes the WAL wrote since the last measurement. */
  consumed(bytes: number): void {
    this.#writtenSinceCheck += bytes;
  }

  /** Forces a measurement at the next check (after ENOSPC, say). */
  invalidate(): void {
    this.#checkedAtMs = Number.NEGATIVE_INFINITY;
  }

  async #measure(): Promise<void> {
    const stats = await fs.statfs(this.#options.dir);
    this.#freeBytes = stats.bavail * stats.bsize;
    this.#writtenSinceCheck = 0;
    this.#checkedAtMs = performance.now();
  }
}
