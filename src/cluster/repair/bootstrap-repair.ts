/**
 * A node that starts with an empty index (its disk was replaced, or it is
 * the first start of a node already in the ring), or into a newer ring than
 * the last one it ran in (ring-seen.ts), copies its shards from
 * their other replicas (all of them, or after 30 s those alive and then
 * the rest as they come back) instead of waiting for the next anti-entropy
 * round. A node joining through a transition copies its
 * shards before it is in the ring, and skips this.
 */
import type { Logger } from 'pino';
import type { FailureDetector } from '../membership/failure-detector.ts';
import type { Placement } from '../placement/placement.ts';
import type { AntiEntropy } from './anti-entropy.ts';

/** Copies this node's shards from their replicas once its peers are alive (an empty index at start). */
export function bootstrapWhenPeersAlive(
  antiEntropy: AntiEntropy,
  detector: FailureDetector,
  placement: () => Placement,
  config: { nodeId: string; healthIntervalMs: number },
  log: Logger,
  onDone?: () => void,
): void {
  const deadline = Date.now() + 10 * 60_000;
  // A record acknowledged at W < RF may sit on one peer only: copy from every replica, so wait a while for
  // all of them; past the patience, copy from those alive and again once more peers are.
  const patience = Date.now() + 30_000;
  let copiedFrom = 0;
  let done = false;
  const tick = (): void => {
    if (done) return;
    const current = placement();
    const ring = current.nodes;
    const peers = ring.filter((n) => n !== config.nodeId);
    // A joiner copies its shards in the transition (transition-follower.ts); a node alone has nothing to copy.
    const joining = current.target?.includes(config.nodeId) === true && !ring.includes(config.nodeId);
    if (joining || (ring.includes(config.nodeId) && peers.length === 0)) {
      done = true;
      onDone?.();
      return;
    }
    const alive = peers.filter((n) => detector.state(n) === 'alive').length;
    // Wait for the leader to add this node to the ring: before that it holds no shard to copy.
    if (ring.includes(config.nodeId) && alive > copiedFrom && (alive === peers.length || Date.now() > patience)) {
      copiedFrom = alive;
      const everyPeer = alive === peers.length;
      log.info({ event: 'bootstrap_repair', peersAlive: alive, peers: peers.length }, 'copying shards from their replicas (an empty index, or rings missed while down)');
      antiEntropy.repair().then(
        (report) => {
          // A peer that stopped being alive mid-run was skipped: it may hold the only other copy of some record.
          if (everyPeer && report.skipped === 0) {
            done = true;
            log.info({ event: 'bootstrap_repair_done', ...report }, 'copied the shards from every replica');
            onDone?.();
          } else if (report.skipped > 0) copiedFrom = 0;
        },
        (err: unknown) => {
          copiedFrom = 0;
          log.warn({ event: 'bootstrap_repair_failed', err: (err as Error).message }, 'bootstrap repair failed; retrying');
        },
      );
    }
    if (Date.now() < deadline) setTimeout(tick, config.healthIntervalMs).unref();
  };
  // Let the failure detector check every peer once before trusting "alive".
  setTimeout(tick, config.healthIntervalMs * 2).unref();
}

