/**
 * A cluster read by id. An id does not name its shard, so the read asks
 * every node, enough of them to cover R replicas of any shard, takes the
 * newest version among the answers (last-writer-wins), and pushes it back
 * to the replicas of its shard that lacked it (read repair). A record that
 * a newer write of its primary key superseded under another id is answered
 * as a single node answers it: not at all.
 */
import { compareStoredRecords, compareWrites, type StoredWrite } from '../../core/last-writer-wins.ts';
import { versionOf } from '../../core/codec/record-batch-v1.ts';
import { SluiceError, isSluiceError } from '../../core/errors.ts';
import { currentDef, type TableEntry } from '../../storage/catalog.ts';
import { recordKeyId } from '../../storage/index/key-layout.ts';
import type { Placement } from '../placement/placement.ts';
import { storedRecordOf } from '../repair/record-batches.ts';
import type { GetReply, ReplicaMethods, WireRecord } from '../transport/replica-messages.ts';
import type { ReplicaTransport } from '../transport/replica-transport.ts';
import type { ReadOptions, ReadRecord } from './coordinator.ts';
import type { Delivery } from './delivery.ts';
import { nodesForUnroutedRead } from './quorum-verdict.ts';
import type { ReplicaAnswer } from './quorum-reads.ts';
import { decodeClusterToken, lsnFor } from './read-token.ts';

/** A read RPC to one replica (the cluster reader's, which sizes its deadline). */
export type ReadCall = <M extends 'Get' | 'Scan' | 'ScanShard'>(node: string, method: M, request: ReplicaMethods[M][0]) => Promise<ReplicaMethods[M][1]>;

/** Sends records a replica lacked back to it, in the background (the cluster reader's read repair). */
export type ReadRepair = (entry: TableEntry, targets: readonly string[], records: readonly WireRecord[], holders: readonly string[]) => void;

export interface ReadByIdDeps {
  readonly transport: ReplicaTransport;
  readonly delivery: Delivery;
  readonly replicaTimeoutMs: number;
  readonly call: ReadCall;
  readonly repair: ReadRepair;
}

/** Reads by id on the replicas of one placement (the caller routes them: STALE_PLACEMENT is thrown to it). */
export class ReadById {
  private readonly d: ReadByIdDeps;

  constructor(deps: ReadByIdDeps) {
    this.d = deps;
  }

  /** `getById` on the replicas of one placement. */
  async read(placement: Placement, entry: TableEntry, id: bigint, options: ReadOptions): Promise<ReadRecord | undefined> {
    const token = decodeClusterToken(options.token);
    const rf = currentDef(entry).replicationFactor;
    // An id does not name its shard: ask every node, enough of them to cover R replicas of any shard.
    const need = nodesForUnroutedRead(placement.nodes.length, rf, options.consistency ?? 'quorum');
    const answers = await this.getAnswers(placement, entry, id, token, asOfField(options.asOf), need);
    const found = answers.flatMap((a) => (a.reply.record === undefined ? [] : [{ node: a.node, record: a.reply.record }]));
    if (found.length === 0) return undefined;
    // Last writer wins as the index decides it, ties included: the same answer whichever replica answered first.
    const best = found.reduce((a, b) => (compareStoredRecords(b.record, a.record) > 0 ? b : a));
    // A replica that holds another record at the same version (a tie it never saw the other side of) is repaired too.
    const holders = new Set(found.filter((f) => compareStoredRecords(f.record, best.record) === 0).map((f) => f.node));
    const shard = best.record[0].readUInt16BE(1);
    const owners = placement.replicas(shard, rf);
    const lacking = owners.filter((n) => answers.some((a) => a.node === n && a.reply.record === undefined));
    const newer = lacking.length > 0 ? await this.superseded(placement, entry, best.record, lacking, options.asOf) : undefined;
    if (newer !== undefined) {
      // The replicas that answered with the old record missed the write that superseded it: they get that write.
      this.repairSuperseded(placement, entry, newer, owners.filter((n) => found.some((f) => f.node === n)));
      return undefined;
    }
    this.d.repair(entry, owners.filter((n) => answers.some((a) => a.node === n) && !holders.has(n)), [best.record], [best.node, ...[...holders].filter((n) => n !== best.node)]);
    return readRecordOf(best.record);
  }

  /**
   * The nodes' answers to a Get of `id`, in two rounds: first the nodes the
   * detector believes alive and those the token names (they hold the
   * write); then, when those held no record or were fewer than `need`, the
   * others. Suspected nodes are asked last, never skipped: one the detector
   * wrongly suspects (a lapsed lease, a late health check) may be the only
   * holder of a record written at W=1; asked first, a paused one would hold
   * every read for the RPC deadline, not only a miss.
   */
  private async getAnswers(placement: Placement, entry: TableEntry, id: bigint, token: ReadonlyMap<string, string> | undefined, asOf: { asOf?: string }, need: number): Promise<ReplicaAnswer<GetReply>[]> {
    const ask = (nodes: readonly string[]) =>
      Promise.allSettled(nodes.map(async (node) => ({ node, reply: await this.d.call(node, 'Get', { tableId: entry.id, id: String(id), ...lsnFor(token, node), ...asOf, epoch: placement.epoch }) })));
    const first = placement.nodes.filter((node) => this.d.delivery.isUp(node) || token?.has(node) === true);
    const later = placement.nodes.filter((node) => !first.includes(node));
    let settled = await ask(first);
    const fulfilled = (): ReplicaAnswer<GetReply>[] => settled.flatMap((s) => (s.status === 'fulfilled' ? [s.value] : []));
    const staleFirst = settled.some((s) => s.status === 'rejected' && isSluiceError(s.reason, 'STALE_PLACEMENT'));
    const missed = fulfilled().every((a) => a.reply.record === undefined);
    if (later.length > 0 && !staleFirst && (missed || fulfilled().length < need)) settled = [...settled, ...(await ask(later))];
    // A node that follows a newer ring: the nodes asked are not the ones that hold the record now.
    const stale = settled.find((s) => s.status === 'rejected' && isSluiceError(s.reason, 'STALE_PLACEMENT'));
    if (stale?.status === 'rejected') throw stale.reason;
    // A snapshot the replicas could not serve (an undecided batch below it) fails the read, not "not found".
    const refused = settled.find((s) => s.status === 'rejected' && isSluiceError(s.reason, 'READ_TIMEOUT'));
    if (refused?.status === 'rejected' && asOf.asOf !== undefined) throw refused.reason;
    const answers = fulfilled();
    if (answers.length < need) {
      // Nodes that refused the snapshot as ahead of their clocks answered: say why (decision 52), not that they did not.
      const skew = settled.find((s) => s.status === 'rejected' && isSluiceError(s.reason, 'CLOCK_SKEW'));
      const cause = skew?.status === 'rejected' && isSluiceError(skew.reason) ? skew.reason : undefined;
      throw new SluiceError(cause?.code ?? 'NO_QUORUM', `${answers.length} of ${need} required nodes answered${cause === undefined ? '' : `: ${cause.message}`}`, cause?.details ?? []);
    }
    return answers;
  }

  /**
   * The write on one of `nodes` (replicas of the record's shard that
   * answered without it) of its primary key under another id at a newer
   * version (at most `asOf`), if any: a write that superseded it, whose
   * apply deleted the record there as it does on a single node
   * (last-writer-wins, decision 52). The replicas still holding it missed
   * that write. A replica that does not answer counts as not holding one:
   * the record is answered, as before.
   */
  private async superseded(placement: Placement, entry: TableEntry, record: WireRecord, nodes: readonly string[], asOf: bigint | undefined): Promise<{ node: string; id: bigint } | undefined> {
    let pk: string | undefined;
    try {
      pk = storedRecordOf(entry, record).pk;
    } catch {
      // Fields this node cannot read (a schema version it has not loaded): no key to look up.
      return undefined;
    }
    if (pk === undefined) return undefined;
    const mine: StoredWrite = { version: versionOf(record[1]), id: recordKeyId(record[0]), recordKey: record[0] };
    const shard = record[0].readUInt16BE(1);
    const request = { tableId: entry.id, shard, pks: [pk], epoch: placement.epoch };
    const settled = await Promise.allSettled(nodes.map((node) => this.d.transport.call(node, 'LookupPks', request, this.d.replicaTimeoutMs)));
    // The ring switched since the Get: the read is made again by the new one (routed).
    const stale = settled.find((s) => s.status === 'rejected' && isSluiceError(s.reason, 'STALE_PLACEMENT'));
    if (stale?.status === 'rejected') throw stale.reason;
    for (const [i, s] of settled.entries()) {
      const found = s.status === 'fulfilled' ? s.value.entries[0] : undefined;
      if (found === null || found === undefined) continue;
      const other = { version: BigInt(found[1]), id: BigInt(found[0]), recordKey: record[0] };
      // Same id: the same record at another version, which the Get would have answered. Ids differ: no value needed.
      if (other.id !== mine.id && (asOf === undefined || other.version <= asOf) && compareWrites(other, mine) > 0) return { node: nodes[i] as string, id: other.id };
    }
    return undefined;
  }

  /**
   * Read repair of a superseded record, in the background: the record
   * under the newer id, read from the replica that holds it, goes to
   * `targets` (the replicas still holding the old one), whose apply of it
   * deletes the old record as the original write would have. Nothing
   * read (the holder moved on or is gone): hints or anti-entropy repair it.
   */
  private repairSuperseded(placement: Placement, entry: TableEntry, newer: { node: string; id: bigint }, targets: readonly string[]): void {
    if (targets.length === 0) return;
    void this.d.call(newer.node, 'Get', { tableId: entry.id, id: String(newer.id), epoch: placement.epoch })
      .then(({ record }) => {
        if (record !== undefined) this.d.repair(entry, targets, [record], [newer.node]);
      })
      .catch(() => undefined);
  }
}

/** The client-facing form of a wire record. */
export function readRecordOf([recordKey, value]: WireRecord): ReadRecord {
  return { id: recordKeyId(recordKey), value };
}

/** The `asOf` field of a read request for a snapshot (none without one). */
export function asOfField(asOf: bigint | undefined): { asOf?: string } {
  return asOf === undefined ? {} : { asOf: String(asOf) };
}
