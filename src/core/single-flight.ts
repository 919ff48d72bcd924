/**
 * One run of a task at a time: a call while a run is in progress joins
 * that run instead of starting another. What background loops (hint
 * replay, the resolver, the sweeper) use so that a slow round is never
 * overlapped by the next tick.
 */

/** `task`, run at most once at a time. */
export class SingleFlight<T> {
  private readonly task: () => Promise<T>;
  private current: Promise<T> | undefined;

  constructor(task: () => Promise<T>) {
    this.task = task;
  }

  /** The run in progress, or a new one. */
  run(): Promise<T> {
    this.current ??= this.task().finally(() => {
      this.current = undefined;
    });
    return this.current;
  }

  /** Resolves when the run in progress (if any) ends, whatever its result. */
  async idle(): Promise<void> {
    await this.current?.catch(() => undefined);
  }
}
