/**
 * Failure detection: every peer gets a `grpc.health.v1` check each
 * `healthIntervalMs`; any successful replica RPC counts as a passing check
 * too. A peer is `suspect` once nothing has passed for
 * `suspectAfterMisses × healthIntervalMs`, or when its etcd lease is gone,
 * or right after a replica call to it failed; `dead` once nothing has
 * passed for `deadAfterMs`. The coordinator sends no replica writes to a
 * non-alive peer (they go straight to its hint queue), and the hint
 * replayer wakes when a peer turns alive.
 *
 * Suspicion is by elapsed time, not by counting timed-out checks: a check's
 * deadline is the whole suspicion window, so a peer whose event loop is
 * busy for a second under load (it serves health on the same loop) is
 * late, not suspect. Measured: with 1 s deadlines, healthy peers under the
 * cluster benchmark were marked suspect for about a second, 4 runs in 9.
 *
 * This node's own pause is not its peers' silence (Cassandra's failure
 * detector ignores intervals after a local pause likewise): when a round
 * comes late because this node's event loop was blocked, stopped or
 * starved of CPU, the time it missed is credited to every peer. Without
 * it a node that stalled for half a second right after a restart suspected
 * every peer at once and refused the next write with NO_QUORUM.
 */
import { EventEmitter } from 'node:events';
import type { ReplicaTransport } from '../transport/replica-transport.ts';

/** What this node believes about a peer. */
export type PeerState = 'alive' | 'suspect' | 'dead';

interface PeerHealth {
  state: PeerState;
  lastOkMs: number;
  registered: boolean;
  checking: Promise<void> | undefined;
}

export interface FailureDetectorOptions {
  readonly healthIntervalMs: number;
  readonly suspectAfterMisses: number;
  readonly deadAfterMs: number;
  readonly now?: () => number;
}

/** Emits `state` (nodeId, state) on each transition. */
export class FailureDetector extends EventEmitter {
  private readonly clients: Pick<ReplicaTransport, 'check'>;
  private readonly o: FailureDetectorOptions;
  private readonly now: () => number;
  private readonly suspectAfterMs: number;
  private readonly peers = new Map<string, PeerHealth>();
  private timer: NodeJS.Timeout | undefined;
  private lastRoundMs: number | undefined;

  constructor(clients: Pick<ReplicaTransport, 'check'>, options: FailureDetectorOptions) {
    super();
    this.clients = clients;
    this.o = options;
    this.now = options.now ?? Date.now;
    this.suspectAfterMs = options.healthIntervalMs * options.suspectAfterMisses;
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
      // Presumed alive until checks say otherwise: a fresh node must not hint its first writes.
      peer = { state: registered ? 'alive' : 'suspect', lastOkMs: this.now(), registered, checking: undefined };
      this.peers.set(nodeId, peer);
      return;
    }
    peer.registered = registered;
    this.judge(nodeId, peer);
  }

  /** The state of a peer (`dead` for one never seen). */
  state(nodeId: string): PeerState {
    return this.peers.get(nodeId)?.state ?? 'dead';
  }

  /** Milliseconds since the peer last passed a check or answered a replica call (undefined for one never tracked). */
  silenceMs(nodeId: string): number | undefined {
    const peer = this.peers.get(nodeId);
    return peer === undefined ? undefined : Math.max(0, this.now() - peer.lastOkMs);
  }

  /** A replica call to the peer succeeded: as good as a passing check. */
  reportSuccess(nodeId: string): void {
    const peer = this.peers.get(nodeId);
    if (peer === undefined) return;
    peer.lastOkMs = this.now();
    this.judge(nodeId, peer);
  }

  /** A replica call to the peer failed: suspect it now rather than after the window. */
  reportFailure(nodeId: string): void {
    const peer = this.peers.get(nodeId);
    if (peer === undefined) return;
    peer.lastOkMs = Math.min(peer.lastOkMs, this.now() - this.suspectAfterMs);
    this.judge(nodeId, peer);
  }

  /** Starts a check of every peer that has none in flight; resolves when those finish. */
  private async round(): Promise<void> {
    this.creditLocalPause();
    const started: Promise<void>[] = [];
    for (const [id, peer] of this.peers) {
      if (peer.checking === undefined) {
        peer.checking = this.clients.check(id, this.suspectAfterMs).then((ok) => {
          peer.checking = undefined;
          if (ok) peer.lastOkMs = this.now();
          this.judge(id, peer);
        });
        started.push(peer.checking);
      }
      this.judge(id, peer);
    }
    await Promise.all(started);
  }

  /** A round later than twice its interval means this node was paused: that time does not count as any peer's silence. */
  private creditLocalPause(): void {
    const now = this.now();
    const gapMs = this.lastRoundMs === undefined ? 0 : now - this.lastRoundMs;
    this.lastRoundMs = now;
    if (gapMs <= 2 * this.o.healthIntervalMs) return;
    const pausedMs = gapMs - this.o.healthIntervalMs;
    for (const peer of this.peers.values()) peer.lastOkMs = Math.min(now, peer.lastOkMs + pausedMs);
  }

  private judge(id: string, peer: PeerHealth): void {
    const silentMs = this.now() - peer.lastOkMs;
    const next: PeerState = silentMs >= this.o.deadAfterMs ? 'dead' : !peer.registered || silentMs >= this.suspectAfterMs ? 'suspect' : 'alive';
    if (next !== peer.state) {
      peer.state = next;
      this.emit('state', id, next);
    }
  }
}
