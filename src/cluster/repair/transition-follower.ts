/**
 * In a placement transition that names this node in the target ring, copies
 * the shards it gains, then tells the leader (ready/<epoch>/<id>), which
 * switches reads to the target once every registered target node is ready.
 * A failed copy is retried while the transition lasts.
 */
import type { Logger } from 'pino';
import type { AntiEntropy } from './anti-entropy.ts';
import type { PlacementService } from '../placement/placement-service.ts';

/** Copies what this node gains in each transition that names it, then reports it ready. */
export function followTransitions(placement: PlacementService, antiEntropy: AntiEntropy, config: { nodeId: string; healthIntervalMs: number }, log: Logger): void {
  let done = 0;
  let running = false;
  const follow = (): void => {
    const current = placement.current;
    if (running || current.target === undefined || !current.target.includes(config.nodeId) || done >= current.epoch) return;
    running = true;
    void antiEntropy
      .catchUp(current.epoch)
      .then(() => placement.reportReady(current.epoch))
      .then(
        () => {
          done = current.epoch;
          running = false;
          follow();
        },
        (err: unknown) => {
          // Retried after a pause only: catch-up fails as a matter of course while too few sources are alive
          // (NO_QUORUM), and an immediate retry spun on it.
          running = false;
          log.warn({ event: 'catch_up_failed', epoch: current.epoch, err: (err as Error).message }, 'copying gained shards failed; retrying');
          setTimeout(follow, config.healthIntervalMs * 5).unref();
        },
      );
  };
  placement.on('change', follow);
  follow();
}

