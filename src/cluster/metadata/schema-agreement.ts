/**
 * Schema agreement (Cassandra's schema agreement, Elasticsearch's
 * acknowledged cluster-state updates): a table change answered on one node
 * says whether every live node has loaded the new version.
 *
 * Each node reports what it loaded of a table under `loaded/<table>/<node>`
 * (`{"id", "version"}`) once its catalog installed it (watch, reread, or its
 * own change): one etcd put per table change per node, off the write path.
 * Puts of one table are serialized, each sending what the catalog holds
 * when it starts, so a slow put never overwrites a newer report.
 *
 * The node that made a change polls `nodes/` (registrations under each
 * node's lease: the live nodes) and `loaded/<table>/` until every live node
 * reports the table's id at that version or later, or the bound passes.
 * It never fails the change etcd already took: an etcd error while waiting
 * counts as "not acknowledged". A node of an earlier release reports
 * nothing, so it stays named until it is upgraded.
 */
import type { Etcd3 } from 'etcd3';
import type { Logger } from 'pino';
import { SCHEMA_AGREEMENT_POLL_MS } from '../../config.ts';
import { currentDef, type Catalog, type TableEntry } from '../../storage/catalog.ts';
import type { EtcdKeys } from './etcd-keys.ts';

/** The answer of a table change about the other nodes. */
export interface Agreement {
  /** Every live node had loaded the change (or a later version) when the answer was made. */
  readonly acknowledged: boolean;
  /** Live nodes that had not, sorted (empty when acknowledged, or when etcd could not be read). */
  readonly pendingNodes: string[];
}

/** What a node reports having loaded of one table. */
interface Loaded {
  readonly id: number;
  readonly version: number;
}

/** One table's report: a put under way, and whether another must follow it. */
interface ReportState {
  again: boolean;
}

/** This node's reports of loaded table versions, and the wait for every live node's. */
export class SchemaAgreement {
  private readonly client: Etcd3;
  private readonly keys: EtcdKeys;
  private readonly nodeId: string;
  private readonly catalog: Catalog;
  private readonly log: Logger;
  private readonly reporting = new Map<string, ReportState>();

  constructor(client: Etcd3, keys: EtcdKeys, nodeId: string, catalog: Catalog, log: Logger) {
    this.client = client;
    this.keys = keys;
    this.nodeId = nodeId;
    this.catalog = catalog;
    this.log = log;
  }

  /** Reports what the catalog holds of `name` now (after an install); never throws. */
  report(name: string): void {
    const state = this.reporting.get(name);
    if (state !== undefined) {
      state.again = true;
      return;
    }
    const fresh: ReportState = { again: false };
    this.reporting.set(name, fresh);
    void this.putLoop(name, fresh);
  }

  private async putLoop(name: string, state: ReportState): Promise<void> {
    try {
      do {
        state.again = false;
        const entry = this.catalog.get(name);
        if (entry === undefined) return;
        const loaded: Loaded = { id: entry.id, version: currentDef(entry).version };
        await this.client.put(this.keys.loaded(name, this.nodeId)).value(JSON.stringify(loaded));
      } while (state.again);
    } catch (err) {
      // Not fatal: the node is only named as not acknowledged until its next report.
      this.log.warn({ event: 'schema_report_failed', table: name, err: (err as Error).message }, 'cannot report the loaded table version to etcd');
    } finally {
      this.reporting.delete(name);
    }
  }

  /** Waits up to `waitMsMax` for every live node to report `entry`'s current version of `name`; never throws. */
  async await(name: string, entry: TableEntry, waitMsMax: number): Promise<Agreement> {
    const target: Loaded = { id: entry.id, version: currentDef(entry).version };
    const deadline = Date.now() + waitMsMax;
    let pending: string[] | undefined;
    for (;;) {
      try {
        pending = await this.pending(name, target);
      } catch (err) {
        this.log.warn({ event: 'schema_agreement_read_failed', table: name, err: (err as Error).message }, 'cannot read the nodes\' loaded table versions');
      }
      if (pending !== undefined && pending.length === 0) return { acknowledged: true, pendingNodes: [] };
      const leftMs = deadline - Date.now();
      if (leftMs <= 0) return { acknowledged: false, pendingNodes: pending ?? [] };
      await new Promise((r) => setTimeout(r, Math.min(SCHEMA_AGREEMENT_POLL_MS, leftMs)));
    }
  }

  /** Live nodes whose report is not `target` or later (this node: its own catalog, which installed the change). */
  private async pending(name: string, target: Loaded): Promise<string[]> {
    const [live, reports] = await Promise.all([
      this.client.getAll().prefix(this.keys.nodes).keys(),
      this.client.getAll().prefix(this.keys.loadedTable(name)).strings(),
    ]);
    const loaded = new Map<string, Loaded>();
    for (const [key, json] of Object.entries(reports)) loaded.set(key.slice(this.keys.loadedTable(name).length), parseLoaded(json));
    const mine = this.catalog.get(name);
    if (mine !== undefined) loaded.set(this.nodeId, { id: mine.id, version: currentDef(mine).version });
    const ids = live.map((key) => key.slice(this.keys.nodes.length));
    return ids.filter((id) => !reaches(loaded.get(id), target)).sort();
  }
}

function reaches(loaded: Loaded | undefined, target: Loaded): boolean {
  return loaded !== undefined && loaded.id === target.id && loaded.version >= target.version;
}

/** A report, or one that matches nothing when it is not one (a key written by hand). */
function parseLoaded(json: string): Loaded {
  try {
    const v = JSON.parse(json) as Partial<Loaded>;
    if (typeof v.id === 'number' && typeof v.version === 'number') return { id: v.id, version: v.version };
  } catch {
    // Falls through.
  }
  return { id: -1, version: -1 };
}
