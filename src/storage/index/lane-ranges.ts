/**
 * Where the id blocks of each lane (snowflake worker) lie, enough to tell
 * whether a new block would overlap one. A lookup seeks the first block of
 * the id's lane ending at or after the id and searches it, so a lane's
 * blocks must stay disjoint; they need not arrive in id order. Frames of
 * one coordinator mostly do (a block above every earlier one: the fast
 * path), but atomic batches commit in the order their decisions come, not
 * the order their ids were stamped, and each of those frames used to fall
 * back to one id entry per record.
 *
 * Per lane: the highest last id of any block, the most recent blocks'
 * ranges, and a floor at or above the last id of every block not among
 * them (those in the engine at start, and those evicted). A block below
 * the floor, or overlapping a recent one, is refused: its frame keeps
 * per-record id entries, as before.
 */

/** One block's first and last id. */
interface IdRange {
  readonly first: bigint;
  readonly last: bigint;
}

interface Lane {
  /** Highest last id of any block of the lane. */
  last: bigint;
  /** Every block of the lane not in `recent` ends at or below it. */
  floor: bigint;
  readonly recent: IdRange[];
}

/** The id-block ranges of every lane in use. */
export class LaneRanges {
  private readonly lanes = new Map<number, Promise<Lane>>();
  private readonly newestInEngine: (lane: number) => Promise<bigint>;
  private readonly recentMax: number;

  /** `newestInEngine(lane)`: the last id of the lane's newest stored block (0n when none). */
  constructor(newestInEngine: (lane: number) => Promise<bigint>, recentMax = 1_024) {
    this.newestInEngine = newestInEngine;
    this.recentMax = recentMax;
  }

  /**
   * Claims ids `first`..`last` of `lane` for a block when they overlap none
   * of the lane's blocks; false (nothing claimed) when they might. The
   * check and the claim are one step, so two frames applied at once cannot
   * both claim overlapping ranges.
   */
  async claim(lane: number, first: bigint, last: bigint): Promise<boolean> {
    const l = await this.lane(lane);
    const fits = first > l.last || (first > l.floor && l.recent.every((r) => last < r.first || first > r.last));
    if (!fits) return false;
    if (last > l.last) l.last = last;
    l.recent.push({ first, last });
    if (l.recent.length > this.recentMax) this.evictLowest(l);
    return true;
  }

  /** Drops the recent range that ends lowest (the floor rises least). */
  private evictLowest(l: Lane): void {
    let low = 0;
    for (let i = 1; i < l.recent.length; i++) if ((l.recent[i] as IdRange).last < (l.recent[low] as IdRange).last) low = i;
    const [evicted] = l.recent.splice(low, 1);
    if (evicted !== undefined && evicted.last > l.floor) l.floor = evicted.last;
  }

  private lane(lane: number): Promise<Lane> {
    let l = this.lanes.get(lane);
    if (l === undefined) {
      l = this.newestInEngine(lane).then((newest) => ({ last: newest, floor: newest, recent: [] }));
      this.lanes.set(lane, l);
    }
    return l;
  }
}
