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
  /** Disjoint, so sorted by last id is sorted by first id too; the lowest is evicted first. */
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
    if (first > l.last) {
      // The common case, a block above every other: it goes at the end, order kept, O(1).
      l.last = last;
      l.recent.push({ first, last });
    } else {
      if (first <= l.floor) return false;
      const at = firstEndingAtOrAfter(l.recent, first);
      const next = l.recent[at];
      if (next !== undefined && next.first <= last) return false;
      l.recent.splice(at, 0, { first, last });
    }
    // The lowest goes (the floor rises least): the array's head, since it is sorted.
    if (l.recent.length > this.recentMax) {
      const evicted = l.recent.shift() as IdRange;
      if (evicted.last > l.floor) l.floor = evicted.last;
    }
    return true;
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

/** Index of the first range of `sorted` whose last id is at or above `id` (its length when none is). */
function firstEndingAtOrAfter(sorted: readonly IdRange[], id: bigint): number {
  let lo = 0;
  let hi = sorted.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if ((sorted[mid] as IdRange).last < id) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}
