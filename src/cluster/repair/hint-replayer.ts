/**
 * Delivers hinted writes: every `intervalMs`, and as soon as a peer turns
 * alive, each hint queue whose target the failure detector believes alive
 * is replayed to it in order. Each peer's queue is handled on its own
 * (decision 59): one replay per peer at a time, so its hints stay in order,
 * and peers side by side, so a large queue paced out to one peer, or the
 * redirect of a departed node's queue, does not keep the others waiting.
 *
 * A hint goes where its records are replicated now, not where they were
 * when it was queued (decision 45, amended): the entries of shards its
 * target no longer replicates (a join or a decommission moved them) are
 * written to the shards' current replicas instead, or hinted to them when
 * they are down. A hint may be the only copy of a buffered write
 * (`--on-partition=buffer`), so delivering it to the old owner left it
 * where no read asks, and discarding the queue of a node that left the
 * ring lost it. The queue of a node in neither the current nor the target
 * ring is redirected whole, then deleted.
 *
 * Replay must not hurt the peer it repairs (DESIGN §7; scylladb#7976, where
 * hint replay after an outage multiplied write latency): each peer's replay
 * is paced to `bytesPerSecMax` by a token bucket, a peer that answers
 * OVERLOADED or RATE_LIMITED (or fails otherwise) is retried after a
 * doubling backoff (its retry-after when longer), and expired hints of a
 * peer that is down are dropped so their disk is freed. A hint the peer
 * refuses for good (hint-refusal.ts: a table it does not know, a batch it
 * finds invalid) is skipped, counted and logged with the code, so it does
 * not hold the hints behind it until the window expires it.
 */
import { setTimeout as sleepMs } from 'node:timers/promises';
import type { Logger } from 'pino';
import { DEFAULT_CONFIG, HINT_REPLAY_BACKOFF_MS_MAX } from '../../config.ts';
import { SluiceError, isSluiceError, type ErrorCode } from '../../core/errors.ts';
import { SingleFlight } from '../../core/single-flight.ts';
import { TokenBucket } from '../../core/token-bucket.ts';
import type { Catalog } from '../../storage/catalog.ts';
import type { FailureDetector, PeerState } from '../membership/failure-detector.ts';
import type { Placement } from '../placement/placement.ts';
import type { ReplicaTransport } from '../transport/replica-transport.ts';
import type { HintQueue } from './hint-queue.ts';
import { refusedForGood } from './hint-refusal.ts';
import { routeHint } from './hint-route.ts';

export interface HintReplayerDeps {
  readonly nodeId: string;
  readonly hints: HintQueue;
  readonly transport: ReplicaTransport;
  readonly detector: FailureDetector;
  readonly placement: () => Placement;
  /** Tables by id: a hint's shards are placed by its table's replication factor. */
  readonly catalog: Pick<Catalog, 'byId'>;
  readonly replicaTimeoutMs: number;
  readonly intervalMs: number;
  /** Hint bytes sent to one peer per second at most (burst: one second's worth). @default DEFAULT_CONFIG.hintReplayBytesPerSecMax */
  readonly bytesPerSecMax?: number;
  /** Time and waiting (tests pass a fake clock whose sleep advances it). @default the system's */
  readonly clock?: ReplayClock;
  readonly log: Logger;
  /** Called once per hint delivered, before the queue marks it delivered. */
  readonly onReplayed?: (batches: number) => void;
}

/** Wall-clock time and a wait that `stop` cuts short. */
export interface ReplayClock {
  now(): number;
  sleep(ms: number, signal: AbortSignal): Promise<void>;
}

const systemClock: ReplayClock = { now: () => Date.now(), sleep: (ms, signal) => sleepMs(ms, undefined, { signal }) };

/** A peer's replay backoff: no attempt before `untilMs`; the next failure waits `delayMs` doubled. */
interface Backoff {
  readonly untilMs: number;
  readonly delayMs: number;
}

/** The background loop that empties hint queues toward live peers. */
export class HintReplayer {
  private readonly d: HintReplayerDeps;
  private readonly clock: ReplayClock;
  private timer: NodeJS.Timeout | undefined;
  /** Each peer's housekeeping and replay, one at a time per peer (its hints stay in order). */
  private readonly peers = new Map<string, SingleFlight<void>>();
  /** Listings of the queues under way (each starts or joins the peers' flights when it ends): `stop` waits for them. */
  private readonly listings = new Set<Promise<Promise<void>[]>>();
  private readonly buckets = new Map<string, TokenBucket>();
  private readonly backoffs = new Map<string, Backoff>();
  /** Aborted by `stop`: a replay waiting for the throttle ends at once. */
  private readonly stopping = new AbortController();
  private readonly onState = (peer: string, state: PeerState): void => {
    if (state !== 'alive') return;
    // A peer back from an outage is tried at once, whatever the backoff its last failures earned.
    this.backoffs.delete(peer);
    void this.list();
  };

  constructor(deps: HintReplayerDeps) {
    this.d = deps;
    this.clock = deps.clock ?? systemClock;
  }

  /** Starts the timer and the wake-up on peers turning alive. */
  start(): void {
    // A tick starts the flights of idle peers and waits for none: a peer's replay may last minutes (paced).
    this.timer = setInterval(() => void this.list(), this.d.intervalMs);
    this.timer.unref();
    this.d.detector.on('state', this.onState);
  }

  /** Stops replaying; waits for every peer's replay in progress. */
  async stop(): Promise<void> {
    if (this.timer !== undefined) clearInterval(this.timer);
    this.d.detector.off('state', this.onState);
    this.stopping.abort();
    // A listing that ends after the abort starts nothing; one that ended before started flights, waited for here.
    await Promise.all([...this.listings]);
    await Promise.all([...this.peers.values()].map((flight) => flight.idle()));
  }

  /**
   * Handles every queue now: a peer whose replay is under way is joined, the
   * others start theirs. Resolves when each of them has ended.
   */
  async run(): Promise<void> {
    await Promise.all(await this.list());
  }

  /** Starts (or joins) every queue's flight; resolves with them once the queues are listed. Never rejects. */
  private list(): Promise<Promise<void>[]> {
    if (this.stopping.signal.aborted) return Promise.resolve([]);
    const listing = this.listQueues();
    this.listings.add(listing);
    void listing.then(() => this.listings.delete(listing));
    return listing;
  }

  private async listQueues(): Promise<Promise<void>[]> {
    let pending: Record<string, number>;
    try {
      // Every queue, not only those with hints pending: a departed peer's queue holding delivered hints only
      // would otherwise keep its open WAL and up to a segment of disk for ever.
      pending = await this.d.hints.pending();
    } catch (err) {
      this.d.log.warn({ event: 'hint_replay_failed', err: (err as Error).message }, 'hint queues not listed; will retry');
      return [];
    }
    // (Stopped while the queues were listed: no replay starts after `stop` stopped waiting.)
    if (this.stopping.signal.aborted) return [];
    return Object.keys(pending).map((target) => this.peer(target).run());
  }

  /** `target`'s housekeeping and replay, run one at a time. */
  private peer(target: string): SingleFlight<void> {
    let flight = this.peers.get(target);
    if (flight === undefined) {
      // Never rejects (a tick does not wait for it): what `tend` does not handle is logged.
      flight = new SingleFlight(() => this.tend(target).catch((err: unknown) => this.d.log.warn({ event: 'hint_replay_failed', target, err: (err as Error).message }, 'hint replay stopped; will retry')));
      this.peers.set(target, flight);
    }
    return flight;
  }

  /** Redirects the queue of a node outside the ring, expires the hints of a peer that is down, or replays to a live one. */
  private async tend(target: string): Promise<void> {
    const current = this.d.placement();
    // (An empty ring is a placement not read yet, not one without the target.)
    if (current.nodes.length > 0 && !current.nodes.includes(target) && current.target?.includes(target) !== true) {
      await this.leftTheRing(target).then(
        // Its queue is gone: so is its flight (a node that joins again under this id gets a new one).
        () => this.peers.delete(target),
        (err: unknown) => this.d.log.warn({ event: 'hint_replay_failed', target, err: (err as Error).message }, 'redirecting the hints of a node outside the ring stopped; will retry'),
      );
      return;
    }
    // Pending counted now, not when the round listed the queues: a peer's flight may have run meanwhile.
    if (((await this.d.hints.pending())[target] ?? 0) === 0) return;
    if (this.d.detector.state(target) !== 'alive') {
      await this.d.hints.expire(target).catch((err: unknown) => this.d.log.warn({ event: 'hint_expiry_failed', target, err: (err as Error).message }, 'expired hints not dropped; will retry'));
      return;
    }
    if (this.clock.now() < (this.backoffs.get(target)?.untilMs ?? 0)) return;
    const refused = new Map<ErrorCode, number>();
    await this.d.hints.replay(target, (batch) => this.send(target, batch, refused)).then(
      () => this.backoffs.delete(target),
      (err: unknown) => this.backOff(target, err),
    );
    // One line per code and replay, not per hint: a removed table may have thousands queued.
    for (const [code, hints] of refused) this.d.log.warn({ event: 'hints_refused', target, code, hints }, 'hints the peer refused for good skipped (anti-entropy compares it with the other replicas)');
  }

  /**
   * Sends one hint to `target` once its throttle allows the bytes; 'refused'
   * (counted in `refused` by code) when the target answered it never will
   * take its part: the parts for other replicas are still sent.
   */
  private async send(target: string, batch: Buffer, refused: Map<ErrorCode, number>): Promise<void | 'refused'> {
    // Stopped: the replay ends here, rather than go on through what the throttle's burst still allows.
    this.stopping.signal.throwIfAborted();
    const wait = this.bucket(target).reserve(batch.length, this.clock.now());
    if (wait > 0) await this.clock.sleep(wait, this.stopping.signal);
    const route = routeHint(target, batch, this.d.placement(), this.d.catalog);
    let outcome: 'refused' | undefined;
    if (route.own !== undefined) {
      try {
        await this.d.transport.call(target, 'Write', { batch: route.own }, this.d.replicaTimeoutMs);
      } catch (err) {
        const code = refusedForGood(err);
        if (code === undefined) throw err;
        refused.set(code, (refused.get(code) ?? 0) + 1);
        outcome = 'refused';
      }
    }
    for (const [node, part] of route.elsewhere) await this.redirect(node, part);
    if (outcome !== undefined) return outcome;
    // Counted as each hint lands, before the queue marks it delivered: a reader who sees
    // no hints pending also sees them counted as replayed.
    this.d.onReplayed?.(1);
  }

  /** Redirects every hint of a node outside the ring to the current replicas of its records, then deletes the queue. */
  private async leftTheRing(target: string): Promise<void> {
    let redirected = 0;
    await this.d.hints.replay(target, async (batch) => {
      // `own` is a hint whose table is gone: no replica is left to take it.
      for (const [node, part] of routeHint(target, batch, this.d.placement(), this.d.catalog).elsewhere) await this.redirect(node, part);
      redirected++;
    });
    const left = await this.d.hints.discard(target);
    // `hints`: what the queue held undelivered when the node left (as before redirecting), `redirected` of them went on.
    this.d.log.info({ event: 'hints_discarded', target, hints: redirected + left, redirected }, 'the hint queue of a node outside the ring redirected to current replicas and deleted');
  }

  /**
   * Writes a redirected part to `node` when it is up, else (or when the write
   * fails) hints it to `node`. Every current replica gets it: which of them
   * already hold it is not known here, and a replica write is idempotent.
   */
  private async redirect(node: string, part: Buffer): Promise<void> {
    // This node writes its own part or fails (the replay retries): no queue here replays to itself.
    if (node === this.d.nodeId) return void (await this.d.transport.call(node, 'Write', { batch: part }, this.d.replicaTimeoutMs));
    if (this.d.detector.state(node) === 'alive') {
      try {
        await this.d.transport.call(node, 'Write', { batch: part }, this.d.replicaTimeoutMs);
        return;
      } catch {
        // Hinted below, as a coordinator hints a replica write that fails.
      }
    }
    // The hint being redirected may be a buffered write's only copy: it stays queued (the replay stops here
    // and retries) rather than be dropped because `node`'s queue is full.
    if (!(await this.d.hints.add(node, part))) throw new SluiceError('OVERLOADED', `the hint queue for ${node} is full; the redirected hint stays queued`);
  }

  private bucket(target: string): TokenBucket {
    let b = this.buckets.get(target);
    if (b === undefined) {
      const rate = this.d.bytesPerSecMax ?? DEFAULT_CONFIG.hintReplayBytesPerSecMax;
      b = new TokenBucket(rate, rate, this.clock.now());
      this.buckets.set(target, b);
    }
    return b;
  }

  /** After a failed replay: no attempt on `target` for a doubling delay (at least the retry-after it answered). */
  private backOff(target: string, err: unknown): void {
    // Cut short by `stop`: not a failure of the peer.
    if (this.stopping.signal.aborted) return;
    const prev = this.backoffs.get(target)?.delayMs;
    const asked = isSluiceError(err) ? (err.retryAfterMs ?? 0) : 0;
    const delayMs = Math.min(HINT_REPLAY_BACKOFF_MS_MAX, Math.max(asked, prev === undefined ? this.d.intervalMs : 2 * prev));
    this.backoffs.set(target, { untilMs: this.clock.now() + delayMs, delayMs });
    const code = isSluiceError(err) ? err.code : undefined;
    this.d.log.warn({ event: 'hint_replay_failed', target, code, err: (err as Error).message, retryMs: delayMs }, 'hint replay stopped; will retry');
  }
}
