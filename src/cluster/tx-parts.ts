/**
 * The two-phase commit parts of a cluster node (tx/), started as parts of its
 * lifecycle: the decision store (etcd), the concluder that deletes
 * decisions every replica applied, the resolver of batches left pending
 * here, and the leader's sweeper. What the coordinator and the status page
 * need from them.
 */
import type { Etcd3 } from 'etcd3';
import type { Logger } from 'pino';
import type { NodeConfig } from '../config.ts';
import type { Catalog } from '../storage/catalog.ts';
import type { LocalStore } from '../storage/local-store.ts';
import type { Lifecycle } from './lifecycle.ts';
import type { EtcdKeys } from './metadata/etcd-keys.ts';
import type { Placement } from './placement/placement.ts';
import type { ReplicaTransport } from './transport/replica-transport.ts';
import { TxConcluder } from './tx/tx-concluder.ts';
import { TxDecisions } from './tx/tx-decisions.ts';
import { TxResolver, type ResolutionResult } from './tx/tx-resolver.ts';
import { TxSweeper, type SweepReport } from './tx/tx-sweeper.ts';

/** How often the resolver looks at the pending table. */
const RESOLVE_INTERVAL_MS = 1_000;

/** How often concluded decisions are deleted from etcd, in one transaction each time (and COMMITs confirmed durable first). */
const CONCLUDE_FLUSH_MS = 200;

/** Observers for metrics. */
export interface TxHooks {
  readonly onTxResolved?: (result: ResolutionResult) => void;
  readonly onTxSwept?: (report: SweepReport) => void;
}

/** The running two-phase commit parts. */
export interface TxParts {
  readonly decisions: TxDecisions;
  readonly concluder: TxConcluder;
  readonly resolver: TxResolver;
  readonly sweeper: TxSweeper;
}

/** What the parts are built from. */
export interface TxPartsDeps {
  readonly config: NodeConfig;
  readonly client: Etcd3;
  readonly keys: EtcdKeys;
  readonly store: LocalStore;
  readonly catalog: Catalog;
  readonly transport: ReplicaTransport;
  readonly placement: () => Placement;
  readonly isLeader: () => boolean;
  readonly hooks: TxHooks;
  readonly log: Logger;
}

/** Starts the parts in `life` (stopped in reverse with the rest of the node). */
export async function startTxParts(life: Lifecycle, d: TxPartsDeps): Promise<TxParts> {
  const { config, log } = d;
  const decisions = new TxDecisions(d.client, d.keys, { timeoutMs: config.txDecisionTimeoutMs, fenceTtlMs: config.txDoneRetentionMs });
  const status = async (node: string, txids: readonly bigint[]): Promise<Map<bigint, string>> => {
    const reply = await d.transport.call(node, 'TxStatus', { txids: txids.map(String) }, config.replicaTimeoutMs);
    return new Map(reply.states.map((s) => [BigInt(s.txid), s.state]));
  };
  const concluder = await life.add('tx-concluder', () => new TxConcluder(decisions, log, CONCLUDE_FLUSH_MS, status), (c) => c.stop());
  const resolver = await life.add(
    'tx-resolver',
    () => {
      const r = new TxResolver({
        nodeId: config.nodeId,
        store: d.store,
        catalog: d.catalog,
        decisions,
        transport: d.transport,
        placement: d.placement,
        resolveAfterMs: config.txResolveAfterMs,
        intervalMs: Math.min(RESOLVE_INTERVAL_MS, config.txResolveAfterMs),
        replicaTimeoutMs: config.replicaTimeoutMs,
        maxClockOffsetMs: config.maxClockOffsetMs,
        log,
        ...(d.hooks.onTxResolved ? { onResolved: d.hooks.onTxResolved } : {}),
      });
      r.start();
      return r;
    },
    (r) => r.stop(),
  );
  const sweeper = await life.add(
    'tx-sweeper',
    () => {
      const s = new TxSweeper({
        nodeId: config.nodeId,
        decisions,
        transport: d.transport,
        placement: d.placement,
        catalog: d.catalog,
        isLeader: d.isLeader,
        intervalMs: config.txSweepIntervalMs,
        // Past the PREPARE deadline, with room for clocks that disagree by the offset bound either way.
        settleMs: config.txCommitDeadlineMs + 2 * config.maxClockOffsetMs,
        replicaTimeoutMs: config.replicaTimeoutMs,
        log,
        ...(d.hooks.onTxSwept ? { onSwept: d.hooks.onTxSwept } : {}),
      });
      s.start();
      return s;
    },
    (s) => s.stop(),
  );
  return { decisions, concluder, resolver, sweeper };
}
