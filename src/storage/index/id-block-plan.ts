/**
 * Which id block each record batch of one apply writes its ids into.
 *
 * A frame's append-only records share one id block (id-block.ts). Under
 * small writes (one record per request, a shipper's short pushes) that is
 * one block per record: a second index entry, a claim and a block build
 * per request. So the frames of one apply that are of one lane and table,
 * with ids that keep increasing from frame to frame, share one block too
 * (a lane's frames need not be adjacent: on a replica the frames of
 * several coordinators interleave), up to `ID_BLOCK_MERGED_RECORDS_MAX`
 * entries: a lookup binary-searches a block, and a block of that size
 * costs a read what a bulk frame's already does. A frame past the bound
 * alone keeps a block of its own, as before.
 *
 * The merged block's whole range is claimed at once (lane-ranges.ts), so
 * it overlaps no other block of the lane; when that claim is refused each
 * frame is claimed alone, which is what an apply did before merging. A
 * frame whose ids cannot share a block (several lanes, out of order) gets
 * per-record id entries and leaves the runs as they are.
 *
 * Who gets blocks: a coordinator's own frames, the frames it sends to its
 * replicas, and committed atomic batches (which arrive in the order of
 * their decisions, so their blocks need not ascend). Hint replays and
 * repair batches (in key order, of every lane) usually overlap a block and
 * get per-record entries instead.
 */
import { ID_BLOCK_MERGED_RECORDS_MAX } from '../../config.ts';
import type { RecordBatchReader } from '../../core/codec/record-batch-v1.ts';
import { IdBlockBuilder, idBefore, idLaneAt } from './id-block.ts';
import type { LaneRanges } from './lane-ranges.ts';

/** How one record batch's ids are indexed: its append-only ids go to `block` (shared with the batches merged with it); without one, every record gets an id entry of its own. */
export interface IdBlockPlan {
  block: IdBlockBuilder | undefined;
}

/** The ids of a batch that go to a block: one lane, strictly increasing. */
interface IdSpan {
  readonly lane: number;
  readonly first: bigint;
  readonly last: bigint;
  readonly count: number;
}

/** Frames of one lane and table whose ids increase from one to the next: one block. */
interface Run {
  readonly tableId: number;
  /** The last frame's last id. */
  last: bigint;
  count: number;
  readonly members: { readonly plan: IdBlockPlan; readonly span: IdSpan }[];
}

/** Plans the id blocks of an apply's record batches, in order, claiming their ranges; one plan per reader, readers left rewound. */
export async function planIdBlocks(readers: readonly RecordBatchReader[], lanes: LaneRanges, mergedMax = ID_BLOCK_MERGED_RECORDS_MAX): Promise<IdBlockPlan[]> {
  const plans: IdBlockPlan[] = [];
  // One open run per lane: on a replica, the frames of several coordinators interleave.
  const open = new Map<number, Run>();
  for (const r of readers) {
    const span = idSpanOf(r);
    const plan: IdBlockPlan = { block: undefined };
    plans.push(plan);
    if (span === undefined) continue;
    const run = open.get(span.lane);
    if (run !== undefined && joins(run, r.tableId, span, mergedMax)) {
      run.members.push({ plan, span });
      run.last = span.last;
      run.count += span.count;
      continue;
    }
    if (run !== undefined) await claim(run, lanes);
    open.set(span.lane, { tableId: r.tableId, last: span.last, count: span.count, members: [{ plan, span }] });
  }
  for (const run of open.values()) await claim(run, lanes);
  return plans;
}

function joins(run: Run, tableId: number, span: IdSpan, mergedMax: number): boolean {
  return run.tableId === tableId && span.first > run.last && run.count + span.count <= mergedMax;
}

/** Claims a run's range for one block; refused, each member's range alone. */
async function claim(run: Run, lanes: LaneRanges): Promise<void> {
  const first = run.members[0]?.span as IdSpan;
  if (await lanes.claim(first.lane, first.first, run.last)) {
    const block = new IdBlockBuilder(run.tableId, run.count);
    for (const m of run.members) m.plan.block = block;
    return;
  }
  if (run.members.length === 1) return;
  for (const { plan, span } of run.members) {
    if (await lanes.claim(span.lane, span.first, span.last)) plan.block = new IdBlockBuilder(run.tableId, span.count);
  }
}

/**
 * The lane and range of the ids of `r` that go to a block: every record's
 * but those of primary-key upserts (fresh keys count: they are new records).
 * Undefined when there are none (a batch of upserts), or when they are of
 * several lanes or do not strictly increase (per-record entries). Leaves
 * the reader rewound.
 */
function idSpanOf(r: RecordBatchReader): IdSpan | undefined {
  const fresh = r.freshKeys;
  let lane = -1;
  // Offsets of the first and previous ids: compared in place, a bigint only for the two ends.
  let first = -1;
  let prev = -1;
  let count = 0;
  let ok = true;
  while (ok && r.next()) {
    if (r.pkLen > 0 && !fresh) continue;
    const at = r.idOffset;
    if (lane < 0) {
      lane = idLaneAt(r.buf, at);
      first = at;
    } else ok = idLaneAt(r.buf, at) === lane && idBefore(r.buf, prev, at);
    prev = at;
    count++;
  }
  r.rewind();
  if (!ok || lane < 0) return undefined;
  return { lane, first: r.buf.readBigUInt64BE(first), last: r.buf.readBigUInt64BE(prev), count };
}
