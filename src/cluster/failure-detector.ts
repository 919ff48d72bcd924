/**
 * Failure detection: every peer gets a `grpc.health.v1` check each
 * `healthIntervalMs`. A peer is `alive` while checks pass, `suspect` after
 * `suspectAfterMisses` consecutive misses or when its etcd lease is gone,
 * and `dead` once suspect for `deadAfterMs` with no successful check. The
 * coordinator sends no replica writes to a non-alive peer (they go straight
 * to its hint queue), and the hint replayer wakes when a peer turns alive.
 */
import { EventEmitter } from 'node:events';
import type { PeerClients } from './transport/peer-clients.ts';

/** What this node believes about a peer. */
export type PeerState = 'alive' | 'suspect' | 'dead';

interface PeerHealth {
  state: PeerState;
  misses: number;
  lastOkMs: number;
  registered: boolean;
}

export interface FailureDetectorOptions {
  readonly healthIntervalMs: number;
  readonly suspectAfterMisses: number;
  readonly deadAfterMs: number;
  readonly now?: () => number;
}

/** Emits `state` (nodeId, state) on each transition. */
export class FailureDetector extends EventEmitter {
  private readonly clients: PeerClients;
  private readonly o: FailureDetectorOptions;
  private readonly now: () => number;
  private readonly peers = new Map<string, PeerHealth>();
  private timer: NodeJS.Timeout | undefined;
  private checking = false;

  constructor(clients: PeerClients, options: FailureDetectorOptions) {
    super();
    this.clients = clients;
    this.o = options;
    this.now = options.now ?? Date.now;
  }

  /** Starts the periodic checks. */
  start(): void {
    this.timer = setInterval(() => void this.round(), this.o.healthIntervalMs);
    this.timer.unref();
  }

  /** Stops checking. */
  stop(): void {
    if (this.timer !== undefined) clearInterval(this.timer);
  }

  /** Tracks `nodeId`; `registered` says whether it holds a live etcd lease. */
  track(nodeId: string, registered: boolean): void {
    let peer = this.peers.get(nodeId);
    if (peer === undefined) {
      // A peer is presumed alive until checks say otherwise: a fresh node must not hint its first writes.
      peer = { state: registered ? 'alive' : 'suspect', misses: 0, lastOkMs: this.now(), registered };
      this.peers.set(nodeId, peer);
      return;
    }
    peer.registered = registered;
    if (!registered && peer.state === 'alive') this.set(nodeId, peer, 'suspect');
  }

  /** The state of a peer (`dead` for one never seen). */
  state(nodeId: string): PeerState {
    return this.peers.get(nodeId)?.state ?? 'dead';
  }

  /** Every tracked peer's state. */
  states(): Map<string, PeerState> {
    return new Map([...this.peers].map(([id, p]) => [id, p.state]));
  }

  /** Records a failed call to a peer as a miss (calls fail faster than the check period). */
  reportFailure(nodeId: string): void {
    const peer = this.peers.get(nodeId);
    if (peer === undefined) return;
    peer.misses = Math.max(peer.misses, this.o.suspectAfterMisses);
    if (peer.state === 'alive') this.set(nodeId, peer, 'suspect');
  }

  private async round(): Promise<void> {
    if (this.checking) return;
    this.checking = true;
    try {
      await Promise.all([...this.peers].map(async ([id, peer]) => this.judge(id, peer, await this.clients.check(id, this.o.healthIntervalMs))));
    } finally {
      this.checking = false;
    }
  }

  private judge(id: string, peer: PeerHealth, ok: boolean): void {
    const now = this.now();
    if (ok && peer.registered) {
      peer.misses = 0;
      peer.lastOkMs = now;
      if (peer.state !== 'alive') this.set(id, peer, 'alive');
      return;
    }
    if (ok) peer.lastOkMs = now;
    else peer.misses++;
    const suspect = !peer.registered || peer.misses >= this.o.suspectAfterMisses;
    if (!suspect) return;
    const next: PeerState = now - peer.lastOkMs >= this.o.deadAfterMs ? 'dead' : 'suspect';
    if (next !== peer.state) this.set(id, peer, next);
  }

  private set(id: string, peer: PeerHealth, state: PeerState): void {
    peer.state = state;
    this.emit('state', id, state);
  }
}
