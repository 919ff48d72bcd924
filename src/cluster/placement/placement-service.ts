/**
 * Shard placement: which nodes hold each shard. The map in etcd is tiny (an
 * epoch, the ring's member ids, and during a change the ring it is moving
 * to); every node derives the same replica lists from it with the
 * consistent-hash ring, so a change is one CAS on one key and every node
 * follows it through a watch.
 *
 * Only the holder of the etcd election changes the map, and always with a
 * compare-and-swap on the key's mod revision, so a deposed leader that still
 * believes it leads cannot overwrite a newer epoch.
 *
 * A change of members (a node joins, or an operator decommissions one) is a
 * transition in two epochs, like Raft's joint consensus and Cassandra's
 * pending ranges: epoch e names the `target` ring beside the current one;
 * reads still use the current ring, writes go to both and need W acks in
 * each; every node that gains a shard copies it from the current replicas
 * and says so in etcd (`ready/<e>/<id>`); then the leader switches reads to
 * the target (epoch e+1). No acknowledged write is missing from the new
 * ring's quorums, and the ring never answers from a node still copying.
 *
 * A node that dies stays in the ring (its writes become hints and repair
 * catches it up), as in Cassandra, where leaving the ring is an operator's
 * decision: a node restarting after a crash must not cause two rounds of
 * data movement.
 */
import { EventEmitter } from 'node:events';
import type { Etcd3 } from 'etcd3';
import type { Logger } from 'pino';
import type { EtcdKeys } from '../metadata/etcd-keys.ts';
import { Placement, sourcesNeeded, type PlacementMap } from './placement.ts';

export interface PlacementOptions {
  readonly client: Etcd3;
  readonly keys: EtcdKeys;
  readonly nodeId: string;
  readonly leaseTtlMs: number;
  readonly log: Logger;
  /** Shard count, and the replication factor of each table: which shards a transition leaves without a copy. */
  readonly shards: number;
  readonly replicationFactors: () => Iterable<number>;
}

/** How often the leader re-checks a running transition (ready keys, decommission requests). */
const LEADER_TICK_MS = 500;

/** Follows the placement map; campaigns to be the node that changes it. Emits `change` (Placement). */
export class PlacementService extends EventEmitter {
  private readonly o: PlacementOptions;
  private currentValue: Placement | undefined;
  private modRevision = '0';
  private watcher: { cancel(): Promise<void> } | undefined;
  private leader = false;
  private campaign: { resign(): Promise<void> } | undefined;
  private wanted: ReadonlySet<string> = new Set();
  /** False until membership has told us who is registered (an empty set then means "unknown"). */
  private observed = false;
  private proposing = false;
  private closed = false;
  private tick: NodeJS.Timeout | undefined;
  private leaving = new Set<string>();
  private leavingWatcher: { cancel(): Promise<void> } | undefined;
  /** The unregistered nodes the last switch check waited for (logged when it changes). */
  private waitedFor = '';

  constructor(options: PlacementOptions) {
    super();
    this.o = options;
  }

  /** The current placement (an empty ring before the first map exists). */
  get current(): Placement {
    return this.currentValue ?? new Placement({ epoch: 0, nodes: [] });
  }

  /** True while this node holds the placement election. */
  get isLeader(): boolean {
    return this.leader;
  }

  /** Loads the map, follows it, and joins the election. */
  async start(): Promise<void> {
    const { client, keys } = this.o;
    const watcher = await client.watch().key(keys.placement).create();
    this.watcher = watcher;
    watcher.on('put', (kv) => this.adopt(kv.value.toString('utf8'), kv.mod_revision));
    watcher.on('error', (err) => this.o.log.warn({ event: 'watch_error', err: err.message }, 'placement watch error'));
    const prefix = keys.decommissions;
    const leaving = await client.watch().prefix(prefix).create();
    this.leavingWatcher = leaving;
    leaving.on('put', (kv) => {
      this.leaving = new Set([...this.leaving, kv.key.toString('utf8').slice(prefix.length)]);
      void this.maybePropose();
    });
    leaving.on('delete', (kv) => {
      const id = kv.key.toString('utf8').slice(prefix.length);
      this.leaving = new Set([...this.leaving].filter((n) => n !== id));
      void this.maybePropose();
    });
    this.leaving = new Set((await client.getAll().prefix(prefix).keys()).map((k) => k.slice(prefix.length)));
    await this.reload();
    this.runCampaign();
  }

  /**
   * Tells the service which nodes are registered; the leader starts a
   * transition for any that the ring lacks. Called on every membership change.
   */
  observeMembers(registered: Iterable<string>): void {
    this.wanted = new Set(registered);
    this.observed = true;
    void this.maybePropose();
  }

  /** Reads the map from etcd now (a replica said ours is stale); returns the newest known. */
  async refresh(): Promise<Placement> {
    await this.reload();
    return this.current;
  }

  /** Records in etcd that this node has copied what it gains in the transition of `epoch`. */
  async reportReady(epoch: number): Promise<void> {
    await this.o.client.put(this.o.keys.ready(epoch, this.o.nodeId)).value(String(Date.now())).exec();
  }

  /** Asks the leader to move `node` out of the ring (or, with `cancel`, withdraws the request). */
  async decommission(node: string, cancel: boolean): Promise<void> {
    const key = this.o.keys.decommission(node);
    if (cancel) await this.o.client.delete().key(key).exec();
    else await this.o.client.put(key).value(String(Date.now())).exec();
  }

  /** Nodes an operator has asked to leave the ring (followed by a watch: no etcd round trip). */
  get decommissioned(): ReadonlySet<string> {
    return this.leaving;
  }

  /** Resigns the election and stops watching. */
  async stop(): Promise<void> {
    this.closed = true;
    if (this.tick !== undefined) clearInterval(this.tick);
    await this.campaign?.resign().catch(() => undefined);
    await this.watcher?.cancel().catch(() => undefined);
    await this.leavingWatcher?.cancel().catch(() => undefined);
  }

  private async reload(): Promise<void> {
    const res = await this.o.client.get(this.o.keys.placement).exec();
    const kv = res.kvs[0];
    if (kv !== undefined) this.adopt(kv.value.toString('utf8'), kv.mod_revision);
  }

  private adopt(json: string, modRevision: string): void {
    const map = JSON.parse(json) as PlacementMap;
    if (this.currentValue !== undefined && map.epoch <= this.currentValue.epoch) {
      if (map.epoch === this.currentValue.epoch) this.modRevision = modRevision;
      return;
    }
    this.currentValue = new Placement(map);
    this.modRevision = modRevision;
    this.o.log.info({ event: 'placement', epoch: map.epoch, nodes: map.nodes, target: map.target }, 'placement changed');
    this.emit('change', this.currentValue);
  }

  private runCampaign(): void {
    if (this.closed) return;
    const election = this.o.client.election(this.o.keys.election, Math.ceil(this.o.leaseTtlMs / 1000));
    const campaign = election.campaign(this.o.nodeId);
    this.campaign = campaign;
    campaign.on('elected', () => {
      this.leader = true;
      this.o.log.info({ event: 'placement_leader' }, 'elected placement leader');
      this.tick ??= setInterval(() => void this.maybePropose(), LEADER_TICK_MS);
      this.tick.unref();
      void this.maybePropose();
    });
    campaign.on('error', (err: Error) => {
      this.leader = false;
      if (this.closed) return;
      this.o.log.warn({ event: 'campaign_error', err: err.message }, 'placement election lost; campaigning again');
      setTimeout(() => this.runCampaign(), 1000).unref();
    });
  }

  /** As leader, moves the placement one step towards the registered, non-decommissioned nodes. */
  private async maybePropose(): Promise<void> {
    if (!this.leader || this.proposing || this.closed || !this.observed) return;
    this.proposing = true;
    let retry = false;
    try {
      const current = this.current;
      const next = await this.nextMap(current);
      if (next === undefined) return;
      const { client, keys } = this.o;
      // A transition that ends takes its ready reports with it in the same transaction: deleted after the
      // CAS instead, by a leader paused in between, they took the next leader's transition's reports too.
      const ended = current.target !== undefined && next.target === undefined ? [client.delete().prefix(keys.readyPrefix(current.epoch))] : [];
      const res = await client
        .if(keys.placement, 'Mod', '==', this.modRevision)
        .then(client.put(keys.placement).value(JSON.stringify(next)), ...ended)
        .commit();
      if (res.succeeded) {
        this.o.log.info({ event: 'placement_proposed', epoch: next.epoch, nodes: next.nodes, target: next.target }, 'placement epoch advanced');
      }
      // Either way, re-read: on a lost race the newer map arrives through the watch too.
      await this.reload();
      retry = true;
    } catch (err) {
      this.o.log.warn({ event: 'placement_propose_failed', err: (err as Error).message }, 'placement change failed; will retry');
    } finally {
      this.proposing = false;
    }
    if (retry) void this.maybePropose();
  }

  /** The next map, or undefined when the placement is where it should be (or waits on copies). */
  private async nextMap(current: Placement): Promise<PlacementMap | undefined> {
    const leaving = this.leaving;
    const registered = [...this.wanted].filter((n) => !leaving.has(n));
    const epoch = current.epoch + 1;
    // The first ring has nothing to copy.
    if (current.nodes.length === 0) return registered.length === 0 ? undefined : { epoch, nodes: registered.sort() };
    if (current.target === undefined) {
      const joining = registered.filter((n) => !current.nodes.includes(n));
      const target = [...current.nodes, ...joining].filter((n) => !leaving.has(n));
      if (joining.length === 0 && target.length === current.nodes.length) return undefined;
      if (target.length === 0) {
        this.o.log.warn({ event: 'decommission_refused' }, 'every node is decommissioned; the ring keeps its members');
        return undefined;
      }
      return { epoch, nodes: current.nodes, target: target.sort() };
    }
    // A node left out of the target was leaving when the transition began; if its decommission was withdrawn,
    // the transition ends where it started (reads never left the current ring: nothing is lost) and the next
    // one is planned from the requests left. Otherwise one that cannot finish could not be called off.
    const moving = current.target;
    if (current.nodes.some((n) => !moving.includes(n) && !leaving.has(n))) return { epoch, nodes: current.nodes };
    // A joiner that went away before it was ready is dropped from the transition.
    const gone = current.target.filter((n) => !current.nodes.includes(n) && !this.wanted.has(n));
    if (gone.length > 0) {
      const target = current.target.filter((n) => !gone.includes(n));
      const same = target.length === current.nodes.length && target.every((n) => current.nodes.includes(n));
      return same ? { epoch, nodes: current.nodes } : { epoch, nodes: current.nodes, target };
    }
    const prefix = this.o.keys.readyPrefix(current.epoch);
    const ready = new Set((await this.o.client.getAll().prefix(prefix).keys()).map((k) => k.slice(prefix.length)));
    // A registered node that gains shards must have copied them; a dead one is caught up by repair later,
    // unless the target ring would keep too few of a shard's old replicas for that repair to find its writes.
    const unrepairable = [...mustCopy(current, ready, this.o.shards, this.o.replicationFactors())].filter((n) => !this.wanted.has(n));
    this.noteWaitingFor(current.epoch, unrepairable);
    const waiting = current.target.filter((n) => (this.wanted.has(n) || unrepairable.includes(n)) && !ready.has(n));
    if (waiting.length > 0) return undefined;
    return { epoch, nodes: current.target };
  }

  /** Logs, once per change, that a switch waits for nodes that are not registered. */
  private noteWaitingFor(epoch: number, nodes: readonly string[]): void {
    const key = nodes.length === 0 ? '' : `${epoch}:${nodes.join(',')}`;
    if (key === this.waitedFor) return;
    this.waitedFor = key;
    if (key === '') return;
    this.o.log.warn({ event: 'transition_waits_for_copy', epoch, nodes }, 'the switch waits for nodes that are down: they gain shards whose old replicas leave the ring, and must copy them first');
  }
}

/**
 * Target nodes, not yet ready, that gain a shard the target ring would not
 * otherwise hold: of its `n` old replicas the target keeps fewer than the
 * `n − quorum + 1` that meet every quorum of them (catch-up's rule,
 * decision 45), and no node gaining it has copied it. Switching without
 * them would lose writes a quorum acknowledged: with RF 1, the node that
 * leaves holds the only copy, and a node that was down copies on its return
 * only from its replicas in the new ring.
 */
function mustCopy(current: Placement, ready: ReadonlySet<string>, shards: number, rfs: Iterable<number>): Set<string> {
  const out = new Set<string>();
  for (const rf of new Set(rfs)) {
    for (let shard = 0; shard < shards; shard++) {
      const old = current.replicas(shard, rf);
      const target = current.targetReplicas(shard, rf) ?? [];
      const gaining = target.filter((n) => !old.includes(n));
      if (gaining.length === 0 || gaining.some((n) => ready.has(n))) continue;
      if (target.length - gaining.length >= sourcesNeeded(old.length)) continue;
      for (const n of gaining) out.add(n);
    }
  }
  return out;
}
