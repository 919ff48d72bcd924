/**
 * A bound, kept on disk, above the time of every id this node issues.
 *
 * A restarted node must not issue an id it issued before, also when its
 * clock went back while it was down. The index's highest id does not show
 * every id issued: in a cluster a coordinator stamps ids for shards it does
 * not hold, which live only on other nodes. So the node keeps
 * `DATA_DIR/time-ceiling` a little ahead of its clock (TIME_CEILING_AHEAD_MS,
 * rewritten every TIME_CEILING_RENEW_MS), and its id generators refuse to
 * issue past the bound written (SnowflakeGenerator `ceiling`). After a
 * restart the node issues above the bound it last wrote, as TiDB's
 * timestamp oracle does with the window it persists ahead.
 *
 * A graceful close writes the bound down to the clock plus the id
 * generator's largest lead, so a restart after it waits for nothing; after
 * a crash the node waits at most TIME_CEILING_AHEAD_MS − that lead.
 */
import path from 'node:path';
import type { Logger } from 'pino';
import { TIME_CEILING_AHEAD_MS, TIME_CEILING_RENEW_MS } from '../config.ts';
import type { Clock } from '../core/clock.ts';
import { SNOWFLAKE_LOGICAL_DRIFT_MS_DEFAULT } from '../core/snowflake.ts';
import { readJsonFile, writeFileAtomic } from './atomic-file.ts';

const FILE = 'time-ceiling.json';

/** The bound: read by the id generators on each new ms. */
export class TimeCeiling {
  /** Epoch ms no id may pass until a higher bound is written. */
  ms: number;
  /** The bound a previous run left (undefined: none, a new data dir). */
  readonly previousMs: number | undefined;
  private readonly file: string;
  private readonly clock: Clock;
  private readonly log: Logger;
  private timer: NodeJS.Timeout | undefined;
  private writing: Promise<void> = Promise.resolve();
  private closed = false;

  private constructor(file: string, previousMs: number | undefined, clock: Clock, log: Logger) {
    this.file = file;
    this.previousMs = previousMs;
    this.ms = previousMs ?? 0;
    this.clock = clock;
    this.log = log;
  }

  /** Reads the previous bound, waits until the clock is within an id generator's lead of it, writes a new one, and keeps it ahead. */
  static async open(dataDir: string, clock: Clock, log: Logger): Promise<TimeCeiling> {
    const file = path.join(dataDir, FILE);
    const saved = (await readJsonFile(file).catch(() => undefined)) as { ms?: unknown } | undefined;
    const previousMs = typeof saved?.ms === 'number' && Number.isSafeInteger(saved.ms) ? saved.ms : undefined;
    const ceiling = new TimeCeiling(file, previousMs, clock, log);
    // After a crash the bound is up to TIME_CEILING_AHEAD_MS ahead; a generator may run its lead ahead of the clock.
    const waitMs = Math.min(TIME_CEILING_AHEAD_MS, (previousMs ?? 0) - SNOWFLAKE_LOGICAL_DRIFT_MS_DEFAULT - clock.nowMs());
    if (waitMs > 0) await new Promise((resolve) => setTimeout(resolve, waitMs));
    await ceiling.write(Math.max(ceiling.ms, clock.nowMs() + TIME_CEILING_AHEAD_MS));
    ceiling.timer = setInterval(() => ceiling.renew(), TIME_CEILING_RENEW_MS);
    ceiling.timer.unref();
    return ceiling;
  }

  /** Stops renewing; the bound written is lowered to what a restart needs (the clock plus a generator's lead). */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.timer);
    await this.writing;
    // No id is issued from here on: every one issued is at most a generator's lead ahead of the clock.
    await this.save(Math.min(this.ms, this.clock.nowMs() + SNOWFLAKE_LOGICAL_DRIFT_MS_DEFAULT)).catch(() => undefined);
  }

  private renew(): void {
    if (this.closed) return;
    this.writing = this.writing.then(() => (this.closed ? undefined : this.write(this.clock.nowMs() + TIME_CEILING_AHEAD_MS))).catch((err: unknown) => {
      // Not fatal: ids stop at the bound written until a write succeeds (writes are then refused NOT_READY).
      this.log.error({ event: 'time_ceiling_write_failed', err }, 'cannot write the time ceiling; ids stop at the last one written');
    });
  }

  /** Writes `ms` and, once it is durable, lets ids go up to it. */
  private async write(ms: number): Promise<void> {
    await this.save(ms);
    if (ms > this.ms) this.ms = ms;
  }

  private save(ms: number): Promise<void> {
    return writeFileAtomic(this.file, `${JSON.stringify({ ms })}\n`);
  }
}
