/**
 * Writes dead letters into `<table>__dead_letters`, creating it on first
 * use. The letters take the same road as any record: compiled-schema
 * validation, routing by shard key, the coordinator's durable write (WAL,
 * fsync, W replicas). A letter the dead-letter table itself refused would
 * be a bug in the mapping, never the sender's input: it fails loudly.
 */
import { SluiceError } from '../../core/errors.ts';
import { parseTableDef } from '../../core/schema/parse-table-def.ts';
import type { TableDef } from '../../core/schema/table-def.ts';
import type { Consistency, Coordinator } from '../../cluster/coordinator/coordinator.ts';
import type { TableAdmin } from '../../cluster/metadata/cluster-tables.ts';
import { currentDef, type Catalog, type TableEntry } from '../../storage/catalog.ts';
import type { DecodePool } from '../decode-pool.ts';
import { deadLetterRecord, type DeadLetter } from './dead-letter-record.ts';
import { deadLetterTableDefinition, missingLetterFields, withLetterFields } from './dead-letter-table.ts';
import { tableOnFirstWrite } from '../table-on-first-write.ts';


/** What the writer needs from the node. */
export interface DeadLetterWriterDeps {
  readonly catalog: Catalog;
  readonly tables: TableAdmin;
  readonly coordinator: Coordinator;
  readonly pool: DecodePool;
  readonly options: { readonly shards: number; readonly keyBytesMax: number; readonly jsonDepthMax: number };
}

/** Per-write options. */
export interface DeadLetterWriteOptions {
  readonly consistency?: Consistency;
  readonly requestId?: string;
}

/** Where a write's letters went. */
export interface DeadLetterAck {
  /** The dead-letter table. */
  readonly table: string;
  /** Read-your-writes token of the letters' write. */
  readonly token: string;
}

/** Stores dead letters durably. */
export class DeadLetterWriter {
  private readonly deps: DeadLetterWriterDeps;

  constructor(deps: DeadLetterWriterDeps) {
    this.deps = deps;
  }

  /**
   * The dead-letter table of `source`, created first when missing (a
   * concurrent create counts as success). One made before a letter field
   * existed gets it, as an optional field, when `letters` carry it: the
   * table would refuse the field, and leaving it out would lose the
   * letter's dedupe key (decision 50).
   */
  async table(source: TableDef, letters: readonly DeadLetter[] = []): Promise<TableEntry> {
    const def = parseTableDef(deadLetterTableDefinition(source), Date.now(), { replicationFactorDefault: source.replicationFactor });
    const entry = await tableOnFirstWrite(this.deps.catalog, this.deps.tables, def);
    const carried = letters.some((l) => l.dedupeKey !== undefined);
    if (!carried || missingLetterFields(currentDef(entry)).length === 0) return entry;
    // Applied to the table as the metadata store has it: a node that added the field first leaves nothing to add.
    return this.deps.tables.evolve(entry.name, (current) => withLetterFields(current, Date.now()));
  }

  /** Writes `letters` (all of one source table) and resolves once they are durable at the dead-letter table's W. */
  async write(source: TableDef, letters: readonly DeadLetter[], options: DeadLetterWriteOptions = {}): Promise<DeadLetterAck> {
    if (letters.length === 0) throw new Error('no dead letters to write');
    const entry = await this.table(source, letters);
    const body = Buffer.from(letters.map((l) => JSON.stringify(deadLetterRecord(l))).join('\n'));
    const o = this.deps.options;
    const encoded = await this.deps.pool.decode({
      body,
      format: 'ndjson',
      def: currentDef(entry),
      jsonDepthMax: o.jsonDepthMax,
      ctx: { tableId: entry.id, shards: o.shards, nowMs: Date.now(), keyBytesMax: o.keyBytesMax, errorDetailsMax: 1 },
    });
    if (encoded.rejectedCount > 0) {
      const first = encoded.rejected[0];
      throw new SluiceError('INTERNAL', `the dead-letter table ${entry.name} refused a letter: ${first?.path} ${first?.message}`);
    }
    const ack = await this.deps.coordinator.write(entry, encoded.batch, encoded.count, () => undefined, {
      keyed: encoded.keyed,
      ...(options.consistency === undefined ? {} : { consistency: options.consistency }),
      ...(options.requestId === undefined ? {} : { requestId: options.requestId }),
    });
    return { table: entry.name, token: ack.token };
  }
}
