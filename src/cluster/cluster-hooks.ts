/** Hooks the node wires to metrics: the cluster layer never imports the API layer. */
import type { SnowflakeGenerator } from '../core/snowflake.ts';
import type { PeerState } from './membership/failure-detector.ts';
import type { RepairReport } from './repair/anti-entropy.ts';
import type { TxOutcomeLabel } from './coordinator/atomic-writer.ts';
import type { TxHooks } from './tx-parts.ts';
import type { PeerRefusal } from './transport/peer-auth.ts';
import type { ReloadObserver } from '../security/tls/cert-reloader.ts';

/** Observers of the cluster parts, by event. */
export interface ClusterHooks extends TxHooks {
  readonly onPeerState?: (peer: string, state: PeerState) => void;
  readonly onHinted?: (peer: string, records: number) => void;
  readonly onHintsReplayed?: (batches: number) => void;
  readonly onReadRepair?: (peer: string, records: number) => void;
  readonly onRepaired?: (report: RepairReport) => void;
  /** A write applied on this replica (records, table, the client request id when the coordinator passed one). */
  readonly onReplicaWrite?: (records: number, table: string, requestId?: string) => void;
  /** An atomic batch's part prepared (staged, fsync'd) on this replica: records, table, txid, the client request id when passed. */
  readonly onReplicaPrepare?: (records: number, table: string, txId: string, requestId?: string) => void;
  readonly onClockEvent?: ConstructorParameters<typeof SnowflakeGenerator>[0]['onClockEvent'];
  readonly onTx?: (outcome: TxOutcomeLabel, phaseMs: { prepare?: number; decide?: number; commit?: number }) => void;
  readonly onSnapshotWait?: (ms: number) => void;
  /** A call refused on the peer port (reported at most once per caller address and reason every 10 s): for the audit log. */
  readonly onPeerRefused?: (refusal: PeerRefusal) => void;
  /** Reports of the peer certificates' reloader (listener `peer`): for metrics, the audit log and expiry warnings. */
  readonly peerTls?: ReloadObserver;
}

