/**
 * Which nodes may call this one's Replica service: those etcd lists as
 * registered (`nodes/<id>`, under a live lease) and that are not
 * decommissioned. Answered from the member list the membership watch keeps
 * (no etcd round trip per call); an id the watch has not shown yet is
 * looked up in etcd once, since a node that just registered may call
 * before this node's watch delivers it. A miss is remembered for a
 * moment, so a certificate of an unregistered id cannot make every call an
 * etcd read.
 */
import type { Etcd3 } from 'etcd3';
import { SluiceError } from '../../core/errors.ts';
import type { EtcdKeys } from '../metadata/etcd-keys.ts';

/** How long an id etcd did not list is refused without asking etcd again. */
const MISS_REMEMBERED_MS = 1_000;

export interface PeerRosterOptions {
  readonly client: Etcd3;
  readonly keys: EtcdKeys;
  /** True for a node an operator moved out of the cluster (it may still be registered). */
  readonly decommissioned: (nodeId: string) => boolean;
  readonly now?: () => number;
}

/** The nodes allowed to call this node, from the membership watch and etcd. */
export class PeerRoster {
  private readonly o: PeerRosterOptions;
  private readonly now: () => number;
  private registered: ReadonlySet<string> = new Set();
  private readonly misses = new Map<string, number>();
  /** etcd reads in flight by node id: concurrent calls of one unknown id share one. */
  private readonly lookups = new Map<string, Promise<boolean>>();

  constructor(options: PeerRosterOptions) {
    this.o = options;
    this.now = options.now ?? Date.now;
  }

  /** The registered node ids, as the membership watch has them now. */
  observe(members: Iterable<string>): void {
    this.registered = new Set(members);
    for (const id of this.registered) this.misses.delete(id);
  }

  /** Resolves when `nodeId` may call this node; PERMISSION_DENIED (or NOT_READY when etcd cannot say) otherwise. */
  async admit(nodeId: string): Promise<void> {
    if (this.o.decommissioned(nodeId)) throw new SluiceError('PERMISSION_DENIED', `node ${nodeId} is decommissioned`);
    if (this.registered.has(nodeId)) return;
    const missedAt = this.misses.get(nodeId);
    if (missedAt === undefined || this.now() - missedAt >= MISS_REMEMBERED_MS) {
      if (await this.lookup(nodeId)) return;
      this.misses.set(nodeId, this.now());
    }
    throw new SluiceError('PERMISSION_DENIED', `node ${nodeId} is not registered in etcd`);
  }

  private async lookup(nodeId: string): Promise<boolean> {
    let pending = this.lookups.get(nodeId);
    if (pending === undefined) {
      pending = this.o.client
        .get(this.o.keys.node(nodeId))
        .string()
        .then((value) => value !== null)
        .finally(() => this.lookups.delete(nodeId));
      this.lookups.set(nodeId, pending);
    }
    try {
      return await pending;
    } catch (err) {
      throw new SluiceError('NOT_READY', `cannot check in etcd whether node ${nodeId} is registered: ${(err as Error).message}`, [], { cause: err });
    }
  }
}
