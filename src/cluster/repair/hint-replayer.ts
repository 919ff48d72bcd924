/**
 * Delivers hinted writes: every `intervalMs`, and as soon as a peer turns
 * alive, each hint queue whose target the failure detector believes alive
 * is replayed to it in order. One replay round runs at a time.
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
 */
import type { Logger } from 'pino';
import { subBatch } from '../../core/codec/batch-slices.ts';
import { RecordBatchReader } from '../../core/codec/record-batch-v1.ts';
import { SluiceError } from '../../core/errors.ts';
import { SingleFlight } from '../../core/single-flight.ts';
import { currentDef, type Catalog } from '../../storage/catalog.ts';
import type { FailureDetector, PeerState } from '../membership/failure-detector.ts';
import type { Placement } from '../placement/placement.ts';
import type { ReplicaTransport } from '../transport/replica-transport.ts';
import type { HintQueue } from './hint-queue.ts';

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
  readonly log: Logger;
  /** Called once per hint delivered, before the queue marks it delivered. */
  readonly onReplayed?: (batches: number) => void;
}

/** A hint cut by where its entries go now: the part its target still replicates, and the rest by current replica. */
interface HintRoute {
  readonly own: Buffer | undefined;
  readonly elsewhere: ReadonlyMap<string, Buffer>;
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
        await this.leftTheRing(target).catch((err: unknown) => this.d.log.warn({ event: 'hint_replay_failed', target, err: (err as Error).message }, 'redirecting the hints of a node outside the ring stopped; will retry'));
        continue;
      }
      if (pending === 0 || this.d.detector.state(target) !== 'alive') continue;
      await this.d.hints
        .replay(target, async (batch) => {
          const route = this.route(target, batch);
          if (route.own !== undefined) await this.d.transport.call(target, 'Write', { batch: route.own }, this.d.replicaTimeoutMs);
          for (const [node, part] of route.elsewhere) await this.redirect(node, part);
          // Counted as each hint lands, before the queue marks it delivered: a reader who sees
          // no hints pending also sees them counted as replayed.
          this.d.onReplayed?.(1);
        })
        .catch((err: unknown) => this.d.log.warn({ event: 'hint_replay_failed', target, err: (err as Error).message }, 'hint replay stopped; will retry'));
    }
  }

  /** Redirects every hint of a node outside the ring to the current replicas of its records, then deletes the queue. */
  private async leftTheRing(target: string): Promise<void> {
    let redirected = 0;
    await this.d.hints.replay(target, async (batch) => {
      // `own` is a hint whose table is gone: no replica is left to take it.
      for (const [node, part] of this.route(target, batch).elsewhere) await this.redirect(node, part);
      redirected++;
    });
    const left = await this.d.hints.discard(target);
    // `hints`: what the queue held undelivered when the node left (as before redirecting), `redirected` of them went on.
    this.d.log.info({ event: 'hints_discarded', target, hints: redirected + left, redirected }, 'the hint queue of a node outside the ring redirected to current replicas and deleted');
  }

  /** Cuts a hint for `target` by the current placement (the whole of it is `own` when its table is unknown). */
  private route(target: string, batch: Buffer): HintRoute {
    const placement = this.d.placement();
    const entry = this.d.catalog.byId(new RecordBatchReader(batch).tableId);
    if (entry === undefined || placement.nodes.length === 0) return { own: batch, elsewhere: new Map() };
    const byNode = positionsByReplica(batch, placement, currentDef(entry).replicationFactor);
    const owned = new Set(byNode.get(target) ?? []);
    const elsewhere = new Map<string, Buffer>();
    for (const [node, positions] of byNode) {
      // Only the entries the target no longer replicates: the others' copies of its own entries are not its hint's business.
      const moved = node === target ? [] : positions.filter((p) => !owned.has(p));
      if (moved.length > 0) elsewhere.set(node, subBatch(batch, moved));
    }
    return { own: owned.size === 0 ? undefined : subBatch(batch, [...owned]), elsewhere };
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
}

/** The positions of a batch's entries by node that replicates their shard: both rings' replicas during a transition (as writes are routed). */
function positionsByReplica(batch: Buffer, placement: Placement, rf: number): Map<string, number[]> {
  const byNode = new Map<string, number[]>();
  const reader = new RecordBatchReader(batch);
  while (reader.next()) {
    const nodes = new Set([...placement.replicas(reader.shard, rf), ...(placement.targetReplicas(reader.shard, rf) ?? [])]);
    for (const node of nodes) {
      let list = byNode.get(node);
      if (list === undefined) byNode.set(node, (list = []));
      list.push(reader.position);
    }
  }
  return byNode;
}
