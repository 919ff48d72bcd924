/**
 * `sluice ingest FILE --table T`: imports a Parquet, CSV or NDJSON file
 * (`.parquet`, `.csv[.gz]`, `.ndjson|.jsonl[.gz]`) into a table.
 *
 * The file is streamed: text is read and cut into chunks of whole records,
 * Parquet is read row range by row range through its footer, and worker
 * threads turn chunks into request bodies; memory holds the chunks and
 * requests in flight, whatever the file's size. Bodies go to the node
 * with several requests in flight, each carrying the file's dedupe prefix
 * and its first row number, and a checkpoint of the rows durably written
 * is kept beside; a rerun after a crash resumes from it, and the rows
 * between the checkpoint and the crash are sent again under the same keys
 * so the table holds each row once (docs/decisions/0012-file-import.md).
 */
import path from 'node:path';
import { availableParallelism } from 'node:os';
import { Command, Option } from 'commander';
import { SingleBar, Presets } from 'cli-progress';
import { isSluiceError } from '../core/errors.ts';
import type { TableDef } from '../core/schema/table-def.ts';
import type { OnInvalid } from '../ingest/batch-encoder.ts';
import { ConvertPool } from '../ingest/formats/convert-pool.ts';
import type { FileFormat } from '../ingest/formats/file-batch.ts';
import { readParquetFooter } from '../ingest/formats/parquet-batches.ts';
import { formatOfFileName, readFileBatches } from '../ingest/formats/read-file-batches.ts';
import { intOption } from './int-option.ts';
import { CliError } from './cli-error.ts';
import { DEFAULT_URL } from './http-client.ts';
import { BatchSender, type SendState } from './import/batch-sender.ts';
import { CheckpointFile, dedupePrefix, defaultCheckpointDir, identify, staleCheckpoints, type Checkpoint, type FileIdentity, type StaleCheckpoint } from './import/checkpoint.ts';
import { tableForImport } from './import/table-setup.ts';

interface IngestOptions {
  table: string;
  url: string;
  format?: FileFormat;
  batchRecords: string;
  batchBytes: string;
  concurrency: string;
  threads: string;
  onInvalid?: OnInvalid;
  progress: boolean;
  createTable: boolean;
  shardKey?: string;
  timeField?: string;
  primaryKey?: string;
  restart: boolean;
  checkpointDir?: string;
  checkpointIntervalMs: string;
}

/** Conversion threads by default: the cores but one (the main thread reads and sends), at most 4. */
const THREADS_DEFAULT = Math.max(1, Math.min(4, availableParallelism() - 1));

/** The ingest command. */
export function ingestCommand(): Command {
  return new Command('ingest')
    .description('import a Parquet, CSV or NDJSON file (.parquet, .csv, .ndjson, .jsonl; .gz for text) into a table; a rerun after a crash resumes without duplicates')
    .argument('<file>', 'file to import')
    .requiredOption('--table <name>', 'target table')
    .option('--url <url>', 'sluice node URL', DEFAULT_URL)
    .addOption(new Option('--format <format>', 'file format (default: from the file name)').choices(['parquet', 'csv', 'ndjson']))
    .option('--batch-records <n>', 'records per request', '5000')
    .option('--batch-bytes <n>', 'largest request body', String(4 * 1024 * 1024))
    .option('--concurrency <n>', 'requests in flight', '8')
    .option('--threads <n>', 'worker threads converting CSV and Parquet (0: none)', String(THREADS_DEFAULT))
    .addOption(
      new Option('--on-invalid <mode>', "invalid records: reject (stop at the first), skip them, or dead_letter them (kept in <table>__dead_letters; see sluice dlq) (default: the table's onInvalid, else reject)").choices(['reject', 'skip', 'dead_letter']),
    )
    .option('--no-progress', 'no progress bar (summary only)')
    .option('--create-table', 'create the table from the Parquet schema when it does not exist')
    .option('--shard-key <column>', 'with --create-table: the shard key (default: the first string/int/decimal/timestamp/bool column)')
    .option('--time-field <column>', 'with --create-table: the event-time field')
    .option('--primary-key <column>', 'with --create-table: the primary key')
    .option('--restart', 'ignore a saved checkpoint and read the file from its start (rows already written are not duplicated, unless the file changed since: then they are stored again)')
    .option('--checkpoint-dir <dir>', 'where checkpoints are kept (default: $SLUICE_CACHE_DIR/imports or ~/.cache/sluice/imports)')
    .addOption(new Option('--checkpoint-interval-ms <ms>', 'how often the checkpoint is saved').default('500').hideHelp())
    .action(async (file: string, o: IngestOptions) => {
      const summary = await ingestFile(file, o);
      if (summary.resumedAt > 0) process.stderr.write(`resumed at row ${summary.resumedAt + 1} from a checkpoint\n`);
      process.stdout.write(
        `${summary.written} records written, ${summary.rejected} rejected, ${summary.requests} requests in ${summary.seconds.toFixed(1)} s (${Math.round(summary.written / Math.max(summary.seconds, 1e-3))} records/s)\n`,
      );
      if (summary.deadLettered > 0) process.stderr.write(`${summary.deadLettered} rejected records kept as dead letters: sluice dlq list --table ${o.table}\n`);
      for (const r of summary.rejectedRows) {
        process.stderr.write(`rejected: row ${r.row + 1}${r.line === undefined ? '' : ` (line ${r.line})`}${r.column === undefined ? '' : `, column "${r.column}"`}: ${r.message}\n`);
      }
      if (summary.rejected > 0) process.exitCode = 3;
    });
}

interface Summary {
  written: number;
  rejected: number;
  deadLettered: number;
  requests: number;
  seconds: number;
  resumedAt: number;
  rejectedRows: SendState['rejectedRows'];
}

/** Everything an import needs before its first request. */
interface ImportPlan {
  readonly id: FileIdentity;
  readonly format: FileFormat;
  readonly gzip: boolean;
  readonly def: TableDef;
  readonly url: string;
  readonly prefix: string;
  readonly checkpoint: CheckpointFile;
  /** The checkpoint of an earlier run over the same file, if any. */
  readonly resume: Checkpoint | undefined;
  /** The progress bar's 100%: bytes of the file, or Parquet rows. */
  readonly total: number;
}

async function ingestFile(file: string, o: IngestOptions): Promise<Summary> {
  const limits = { rowsMax: intOption(o.batchRecords, '--batch-records', 1, 1_000_000), bytesMax: intOption(o.batchBytes, '--batch-bytes', 1, 1024 * 1024 * 1024) };
  const concurrency = intOption(o.concurrency, '--concurrency', 1, 256);
  const threads = intOption(o.threads, '--threads', 0, 64);
  const checkpointIntervalMs = intOption(o.checkpointIntervalMs, '--checkpoint-interval-ms', 0, 3_600_000);
  const plan = await planImport(file, o);
  const onInvalid: OnInvalid = o.onInvalid ?? plan.def.onInvalid ?? 'reject';
  const { id, format, resume, total, checkpoint } = plan;
  const started = performance.now();
  const bar = o.progress && process.stderr.isTTY ? new SingleBar({ format: ' {bar} {percentage}% | {records} records | {rate} rec/s | ETA {eta_formatted}', stream: process.stderr, etaBuffer: 50 }, Presets.shades_classic) : undefined;
  bar?.start(total, resume === undefined ? 0 : Math.min(total, format === 'parquet' ? resume.rowsDone : (resume.at?.byte ?? 0)), { records: 0, rate: 0 });
  const saver = new CheckpointSaver(checkpoint, checkpointIntervalMs, (s) => checkpointOf(plan, o.table, s));
  const sender = new BatchSender(
    {
      target: `${plan.url}/v1/tables/${encodeURIComponent(o.table)}/records`,
      prefix: plan.prefix,
      onInvalid,
      source: `import:${path.basename(file)}`,
      concurrency,
      onAdvance: (s) => {
        saver.update(s);
        const secs = (performance.now() - started) / 1000;
        bar?.update(Math.min(s.progress, total), { records: s.written, rate: Math.round(s.written / Math.max(secs, 1e-3)) });
      },
    },
    { rowsDone: resume?.rowsDone ?? 0, at: resume?.at, progress: 0 },
  );

  // Ctrl-C: stop reading, let the requests in flight finish, save the checkpoint.
  let interrupted = false;
  const onSignal = (): void => {
    interrupted = true;
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  const pool = new ConvertPool({ threads: format === 'ndjson' ? 0 : threads });
  try {
    const from = resume === undefined ? {} : { resume: { rowsDone: resume.rowsDone, ...(resume.at === undefined ? {} : { at: resume.at }) } };
    for await (const batch of readFileBatches(id.path, { format, gzip: plan.gzip, def: plan.def, onInvalid, limits, ...from }, pool)) {
      await sender.send(batch);
      if (interrupted) throw new CliError('interrupted', 130);
    }
    await sender.drain();
  } catch (err) {
    await sender.settle();
    bar?.stop();
    // A checkpoint only when there is something to resume after; none is left behind otherwise.
    if (sender.state.rowsDone > 0) {
      saver.update(sender.state);
      await saver.flush();
    } else {
      await saver.stop();
      await checkpoint.remove();
    }
    throw failure(err, sender.state, checkpoint.path);
  } finally {
    process.removeListener('SIGINT', onSignal);
    process.removeListener('SIGTERM', onSignal);
    await pool.close();
  }
  await saver.stop();
  await checkpoint.remove();
  bar?.update(total, { records: sender.state.written });
  bar?.stop();
  const { written, rejected, requests, rejectedRows } = sender.state;
  return { written, rejected, deadLettered: sender.state.deadLettered ?? 0, requests, rejectedRows, seconds: (performance.now() - started) / 1000, resumedAt: resume?.rowsDone ?? 0 };
}

/** The file, its format, the table (created with --create-table), and a checkpoint to resume from. */
async function planImport(file: string, o: IngestOptions): Promise<ImportPlan> {
  const named = formatOfFileName(file);
  const format = o.format ?? named?.format;
  if (format === undefined) throw new CliError(`cannot tell the format of ${file}: name it .parquet, .csv, .ndjson or .jsonl (text may end in .gz), or pass --format`, 2);
  let id: FileIdentity;
  try {
    id = await identify(file);
  } catch (err) {
    throw new CliError(`cannot read ${file}: ${(err as Error).message}`, 2);
  }
  const url = o.url.replace(/\/+$/, '');
  // Before anything is created or sent: a refusal here leaves the node as it was.
  const dir = o.checkpointDir ?? defaultCheckpointDir();
  const checkpoint = new CheckpointFile(dir, id, o.table, url);
  const stale = await staleCheckpoints(dir, id, o.table, url);
  if (o.restart === true) {
    await checkpoint.remove();
    for (const s of stale) await s.file.remove();
  } else if (stale[0] !== undefined) {
    throw changedFileError(file, stale[0]);
  }
  const { def } = await tableForImport(url, o.table, id.path, format, {
    create: o.createTable === true,
    ...(o.shardKey === undefined ? {} : { shardKey: o.shardKey }),
    ...(o.timeField === undefined ? {} : { timeField: o.timeField }),
    ...(o.primaryKey === undefined ? {} : { primaryKey: o.primaryKey }),
  });
  const saved = await checkpoint.load();
  const resume = saved !== undefined && saved.fingerprint === id.fingerprint && saved.format === format ? saved : undefined;
  const total = format === 'parquet' ? Number((await readParquetFooter(id.path)).num_rows) : id.size;
  return { id, format, gzip: named?.gzip ?? false, def, url, prefix: dedupePrefix(id), checkpoint, resume, total };
}

/**
 * The refusal to import a file that changed since an import of it into
 * the same table stopped: its rows would go under new dedupe keys, and the
 * rows that import wrote would be stored a second time. Only the operator
 * knows whether that is wanted: put the file back and resume, or --restart.
 */
function changedFileError(file: string, stale: StaleCheckpoint): CliError {
  const cp = stale.checkpoint;
  const was = `${cp.size} bytes, modified ${new Date(cp.mtimeMs).toISOString()}`;
  return new CliError(
    `${file} changed since an interrupted import of it into ${cp.table} at ${cp.url} (then ${was}; checkpoint ${stale.file.path}): ` +
      `at least rows 1–${cp.rowsDone} of it are written, and importing the changed file would store them a second time under new dedupe keys. ` +
      'Put the file back as it was and run the same command to resume, or add --restart to import the changed file from its start anyway',
    2,
  );
}

/** The checkpoint of `state`, counting what an earlier run over the file wrote. */
function checkpointOf(plan: ImportPlan, table: string, s: Readonly<SendState>): Checkpoint {
  return {
    version: 1,
    file: plan.id.path,
    size: plan.id.size,
    mtimeMs: plan.id.mtimeMs,
    fingerprint: plan.id.fingerprint,
    table,
    url: plan.url,
    format: plan.format,
    prefix: plan.prefix,
    rowsDone: s.rowsDone,
    ...(s.at === undefined ? {} : { at: s.at }),
    written: (plan.resume?.written ?? 0) + s.written,
    rejected: (plan.resume?.rejected ?? 0) + s.rejected,
    updatedAt: new Date().toISOString(),
  };
}

/** The error to print: what stopped the import, what is written, and how a rerun goes on. */
function failure(err: unknown, s: SendState, checkpointPath: string): unknown {
  const resume = s.rowsDone > 0 ? `; rows 1–${s.rowsDone} are written and a rerun of the same command resumes at row ${s.rowsDone + 1} (checkpoint ${checkpointPath})` : '';
  if (err instanceof CliError) return new CliError(`${err.message}${resume}`, err.exitCode);
  if (isSluiceError(err)) {
    const details = err.details.length > 1 ? err.details.slice(0, 5).map((d) => `\n  ${d.message}`).join('') : '';
    return new CliError(`${err.code}: ${err.message}${details}${resume}`, 1);
  }
  return err;
}

/** Saves the checkpoint at most every `intervalMs`, one save at a time, always the latest state. */
class CheckpointSaver {
  private readonly file: CheckpointFile;
  private readonly intervalMs: number;
  private readonly build: (s: Readonly<SendState>) => Checkpoint;
  private latest: Checkpoint | undefined;
  private timer: NodeJS.Timeout | undefined;
  private saving: Promise<void> = Promise.resolve();
  private stopped = false;

  constructor(file: CheckpointFile, intervalMs: number, build: (s: Readonly<SendState>) => Checkpoint) {
    this.file = file;
    this.intervalMs = intervalMs;
    this.build = build;
  }

  update(s: Readonly<SendState>): void {
    if (this.stopped) return;
    this.latest = this.build(s);
    this.timer ??= setTimeout(() => {
      this.timer = undefined;
      void this.flush();
    }, this.intervalMs);
  }

  /** Saves the latest state now (after any save in progress). */
  flush(): Promise<void> {
    const cp = this.latest;
    this.latest = undefined;
    if (cp === undefined) return this.saving;
    // A failed save is not fatal: the checkpoint only lags, and a lagging one is safe.
    this.saving = this.saving.then(() => this.file.save(cp)).catch(() => undefined);
    return this.saving;
  }

  /** No more saves; waits for one in progress. */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.latest = undefined;
    await this.saving;
  }
}
