/**
 * A DecisionStore in memory for the in-process cluster tests: the same
 * create-if-absent rules as the etcd one (tx-decisions.ts), a registration
 * that can be revoked (a coordinator that lost its lease), and etcd being
 * unreachable (every call rejects) or slow.
 */
import { SluiceError } from '../../src/core/errors.ts';
import type { CommitAttempt, DecisionStore, TxDecision, TxParts } from '../../src/cluster/tx/tx-decisions.ts';

/** Decisions in a Map. */
export class MemoryDecisions implements DecisionStore {
  readonly decisions = new Map<bigint, TxDecision>();
  /** Registrations that still hold, by key → create revision. */
  readonly registrations = new Map<string, string>();
  /** etcd cannot be reached: every call rejects. */
  down = false;
  /** Every call waits this long first. */
  delayMs = 0;
  /** Calls made, by kind. */
  readonly calls = { read: 0, commit: 0, fence: 0, conclude: 0, list: 0 };

  async read(txid: bigint): Promise<TxDecision | undefined> {
    await this.gate('read');
    return this.decisions.get(txid);
  }

  async commit(txid: bigint, decision: TxDecision & { s: 'commit' }, registration: { key: string; createRevision: string }): Promise<CommitAttempt> {
    await this.gate('commit');
    const have = this.decisions.get(txid);
    if (have !== undefined || this.registrations.get(registration.key) !== registration.createRevision) return { committed: false, decision: have };
    this.decisions.set(txid, decision);
    return { committed: true };
  }

  async fence(txid: bigint, parts: TxParts): Promise<TxDecision> {
    await this.gate('fence');
    const have = this.decisions.get(txid);
    if (have !== undefined) return have;
    const fence: TxDecision = { s: 'abort', tableId: parts.tableId, shards: [...parts.shards], at: Date.now() };
    this.decisions.set(txid, fence);
    return fence;
  }

  async conclude(txids: readonly bigint[]): Promise<void> {
    await this.gate('conclude');
    for (const txid of txids) this.decisions.delete(txid);
  }

  async list(): Promise<{ txid: bigint; decision: TxDecision }[]> {
    await this.gate('list');
    return [...this.decisions].map(([txid, decision]) => ({ txid, decision }));
  }

  private async gate(kind: keyof MemoryDecisions['calls']): Promise<void> {
    this.calls[kind]++;
    if (this.delayMs > 0) await new Promise((resolve) => setTimeout(resolve, this.delayMs));
    if (this.down) throw new SluiceError('NO_QUORUM', 'etcd is unreachable (test)');
  }
}
