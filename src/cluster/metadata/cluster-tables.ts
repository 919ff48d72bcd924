/**
 * The cluster catalog: table definitions live in etcd (`tables/<name>`),
 * so every node agrees on each table's id and schema versions. A change is
 * an etcd transaction (create-if-absent for a new name and id, CAS on the
 * mod revision for a schema change); every node installs it into its local
 * catalog through a watch, and a replica that meets an unknown table id
 * reloads before refusing. Each install is reported for schema agreement
 * (`schema-agreement.ts`) when the node has an id.
 */
import type { Etcd3 } from 'etcd3';
import type { Logger } from 'pino';
import { SluiceError } from '../../core/errors.ts';
import type { TableDef } from '../../core/schema/table-def.ts';
import type { TableLimits } from '../../core/schema/table-limits.ts';
import { currentDef, withLimits, type Catalog, type TableEntry } from '../../storage/catalog.ts';
import type { EtcdKeys } from './etcd-keys.ts';
import { SchemaAgreement, type Agreement } from './schema-agreement.ts';

/** Table changes, local or cluster-wide. */
export interface TableAdmin {
  /** Creates a table, with its limits if any; TABLE_EXISTS when the name is taken. */
  create(def: TableDef, nowMs: number, limits?: TableLimits): Promise<TableEntry>;
  /** Adds the schema version `evolve` derives from the current one. */
  evolve(name: string, evolve: (current: TableDef) => TableDef): Promise<TableEntry>;
  /** Replaces the table's limits with what `update` derives from the current ones (no new schema version). */
  setLimits(name: string, update: (current: TableLimits) => TableLimits): Promise<TableEntry>;
  /** Brings this node's catalog up to the source of truth (etcd in a cluster; a single node's is it already). */
  refresh(): Promise<void>;
  /**
   * Brings one table up to the source of truth, with a read that starts
   * after the call (so it sees every change acknowledged before it): a
   * write refused under a schema version this node may be behind on.
   */
  refreshTable(name: string): Promise<void>;
  /**
   * Waits up to `waitMsMax` for every live node to have loaded `entry` (just
   * created or changed) and says whether all did; never throws. Absent: this
   * node is the only copy (acknowledged at once).
   */
  agreement?(name: string, entry: TableEntry, waitMsMax: number): Promise<Agreement>;
}

/** An etcd read of one table under way, and the one that waits for it to end. */
interface TableReads {
  running: Promise<void> | undefined;
  queued: Promise<void> | undefined;
}

/** Attempts at a transaction that lost a race before giving up. */
const CAS_ATTEMPTS = 10;

/** Table changes through etcd, mirrored into the local catalog. */
export class ClusterTables implements TableAdmin {
  private readonly client: Etcd3;
  private readonly keys: EtcdKeys;
  readonly catalog: Catalog;
  private readonly log: Logger;
  private watcher: { cancel(): Promise<void> } | undefined;
  /** Per table, the etcd read under way and the one queued behind it (refreshTable). */
  private readonly tableReads = new Map<string, TableReads>();
  /** Reports of what this node loaded, and the wait for the others' (undefined without a node id: nothing reported). */
  private readonly agreements: SchemaAgreement | undefined;

  constructor(client: Etcd3, keys: EtcdKeys, catalog: Catalog, log: Logger, nodeId?: string) {
    this.client = client;
    this.keys = keys;
    this.catalog = catalog;
    this.log = log;
    this.agreements = nodeId === undefined ? undefined : new SchemaAgreement(client, keys, nodeId, catalog, log);
  }

  /** Publishes the built-in tables, loads every table, and follows changes. */
  async start(): Promise<void> {
    for (const entry of this.catalog.list()) {
      // Built-ins have the same id on every node; publish them once.
      await this.client.if(this.keys.table(entry.name), 'Create', '==', 0).then(...this.putOps(entry)).commit();
    }
    const watcher = await this.client.watch().prefix(this.keys.tables).create();
    this.watcher = watcher;
    watcher.on('put', (kv) => {
      const entry = JSON.parse(kv.value.toString('utf8')) as TableEntry;
      this.install(entry).catch((err: unknown) => this.log.error({ err, table: entry.name }, 'cannot install table from etcd'));
    });
    watcher.on('error', (err) => this.log.warn({ event: 'watch_error', err: err.message }, 'table watch error'));
    await this.reload();
  }

  /** Stops following changes. */
  async stop(): Promise<void> {
    await this.watcher?.cancel().catch(() => undefined);
  }

  /** Installs every table etcd holds (also used when a replica meets an unknown table id). */
  async reload(): Promise<void> {
    const all = await this.client.getAll().prefix(this.keys.tables).strings();
    for (const json of Object.values(all)) await this.install(JSON.parse(json) as TableEntry);
  }

  /** Installs every table etcd holds: a read that met a schema version the watch has not brought yet. */
  refresh(): Promise<void> {
    return this.reload();
  }

  /**
   * One linearizable read of the table's key, installed. Calls that come
   * while a read is under way share the next one (which starts after them),
   * so a flood of refused writes costs etcd at most one read in flight and
   * one queued per table, whatever their number.
   */
  refreshTable(name: string): Promise<void> {
    let reads = this.tableReads.get(name);
    if (reads === undefined) {
      reads = { running: undefined, queued: undefined };
      this.tableReads.set(name, reads);
    }
    const state = reads;
    if (state.queued !== undefined) return state.queued;
    if (state.running === undefined) return this.startTableRead(name, state);
    // The running read may have started before this call: its answer could miss a change acknowledged since.
    state.queued = state.running.catch(() => undefined).then(() => {
      state.queued = undefined;
      return this.startTableRead(name, state);
    });
    return state.queued;
  }

  private startTableRead(name: string, state: TableReads): Promise<void> {
    const run = (async () => {
      try {
        const json = await this.client.get(this.keys.table(name)).string();
        if (json !== null) await this.install(JSON.parse(json) as TableEntry);
      } finally {
        state.running = undefined;
        if (state.queued === undefined) this.tableReads.delete(name);
      }
    })();
    state.running = run;
    return run;
  }

  async create(def: TableDef, nowMs: number, limits?: TableLimits): Promise<TableEntry> {
    for (let attempt = 0; attempt < CAS_ATTEMPTS; attempt++) {
      const ids = await this.client.getAll().prefix(`${this.keys.prefix}table-ids/`).keys();
      const maxId = Math.max(0, ...ids.map((k) => Number(k.slice(k.lastIndexOf('/') + 1))), ...this.catalog.list().map((t) => t.id));
      const entry: TableEntry = { id: maxId + 1, name: def.name, createdAtMs: nowMs, versions: [def], ...(limits === undefined || Object.keys(limits).length === 0 ? {} : { limits }) };
      const res = await this.client
        .if(this.keys.table(def.name), 'Create', '==', 0)
        .and(this.keys.tableId(entry.id), 'Create', '==', 0)
        .then(...this.putOps(entry))
        .commit();
      if (res.succeeded) return this.install(entry);
      if ((await this.client.get(this.keys.table(def.name)).string()) !== null) {
        throw new SluiceError('TABLE_EXISTS', `table ${JSON.stringify(def.name)} already exists`);
      }
      // Lost the id to a concurrent create of another table: take the next one.
    }
    throw new SluiceError('NO_QUORUM', `could not allocate a table id for ${def.name} after ${CAS_ATTEMPTS} attempts`);
  }

  async evolve(name: string, evolve: (current: TableDef) => TableDef): Promise<TableEntry> {
    return this.change(name, 'schema change', (entry) => {
      const current = currentDef(entry);
      const next = evolve(current);
      return next.version === current.version ? entry : { ...entry, versions: [...entry.versions, next] };
    });
  }

  async setLimits(name: string, update: (current: TableLimits) => TableLimits): Promise<TableEntry> {
    return this.change(name, 'limits change', (entry) => withLimits(entry, update(entry.limits ?? {})));
  }

  /** Applies `change` to the table's entry in etcd (CAS on its mod revision, retried on a lost race) and installs the result. */
  private async change(name: string, what: string, change: (entry: TableEntry) => TableEntry): Promise<TableEntry> {
    for (let attempt = 0; attempt < CAS_ATTEMPTS; attempt++) {
      const res = await this.client.get(this.keys.table(name)).exec();
      const kv = res.kvs[0];
      if (kv === undefined) throw new SluiceError('TABLE_NOT_FOUND', `table ${JSON.stringify(name)} does not exist`);
      const entry = JSON.parse(kv.value.toString('utf8')) as TableEntry;
      const updated = change(entry);
      if (updated === entry) return this.install(entry);
      const put = await this.client
        .if(this.keys.table(name), 'Mod', '==', kv.mod_revision)
        .then(this.client.put(this.keys.table(name)).value(JSON.stringify(updated)))
        .commit();
      if (put.succeeded) return this.install(updated);
    }
    throw new SluiceError('NO_QUORUM', `${what} of ${name} lost ${CAS_ATTEMPTS} races in a row`);
  }

  /** Waits for every live node to report `entry`'s version (acknowledged at once without a node id: nothing to compare). */
  agreement(name: string, entry: TableEntry, waitMsMax: number): Promise<Agreement> {
    return this.agreements?.await(name, entry, waitMsMax) ?? Promise.resolve({ acknowledged: true, pendingNodes: [] });
  }

  /** Installs `entry` into the local catalog, then reports what the catalog holds of it. */
  private async install(entry: TableEntry): Promise<TableEntry> {
    const installed = await this.catalog.install(entry);
    this.agreements?.report(entry.name);
    return installed;
  }

  private putOps(entry: TableEntry) {
    return [this.client.put(this.keys.table(entry.name)).value(JSON.stringify(entry)), this.client.put(this.keys.tableId(entry.id)).value(entry.name)] as const;
  }
}
