/**
 * Delivers hinted writes: every `intervalMs`, and as soon as a peer turns
 * alive, each hint queue whose target the failure detector believes alive
 * is replayed to it in order. Queues for a node in neither the current nor
 * the target ring are discarded: it replicates nothing, the replicas that
 * do hold what it missed, and if it comes back it copies its shards when
 * it joins. One replay round runs at a time.
 */
import type { Logger } from 'pino';
import { SingleFlight } from '../../core/single-flight.ts';
import type { FailureDetector, PeerState } from '../membership/failure-detector.ts';
import type { Placement } from '../placement/placement.ts';
import type { ReplicaTransport } from '../transport/replica-transport.ts';
import type { HintQueue } from './hint-queue.ts';

export interface HintReplayerDeps {
  readonly hints: HintQueue;
  readonly transport: ReplicaTransport;
  readonly detector: FailureDetector;
  readonly placement: () => Placement;
  readonly replicaTimeoutMs: number;
  readonly intervalMs: number;
  readonly log: Logger;
  /** Called once per hint delivered, before the queue marks it delivered. */
  readonly onReplayed?: (batches: number) => void;
}

/** The background loop that empties hint queues toward live peers. */
export class HintReplayer {
  private readonly d: HintReplayerDeps;
  private timer: NodeJS.Timeout | undefined;
  private readonly rounds = new SingleFlight(() => this.round());
  private readonly onState = (_peer: string, state: PeerState): void => {
    if (state === 'alive') this.run();
  };

  constructor(deps: HintReplayerDeps) {
    this.d = deps;
  }

  /** Starts the timer and the wake-up on peers turning alive. */
  start(): void {
    this.timer = setInterval(() => this.run(), this.d.intervalMs);
    this.timer.unref();
    this.d.detector.on('state', this.onState);
  }

  /** Stops replaying; waits for a round in progress. */
  async stop(): Promise<void> {
    if (this.timer !== undefined) clearInterval(this.timer);
    this.d.detector.off('state', this.onState);
    await this.rounds.idle();
  }

  /** Runs a round now unless one is running; resolves when the round that covers this call ends. */
  run(): Promise<void> {
    return this.rounds.run();
  }

  private async round(): Promise<void> {
    // Every queue, not only those with hints pending: a departed peer's queue holding delivered hints only
    // would otherwise keep its open WAL and up to a segment of disk for ever.
    for (const [target, pending] of Object.entries(await this.d.hints.pending())) {
      const current = this.d.placement();
      // (An empty ring is a placement not read yet, not one without the target.)
      if (current.nodes.length > 0 && !current.nodes.includes(target) && current.target?.includes(target) !== true) {
        const discarded = await this.d.hints.discard(target);
        this.d.log.info({ event: 'hints_discarded', target, hints: discarded }, 'hints for a node outside the ring discarded');
        continue;
      }
      if (pending === 0 || this.d.detector.state(target) !== 'alive') continue;
      await this.d.hints
        .replay(target, async (batch) => {
          await this.d.transport.call(target, 'Write', { batch }, this.d.replicaTimeoutMs);
          // Counted as each hint lands, before the queue marks it delivered: a reader who sees
          // no hints pending also sees them counted as replayed.
          this.d.onReplayed?.(1);
        })
        .catch((err: unknown) => this.d.log.warn({ event: 'hint_replay_failed', target, err: (err as Error).message }, 'hint replay stopped; will retry'));
    }
  }
}
