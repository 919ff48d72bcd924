/**
 * One run of a task at a time: a call while a run is in progress joins
 * that run instead of starting another. What background loops (hint
 * replay, the resolver, the sweeper) use so that a slow round is never
 * overlapped by the next tick. A caller that needs a run which started
 * after it asked (an fsync covering the writes it made) asks for a fresh
 * one: one more run follows the one in progress, shared by every such ask
 * meanwhile.
 */

/** `task`, run at most once at a time. */
export class SingleFlight<T> {
  private readonly task: () => Promise<T>;
  private current: Promise<T> | undefined;
  /** The run that follows `current`, asked for by `runFresh` while it was in progress. */
  private next: Promise<T> | undefined;

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

  /** A run that starts after this call: a new one now, or the one that follows the run in progress. */
  runFresh(): Promise<T> {
    const running = this.current;
    if (running === undefined) return this.run();
    // `running` settles after its `finally` cleared `current`, so `run` then starts (or joins) a run begun after the ask.
    this.next ??= running
      .catch(() => undefined)
      .then(() => {
        this.next = undefined;
        return this.run();
      });
    return this.next;
  }

  /** Resolves when the run in progress (if any), and the one asked to follow it, end, whatever their result. */
  async idle(): Promise<void> {
    // The follow-up settles after the run it follows: awaiting it waits for both.
    await (this.next ?? this.current)?.catch(() => undefined);
  }
}
