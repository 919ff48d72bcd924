/**
 * The participant side of atomic batches on the Replica service: PREPARE
 * stages this replica's part durably (answered after the fsync, with the
 * replica's HLC prepare time `pt`); COMMIT and ABORT append the outcome
 * (the index applies it in order): ABORT is answered after the fsync,
 * COMMIT as soon as it is claimed over a durable PREPARE (`durable: false`;
 * plain reads here wait for it to be applied); TxStatus says
 * what this replica knows of a batch, for resolvers and the sweeper.
 *
 * A PREPARE is refused when it was routed by an older placement epoch
 * (STALE_PLACEMENT), when it arrives past the coordinator's decision
 * deadline (the coordinator has given up, and the sweeper may be deleting
 * the decision), or when this replica already knows the outcome.
 */
import { RecordBatchReader } from '../../core/codec/record-batch-v1.ts';
import { SluiceError } from '../../core/errors.ts';
import { failpoint } from '../../core/failpoint.ts';
import { hlcFromParts, type Hlc } from '../../core/hlc.ts';
import type { Catalog } from '../../storage/catalog.ts';
import type { LocalStore } from '../../storage/local-store.ts';
import type { ReplicaHandlers } from '../transport/replica-transport.ts';
import type { TxStatusEntry } from '../transport/replica-messages.ts';

export interface TxEndpointDeps {
  readonly store: LocalStore;
  readonly catalog: Catalog;
  readonly hlc: Hlc;
  readonly reloadTables: () => Promise<void>;
  /** This node's placement epoch. */
  readonly epoch: () => number;
  /** A restarted replica prepares above its start time plus the clock offset bound. */
  readonly startedAtMs: number;
  readonly maxClockOffsetMs: number;
  /** Holds a PREPARE's bytes in the replica's memory budget until its frame is indexed. */
  readonly admit: (bytes: number) => Promise<() => void>;
  /** Told of each durable PREPARE: its records, table, txid and the client request it came from (the audit's replica_prepare). */
  readonly onPrepared?: (records: number, table: string, txId: string, requestId?: string) => void;
}

/** The Prepare, Commit, Abort and TxStatus handlers. */
export function txHandlers(deps: TxEndpointDeps): Pick<ReplicaHandlers, 'Prepare' | 'Commit' | 'Abort' | 'TxStatus'> {
  const { store } = deps;
  // CockroachDB's low-water mark after a restart: no prepare time at or below
  // a snapshot this replica may have served before it crashed.
  const ptFloor = hlcFromParts(deps.startedAtMs + deps.maxClockOffsetMs, 0);
  return {
    async Prepare({ txid, epoch, deadlineMs, coordinator, shards, batch, requestId }) {
      if (epoch < deps.epoch()) throw new SluiceError('STALE_PLACEMENT', `the atomic batch was routed by placement epoch ${epoch}; this replica follows ${deps.epoch()}`);
      if (Date.now() > deadlineMs) throw new SluiceError('TX_ABORTED', `atomic batch ${txid} arrived past its coordinator's deadline`);
      const reader = new RecordBatchReader(batch);
      const tableId = reader.tableId;
      if (deps.catalog.byId(tableId) === undefined) {
        await deps.reloadTables();
        if (deps.catalog.byId(tableId) === undefined) throw new SluiceError('TABLE_NOT_FOUND', `table id ${tableId} is unknown here`);
      }
      const release = await deps.admit(batch.length);
      // The prepare time is taken as the batch enters the pending table (tx-log.ts), not before an await.
      const choosePt = (): bigint => {
        const pt = deps.hlc.now();
        return pt < ptFloor ? deps.hlc.update(ptFloor) : pt;
      };
      const { lsn, pt } = await store.prepareTx({ txid: BigInt(txid), epoch, deadlineMs, coordinator, shards }, batch, choosePt, release);
      failpoint('part.after-prepare-fsync');
      deps.onPrepared?.(reader.count, deps.catalog.byId(tableId)?.name ?? String(tableId), txid, requestId);
      return { lsn: String(lsn), pt: String(pt) };
    },

    async Commit({ txid, cv }) {
      // Answered once claimed over a durable PREPARE (durable: false), not after the COMMIT's own
      // fsync: that second WAL round was most of an atomic batch's latency (decision 17).
      const { lsn, durable } = await store.commitTx(BigInt(txid), BigInt(cv), true);
      return { lsn: String(lsn), durable };
    },

    async Abort({ txid }) {
      const state = await store.txState(BigInt(txid));
      if (state.state === 'aborted') return { lsn: String(store.lastAckedLsn) };
      const lsn = await store.abortTx(BigInt(txid));
      return { lsn: String(lsn) };
    },

    async TxStatus({ txids }) {
      const states: TxStatusEntry[] = [];
      for (const txid of txids) {
        const s = await store.txState(BigInt(txid));
        if (s.state === 'committed') states.push({ txid, state: 'committed', cv: String(s.cv) });
        else states.push({ txid, state: s.state });
      }
      return { states };
    },
  };
}
