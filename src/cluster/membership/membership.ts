/**
 * Membership: this node's registration in etcd and the list of registered
 * peers. The node holds one lease (TTL `leaseTtlMs`, kept alive every
 * `keepAliveMs` by us, not by the client library, so the period is ours);
 * under it live `nodes/<id>` and `workers/<n>`, the snowflake worker id.
 *
 * Fencing: a lease that etcd may already have expired must not be trusted,
 * or two live nodes could share a worker id. The node keeps the send time
 * of its last successful keep-alive; etcd's countdown restarted no earlier
 * than that, so `sentAt + TTL` is a safe lower bound on the expiry. Past
 * `sentAt + TTL - keepAliveMs` the node is fenced: it acknowledges no
 * write and issues no id until it has registered again (Kafka's broker
 * fencing on a lost ZooKeeper session is the same idea).
 */
import { EventEmitter } from 'node:events';
import { EtcdLeaseInvalidError, type Etcd3, type Lease } from 'etcd3';
import type { Logger } from 'pino';
import { SluiceError } from '../../core/errors.ts';
import { failpoint } from '../../core/failpoint.ts';
import type { EtcdKeys } from '../metadata/etcd-keys.ts';

/** What a node publishes about itself. */
export interface NodeInfo {
  readonly nodeId: string;
  /** Base URL of the HTTP API. */
  readonly http: string;
  /** host:port of the client gRPC listener (Ingest, Health). */
  readonly grpc: string;
  /**
   * host:port of the peer listener (Replica, Health; mutual TLS unless
   * --insecure-cluster). Absent in the registration of a node from before
   * the peer listener, which no peer can replicate to.
   */
  readonly peer?: string;
  readonly workerId: number;
  readonly startedAtMs: number;
}

/** Number of snowflake worker ids (10 bits). */
const WORKER_IDS = 1024;

export interface MembershipOptions {
  readonly client: Etcd3;
  readonly keys: EtcdKeys;
  readonly self: Omit<NodeInfo, 'workerId'>;
  readonly leaseTtlMs: number;
  readonly keepAliveMs: number;
  /**
   * Worker id this node held before (tried first), and the lease it held it
   * under when its holder is known dead (revoked at once; without it the
   * node waits for the old registration to expire).
   */
  readonly previous?: { workerId: number; leaseId?: string };
  /** Persists the worker id and lease id once claimed (so a restart can revoke a dead predecessor's lease). */
  readonly remember: (claim: { workerId: number; leaseId: string }) => Promise<void>;
  readonly log: Logger;
  readonly now?: () => number;
}

/**
 * Events: `registered` (info) after each (re-)registration, `members` (map)
 * when the peer list changes.
 */
export class Membership extends EventEmitter {
  private readonly o: MembershipOptions;
  private readonly now: () => number;
  private lease: Lease | undefined;
  private leaseIdValue = '';
  /** etcd revision that created `nodes/<id>` at the last registration. */
  private registeredAtRevision = '0';
  private infoValue: NodeInfo | undefined;
  /** Send time of the last keep-alive etcd answered with a live lease. */
  private lastKeptAt = 0;
  private keepTimer: NodeJS.Timeout | undefined;
  private registering: Promise<void> | undefined;
  private readonly membersValue = new Map<string, NodeInfo>();
  private watcher: { cancel(): Promise<void> } | undefined;
  private closed = false;
  private fencedReported = false;

  constructor(options: MembershipOptions) {
    super();
    this.o = options;
    this.now = options.now ?? Date.now;
  }

  /** Registers this node and starts following the member list. */
  async start(): Promise<void> {
    await this.register();
    await this.followMembers();
    this.keepTimer = setInterval(() => void this.keepAlive(), this.o.keepAliveMs);
    this.keepTimer.unref();
  }

  /** This node's published info (after start). */
  get info(): NodeInfo {
    if (this.infoValue === undefined) throw new SluiceError('NOT_READY', 'the node has not registered in etcd');
    return this.infoValue;
  }

  /**
   * This node's registration as etcd holds it: its key and the revision
   * that created it. A decision conditioned on both fails once the lease
   * is lost, even if the node has registered again since (a new revision).
   */
  get registration(): { readonly key: string; readonly createRevision: string } {
    return { key: this.o.keys.node(this.o.self.nodeId), createRevision: this.registeredAtRevision };
  }

  /** Registered nodes by id, this one included. */
  get members(): ReadonlyMap<string, NodeInfo> {
    return this.membersValue;
  }

  /** True while the lease is certainly alive in etcd. */
  get live(): boolean {
    return this.infoValue !== undefined && this.now() < this.lastKeptAt + this.o.leaseTtlMs - this.o.keepAliveMs;
  }

  /** Throws NO_QUORUM unless the lease is certainly alive (call before acknowledging a write). */
  assertLive(): void {
    if (!this.live) throw new SluiceError('NO_QUORUM', 'this node lost its etcd lease and acknowledges no writes until it registers again');
  }

  /** Stops keep-alives and revokes the lease, so peers see this node leave at once. */
  async stop(): Promise<void> {
    this.closed = true;
    if (this.keepTimer !== undefined) clearInterval(this.keepTimer);
    await this.watcher?.cancel().catch(() => undefined);
    await this.lease?.revoke().catch(() => undefined);
  }

  private async keepAlive(): Promise<void> {
    if (this.closed || this.registering !== undefined) return;
    const sentAt = this.now();
    try {
      const lease = this.lease;
      if (lease === undefined) return;
      await withTimeout(lease.keepaliveOnce(), this.o.keepAliveMs);
      this.lastKeptAt = sentAt;
      this.fencedReported = false;
    } catch (err) {
      if (err instanceof EtcdLeaseInvalidError) {
        // etcd says the lease is gone (it expired while we could not reach etcd).
        this.o.log.warn({ event: 'lease_lost', leaseId: this.leaseIdValue }, 'etcd lease expired; registering again');
        this.reregister();
        return;
      }
      if (!this.live && !this.fencedReported) {
        this.fencedReported = true;
        this.o.log.error({ event: 'fenced', err: (err as Error).message }, 'etcd unreachable past the lease margin: writes refused');
      }
      if (this.now() > this.lastKeptAt + this.o.leaseTtlMs) this.reregister();
    }
  }

  private reregister(): void {
    if (this.closed || this.registering !== undefined) return;
    this.registering = this.register()
      .catch((err: unknown) => this.o.log.warn({ event: 'register_failed', err: (err as Error).message }, 'registration failed; will retry'))
      .finally(() => {
        this.registering = undefined;
      });
  }

  private async register(): Promise<void> {
    const { client, keys, log } = this.o;
    const previous = this.o.previous;
    if (previous?.leaseId !== undefined && this.leaseIdValue === '') {
      // Its holder is dead (our data-dir lock, on the machine that held it): free its keys now
      // instead of waiting for the TTL.
      await revokeLeaseById(client, previous.leaseId);
    }
    await this.awaitFreeId();
    const sentAt = this.now();
    const lease = client.lease(Math.ceil(this.o.leaseTtlMs / 1000), { autoKeepAlive: false });
    const leaseId = await lease.grant();
    const workerId = await this.claimWorkerId(lease, previous?.workerId ?? this.infoValue?.workerId);
    const info: NodeInfo = { ...this.o.self, workerId };
    const put = await client
      .if(keys.node(info.nodeId), 'Create', '==', 0)
      .then(lease.put(keys.node(info.nodeId)).value(JSON.stringify(info)))
      .commit();
    if (!put.succeeded) {
      await lease.revoke().catch(() => undefined);
      throw new SluiceError('INVALID_ARGUMENT', `node id ${info.nodeId} was registered concurrently by another process`);
    }
    failpoint('member.after-register');
    await this.o.remember({ workerId, leaseId });
    this.registeredAtRevision = put.header.revision;
    this.lease?.release();
    this.lease = lease;
    this.leaseIdValue = leaseId;
    this.infoValue = info;
    this.lastKeptAt = sentAt;
    this.membersValue.set(info.nodeId, info);
    log.info({ event: 'registered', nodeId: info.nodeId, workerId, leaseId }, 'registered in etcd');
    this.emit('registered', info);
  }

  /**
   * Waits for `nodes/<id>` to be free. After a crash that lost the data dir
   * (so the old lease is unknown) the dead predecessor's key lives until
   * its TTL; a key that outlives 1.5 TTLs is held by a live process.
   */
  private async awaitFreeId(): Promise<void> {
    const key = this.o.keys.node(this.o.self.nodeId);
    const deadline = this.now() + this.o.leaseTtlMs * 1.5;
    let logged = false;
    for (;;) {
      const existing = await this.o.client.get(key).string();
      if (existing === null) return;
      if (this.now() > deadline) {
        throw new SluiceError('INVALID_ARGUMENT', `node id ${this.o.self.nodeId} is registered by a live process (${existing}); node ids must be unique`);
      }
      if (!logged) {
        logged = true;
        this.o.log.warn({ event: 'node_id_held', nodeId: this.o.self.nodeId }, 'node id still registered (a crashed predecessor?); waiting for its lease to expire');
      }
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
  }

  /** Claims a free worker id under the lease, trying `preferred` first. */
  private async claimWorkerId(lease: Lease, preferred: number | undefined): Promise<number> {
    const { client, keys } = this.o;
    const taken = new Set((await client.getAll().prefix(keys.workers).keys()).map((k) => Number(k.slice(keys.workers.length))));
    const order = preferred === undefined ? [] : [preferred];
    for (let n = 0; n < WORKER_IDS; n++) if (n !== preferred) order.push(n);
    for (const n of order) {
      if (taken.has(n)) continue;
      const res = await client.if(keys.worker(n), 'Create', '==', 0).then(lease.put(keys.worker(n)).value(this.o.self.nodeId)).commit();
      if (res.succeeded) return n;
    }
    throw new SluiceError('NO_QUORUM', `all ${WORKER_IDS} snowflake worker ids are leased`);
  }

  private async followMembers(): Promise<void> {
    const { client, keys } = this.o;
    const watcher = await client.watch().prefix(keys.nodes).create();
    this.watcher = watcher;
    watcher.on('put', (kv) => {
      const info = JSON.parse(kv.value.toString('utf8')) as NodeInfo;
      this.membersValue.set(info.nodeId, info);
      this.emit('members', this.membersValue);
    });
    watcher.on('delete', (kv) => {
      const id = kv.key.toString('utf8').slice(keys.nodes.length);
      this.membersValue.delete(id);
      this.emit('members', this.membersValue);
    });
    watcher.on('error', (err) => this.o.log.warn({ event: 'watch_error', err: err.message }, 'membership watch error'));
    const all = await client.getAll().prefix(keys.nodes).strings();
    for (const value of Object.values(all)) {
      const info = JSON.parse(value) as NodeInfo;
      this.membersValue.set(info.nodeId, info);
    }
    this.emit('members', this.membersValue);
  }
}

/** Revokes a lease by its (decimal) id; a lease that is already gone is fine. */
async function revokeLeaseById(client: Etcd3, leaseId: string): Promise<void> {
  if (!/^[0-9]{1,20}$/.test(leaseId)) return;
  try {
    await client.leaseClient.leaseRevoke({ ID: leaseId });
  } catch {
    // Already expired or revoked: nothing to free.
  }
}

/** Rejects when `promise` has not settled within `ms`. */
function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer from etcd within ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}
