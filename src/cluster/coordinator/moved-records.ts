/**
 * Records of a merged quorum page that some replica's page did not hold,
 * checked by id on those replicas. An upsert can move a record to another
 * time key, outside the range or past the page the replicas that took it
 * returned. A replica that missed the upsert is then the only one to
 * return the old version here, and the merge, which keeps the newest
 * version per id among the pages it got, cannot tell that it is old. A
 * record that a lacking replica holds at a newer version, wherever that
 * is, is dropped: its newer version belongs elsewhere. Only records the
 * replicas disagree on cost a read.
 */
import { versionOf } from '../../core/codec/record-batch-v1.ts';
import { isSluiceError } from '../../core/errors.ts';
import { recordKeyId } from '../../storage/index/key-layout.ts';
import type { WireRecord } from '../transport/replica-messages.ts';

/** One replica's page of a quorum read. */
export interface ReplicaPage {
  readonly node: string;
  readonly records: readonly WireRecord[];
  /** The replica returned as many records as it was asked for: it may not have reached records past its last. */
  readonly full: boolean;
}

/** Reads one record by id on one replica (undefined: absent); rejects when the read failed. */
export type GetOnReplica = (node: string, id: bigint) => Promise<WireRecord | undefined>;

/**
 * `merged` without the records a replica that lacked them holds at a newer
 * version; how many were dropped. A Get that fails counts as not holding
 * one, except STALE_PLACEMENT, which ends the read: the ring switched since
 * the pages were read, and the caller reads again on the new one.
 */
export async function withoutMoved(pages: readonly ReplicaPage[], merged: readonly WireRecord[], get: GetOnReplica): Promise<{ records: WireRecord[]; dropped: number }> {
  if (pages.length < 2) return { records: [...merged], dropped: 0 };
  const held = pages.map((p) => ({ page: p, ids: new Set(p.records.map((r) => recordKeyId(r[0]))), last: p.records.at(-1)?.[0] }));
  const superseded = await Promise.all(
    merged.map(async (m) => {
      const id = recordKeyId(m[0]);
      // A full page that ends before this record may simply not have reached it.
      const lackers = held.filter((h) => !h.ids.has(id) && !(h.page.full && h.last !== undefined && Buffer.compare(m[0], h.last) > 0));
      if (lackers.length === 0) return false;
      const found = await Promise.all(lackers.map((h) => get(h.page.node, id).catch((err: unknown) => (isSluiceError(err, 'STALE_PLACEMENT') ? Promise.reject(err) : undefined))));
      return found.some((r) => r !== undefined && versionOf(r[1]) > versionOf(m[1]));
    }),
  );
  const records = merged.filter((_, i) => !superseded[i]);
  return { records, dropped: merged.length - records.length };
}
