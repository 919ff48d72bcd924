/**
 * Shard placement: which nodes hold each shard. The map in etcd is tiny (an
 * epoch and the ring's member ids); every node derives the same replica
 * lists from it with the consistent-hash ring, so a change is one CAS on
 * one key and every node follows it through a watch.
 *
 * Only the holder of the etcd election changes the map, and always with a
 * compare-and-swap on the key's mod revision, so a deposed leader that still
 * believes it leads cannot overwrite a newer epoch.
 *
 * Nodes join the ring when they first register. A node that dies stays in
 * the ring (its writes become hints and repair catches it up), as in
 * Cassandra, where leaving the ring is an operator's decision: a node
 * restarting after a crash must not cause two rounds of data movement.
 */
import { EventEmitter } from 'node:events';
import type { Etcd3 } from 'etcd3';
import type { Logger } from 'pino';
import { HashRing } from '../core/hash-ring.ts';
import type { Catalog } from '../storage/catalog.ts';
import type { EtcdKeys } from './etcd-keys.ts';

/**
 * Placement is per shard, shared by every table; the widest replication
 * factor of any table decides which nodes hold a shard's data at all.
 */
export function widestReplicationFactor(catalog: Catalog): number {
  return Math.max(1, ...catalog.list().map((t) => t.versions.at(-1)?.replicationFactor ?? 1));
}

/** The placement map as stored in etcd. */
export interface PlacementMap {
  readonly epoch: number;
  /** Ring members, sorted. */
  readonly nodes: readonly string[];
}

/** The placement at one epoch with its derived ring. */
export class Placement {
  readonly epoch: number;
  readonly nodes: readonly string[];
  private readonly ring: HashRing;
  private readonly cache = new Map<number, string[]>();

  constructor(map: PlacementMap) {
    this.epoch = map.epoch;
    this.nodes = [...map.nodes].sort();
    this.ring = new HashRing(this.nodes);
  }

  /** The replicas of `shard` for a table of replication factor `rf`, preferred first. */
  replicas(shard: number, rf: number): readonly string[] {
    const key = shard * 64 + rf;
    let out = this.cache.get(key);
    if (out === undefined) {
      out = this.ring.replicasFor(shard, rf);
      this.cache.set(key, out);
    }
    return out;
  }

  /** Shards (0..shardCount-1) per node at replication factor `rf`. */
  shardsPerNode(shardCount: number, rf: number): Record<string, number[]> {
    const out: Record<string, number[]> = Object.fromEntries(this.nodes.map((n) => [n, [] as number[]]));
    for (let s = 0; s < shardCount; s++) for (const n of this.replicas(s, rf)) out[n]?.push(s);
    return out;
  }
}

export interface PlacementOptions {
  readonly client: Etcd3;
  readonly keys: EtcdKeys;
  readonly nodeId: string;
  readonly leaseTtlMs: number;
  readonly log: Logger;
}

/** Follows the placement map; campaigns to be the node that changes it. Emits `change` (Placement). */
export class PlacementService extends EventEmitter {
  private readonly o: PlacementOptions;
  private currentValue: Placement | undefined;
  private modRevision = '0';
  private watcher: { cancel(): Promise<void> } | undefined;
  private leader = false;
  private campaign: { resign(): Promise<void> } | undefined;
  private wanted: ReadonlySet<string> = new Set();
  private proposing = false;
  private closed = false;

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
    await this.reload();
    this.runCampaign();
  }

  /**
   * Tells the service which nodes are registered; the leader adds any that
   * the ring lacks. Called on every membership change.
   */
  observeMembers(registered: Iterable<string>): void {
    this.wanted = new Set(registered);
    void this.maybePropose();
  }

  /** Resigns the election and stops watching. */
  async stop(): Promise<void> {
    this.closed = true;
    await this.campaign?.resign().catch(() => undefined);
    await this.watcher?.cancel().catch(() => undefined);
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
    this.o.log.info({ event: 'placement', epoch: map.epoch, nodes: map.nodes }, 'placement changed');
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
      void this.maybePropose();
    });
    campaign.on('error', (err: Error) => {
      this.leader = false;
      if (this.closed) return;
      this.o.log.warn({ event: 'campaign_error', err: err.message }, 'placement election lost; campaigning again');
      setTimeout(() => this.runCampaign(), 1000).unref();
    });
  }

  /** As leader, adds registered nodes missing from the ring, by CAS on the map's revision. */
  private async maybePropose(): Promise<void> {
    if (!this.leader || this.proposing || this.closed) return;
    const current = this.current;
    const missing = [...this.wanted].filter((n) => !current.nodes.includes(n));
    if (missing.length === 0) return;
    this.proposing = true;
    try {
      const next: PlacementMap = { epoch: current.epoch + 1, nodes: [...current.nodes, ...missing].sort() };
      const { client, keys } = this.o;
      const res = await client
        .if(keys.placement, 'Mod', '==', this.modRevision)
        .then(client.put(keys.placement).value(JSON.stringify(next)))
        .commit();
      if (res.succeeded) this.o.log.info({ event: 'placement_proposed', epoch: next.epoch, added: missing }, 'placement epoch advanced');
      // Either way, re-read: on a lost race the newer map arrives through the watch too.
      await this.reload();
    } catch (err) {
      this.o.log.warn({ event: 'placement_propose_failed', err: (err as Error).message }, 'placement change failed; will retry');
      setTimeout(() => void this.maybePropose(), 1000).unref();
    } finally {
      this.proposing = false;
    }
    void this.maybePropose();
  }
}
