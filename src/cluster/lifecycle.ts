/**
 * A lifecycle of named parts: each part is started in order and stopped
 * in reverse, so a part never outlives what it depends on and a start
 * that fails half-way undoes exactly what it did. Stopping is idempotent;
 * a part whose stop fails is logged and the others still stop.
 */
import type { Logger } from 'pino';

interface Started {
  readonly name: string;
  readonly stop: () => Promise<void> | void;
}

/** Parts started in order, stopped last-first. */
export class Lifecycle {
  private readonly log: Logger;
  private readonly started: Started[] = [];
  private stopping: Promise<void> | undefined;

  constructor(log: Logger) {
    this.log = log;
  }

  /** Names of the running parts, in start order. */
  get parts(): readonly string[] {
    return this.started.map((p) => p.name);
  }

  /** Starts a part with `start`; `stop` undoes it when the lifecycle stops. */
  async add<T>(name: string, start: () => Promise<T> | T, stop: (part: T) => Promise<void> | void): Promise<T> {
    const part = await start();
    this.started.push({ name, stop: () => stop(part) });
    return part;
  }

  /** Stops every started part, the last started first. */
  stop(): Promise<void> {
    this.stopping ??= (async () => {
      for (const part of this.started.reverse()) {
        try {
          await part.stop();
        } catch (err) {
          this.log.warn({ event: 'stop_failed', part: part.name, err: (err as Error).message }, 'a part failed to stop');
        }
      }
    })();
    return this.stopping;
  }
}
