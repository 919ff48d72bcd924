/**
 * The payloads of prepared atomic batches the index has applied and not
 * yet seen decided. Most are decided within milliseconds, so they are kept
 * here, in memory, and never written to the index: writing each one under
 * `T | txid` and deleting it at its COMMIT cost a large LSM put and delete
 * per batch and replica (the cluster bench's atomic loads, decision 17).
 *
 * What makes that safe after a crash is the replay floor: every apply
 * commit also records the LSN of the oldest PREPARE held here only, and
 * recovery replays the WAL from that floor (or the checkpoint, whichever
 * is older), which rebuilds these payloads; the WAL is never released past
 * the floor. A batch still undecided at an index sync is spilled: written
 * under `T | txid` so the floor can move on and the WAL go. Memory is
 * bounded by --tx-pending-bytes-max (a PREPARE past it is refused).
 */

interface Held {
  readonly payload: Uint8Array;
  /** LSN of its PREPARE frame. */
  readonly lsn: bigint;
  /** Written to the index under `T | txid`. */
  spilled: boolean;
}

/** Prepared payloads by txid, with the replay floor they imply. */
export class StagedPayloads {
  private readonly byTxid = new Map<bigint, Held>();

  /** Holds a prepared payload (a PREPARE replayed again keeps the first). */
  add(txid: bigint, payload: Uint8Array, lsn: bigint): void {
    if (!this.byTxid.has(txid)) this.byTxid.set(txid, { payload, lsn, spilled: false });
  }

  /** Removes and returns what is held for `txid` (its outcome is being applied). */
  take(txid: bigint): { readonly payload: Uint8Array; readonly spilled: boolean } | undefined {
    const held = this.byTxid.get(txid);
    this.byTxid.delete(txid);
    return held;
  }

  /** The LSN recovery must replay from so that every payload held only here comes back; undefined when none is. */
  get floor(): bigint | undefined {
    let floor: bigint | undefined;
    for (const h of this.byTxid.values()) if (!h.spilled && (floor === undefined || h.lsn < floor)) floor = h.lsn;
    return floor;
  }

  /** Payloads held only here, by txid (what a spill writes). */
  unspilled(): [bigint, Uint8Array][] {
    return [...this.byTxid].filter(([, h]) => !h.spilled).map(([txid, h]) => [txid, h.payload]);
  }

  /** These payloads are now in the index. */
  markSpilled(txids: readonly bigint[]): void {
    for (const txid of txids) {
      const held = this.byTxid.get(txid);
      if (held !== undefined) held.spilled = true;
    }
  }
}
