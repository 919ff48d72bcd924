/**
 * The catalog of tables of a single node: every schema version of every
 * table, kept in `catalog.json` and replaced atomically on each change. A
 * table exists once its catalog write is fsync'd, before any write to it
 * can be acknowledged. Old versions are kept forever: stored records name
 * the version they were written under.
 */
import assert from 'node:assert/strict';
import path from 'node:path';
import { SluiceError } from '../core/errors.ts';
import type { TableDef } from '../core/schema/table-def.ts';
import type { TableLimits } from '../core/schema/table-limits.ts';
import { readJsonFile, writeFileAtomic } from './atomic-file.ts';

/** A table with its id and schema history. */
export interface TableEntry {
  /** Numeric id used in index keys; never reused. */
  readonly id: number;
  readonly name: string;
  readonly createdAtMs: number;
  /** versions[i] is schema version i + 1; the last is current. */
  readonly versions: readonly TableDef[];
  /** Rate, burst and event-time limits (settings beside the schema, not part of any version); absent: none set. */
  readonly limits?: TableLimits;
  /**
   * +1 per change of `limits` (absent: 0). With the number of versions it
   * orders two copies of one table, so a late watch event from etcd never
   * puts older limits back.
   */
  readonly limitsRevision?: number;
}

/** True when `a` is a later state of the table than `b` (more schema versions, or as many and newer limits). */
export function isNewerEntry(a: TableEntry, b: TableEntry): boolean {
  if (a.versions.length !== b.versions.length) return a.versions.length > b.versions.length;
  return (a.limitsRevision ?? 0) > (b.limitsRevision ?? 0);
}

/** `entry` with its limits replaced (one revision later), or `entry` itself when they are equal. */
export function withLimits(entry: TableEntry, limits: TableLimits): TableEntry {
  if (JSON.stringify(limits) === JSON.stringify(entry.limits ?? {})) return entry;
  const { limits: _old, ...rest } = entry;
  return { ...rest, ...(Object.keys(limits).length === 0 ? {} : { limits }), limitsRevision: (entry.limitsRevision ?? 0) + 1 };
}

interface CatalogFile {
  readonly format: 1;
  readonly nextTableId: number;
  readonly tables: readonly TableEntry[];
}

/** The current definition of a table. */
export function currentDef(entry: TableEntry): TableDef {
  const def = entry.versions.at(-1);
  assert.ok(def !== undefined, `table ${entry.name} has no schema version`);
  return def;
}

/** The definition of a table at one schema version. */
export function defAtVersion(entry: TableEntry, version: number): TableDef | undefined {
  return entry.versions[version - 1];
}

/** Tables of one node, persisted in DATA_DIR/catalog.json. */
export class Catalog {
  private readonly file: string;
  private readonly byName = new Map<string, TableEntry>();
  private readonly byIdMap = new Map<number, TableEntry>();
  private nextTableId = 1;
  /** Serializes changes so two concurrent creates cannot overwrite each other's file. */
  private chain: Promise<unknown> = Promise.resolve();

  private constructor(file: string) {
    this.file = file;
  }

  /** Loads the catalog of `dataDir`, creating it with the built-in tables if new. */
  static async open(dataDir: string, builtins: readonly TableDef[], nowMs: number): Promise<Catalog> {
    const catalog = new Catalog(path.join(dataDir, 'catalog.json'));
    const raw = (await readJsonFile(catalog.file)) as CatalogFile | undefined;
    if (raw !== undefined) {
      if (raw.format !== 1 || !Array.isArray(raw.tables)) throw new SluiceError('STORAGE_IO', `${catalog.file} has an unknown format`);
      catalog.nextTableId = raw.nextTableId;
      for (const t of raw.tables) catalog.index(t);
    }
    for (const def of builtins) {
      if (!catalog.byName.has(def.name)) await catalog.create(def, nowMs);
    }
    return catalog;
  }

  /** The table named `name`, or undefined. */
  get(name: string): TableEntry | undefined {
    return this.byName.get(name);
  }

  /** The table named `name`, or TABLE_NOT_FOUND. */
  require(name: string): TableEntry {
    const entry = this.byName.get(name);
    if (entry === undefined) throw new SluiceError('TABLE_NOT_FOUND', `table ${JSON.stringify(name)} does not exist`);
    return entry;
  }

  /** The table with numeric id `id`, or undefined. */
  byId(id: number): TableEntry | undefined {
    return this.byIdMap.get(id);
  }

  /** Every table, by name. */
  list(): TableEntry[] {
    return [...this.byName.values()].sort((a, b) => a.name.localeCompare(b.name));
  }

  /** Creates a table (TABLE_EXISTS if the name is taken) with its limits, if any; durable when it resolves. */
  create(def: TableDef, nowMs: number, limits?: TableLimits): Promise<TableEntry> {
    return this.serialize(async () => {
      if (this.byName.has(def.name)) throw new SluiceError('TABLE_EXISTS', `table ${JSON.stringify(def.name)} already exists`);
      const entry: TableEntry = { id: this.nextTableId, name: def.name, createdAtMs: nowMs, versions: [def], ...limitsPart(limits) };
      await this.persist([...this.byName.values(), entry], this.nextTableId + 1);
      this.nextTableId++;
      this.index(entry);
      return entry;
    });
  }

  /** Adds a schema version produced by `evolve` from the current one; durable when it resolves. */
  evolve(name: string, evolve: (current: TableDef) => TableDef): Promise<TableEntry> {
    return this.serialize(async () => {
      const entry = this.require(name);
      const current = currentDef(entry);
      const next = evolve(current);
      if (next.version === current.version) return entry;
      assert.equal(next.version, current.version + 1, 'schema versions are consecutive');
      const updated: TableEntry = { ...entry, versions: [...entry.versions, next] };
      await this.persist(
        [...this.byName.values()].map((t) => (t.id === entry.id ? updated : t)),
        this.nextTableId,
      );
      this.index(updated);
      return updated;
    });
  }

  /** Replaces the table's limits with what `update` derives from the current ones; durable when it resolves. */
  setLimits(name: string, update: (current: TableLimits) => TableLimits): Promise<TableEntry> {
    return this.serialize(async () => {
      const entry = this.require(name);
      const updated = withLimits(entry, update(entry.limits ?? {}));
      if (updated === entry) return entry;
      await this.persist(
        [...this.byName.values()].map((t) => (t.id === entry.id ? updated : t)),
        this.nextTableId,
      );
      this.index(updated);
      return updated;
    });
  }

  /** A single node's catalog is the source of truth: nothing to catch up with. */
  async refresh(): Promise<void> {}

  /** A single node's catalog is the source of truth: nothing to catch up with. */
  async refreshTable(_name: string): Promise<void> {}

  /** A single node's catalog is the only copy: a change it made is loaded everywhere at once. */
  async agreement(_name: string, _entry: TableEntry, _waitMsMax: number): Promise<{ acknowledged: boolean; pendingNodes: string[] }> {
    return { acknowledged: true, pendingNodes: [] };
  }

  /**
   * Installs a table entry decided elsewhere (the cluster catalog in etcd),
   * keeping its id; a no-op when this catalog already has that history or
   * a longer one.
   * Durable when it resolves.
   */
  install(entry: TableEntry): Promise<TableEntry> {
    return this.serialize(async () => {
      const mine = this.byName.get(entry.name);
      if (mine !== undefined && mine.id !== entry.id) {
        throw new SluiceError('SCHEMA_INCOMPATIBLE', `table ${entry.name} has id ${mine.id} here but ${entry.id} in the cluster catalog`);
      }
      // An equal history that differs (a built-in defined here before the cluster's copy was read) takes the cluster's.
      if (mine !== undefined && (isNewerEntry(mine, entry) || (!isNewerEntry(entry, mine) && JSON.stringify(mine.versions) === JSON.stringify(entry.versions)))) return mine;
      const taken = this.byIdMap.get(entry.id);
      if (taken !== undefined && taken.name !== entry.name) {
        throw new SluiceError('SCHEMA_INCOMPATIBLE', `table id ${entry.id} is ${taken.name} here but ${entry.name} in the cluster catalog`);
      }
      const nextTableId = Math.max(this.nextTableId, entry.id + 1);
      await this.persist([...[...this.byName.values()].filter((t) => t.name !== entry.name), entry], nextTableId);
      this.nextTableId = nextTableId;
      this.index(entry);
      return entry;
    });
  }

  private index(entry: TableEntry): void {
    this.byName.set(entry.name, entry);
    this.byIdMap.set(entry.id, entry);
  }

  private async persist(tables: readonly TableEntry[], nextTableId: number): Promise<void> {
    const file: CatalogFile = { format: 1, nextTableId, tables: [...tables].sort((a, b) => a.id - b.id) };
    await writeFileAtomic(this.file, JSON.stringify(file, null, 1));
  }

  private serialize<T>(task: () => Promise<T>): Promise<T> {
    const run = this.chain.then(task, task);
    this.chain = run.catch(() => undefined);
    return run;
  }
}

/** The `limits` property of a new entry: absent when none are set. */
function limitsPart(limits: TableLimits | undefined): { limits?: TableLimits } {
  return limits === undefined || Object.keys(limits).length === 0 ? {} : { limits };
}
