/**
 * `sluice table create|list|describe|alter|limits`: table administration
 * over the HTTP API.
 */
import { readFile } from 'node:fs/promises';
import { Command } from 'commander';
import { CliError } from './cli-error.ts';
import { DEFAULT_URL, requestJson } from './http-client.ts';
import { tableLimitsCommand } from './table-limits.ts';

interface UrlOption {
  url: string;
}

/** The table command group. */
export function tableCommand(): Command {
  const table = new Command('table').description('create, list, describe and alter tables, and set their limits');
  table
    .command('create')
    .description('create a table from a JSON definition (see README), or from a protobuf message (--proto, --message)')
    .option('--file <path>', 'table definition JSON file ("-" for stdin)')
    .option('--proto <path>', '.proto file: the table takes its fields from --message and accepts it as binary records')
    .option('--message <name>', 'fully qualified message name in --proto, e.g. shop.v1.Payment')
    .option('--name <table>', 'table name (with --proto, when there is no --file)')
    .option('--shard-key <field>', 'shard key field (with --proto, when there is no --file)')
    .option('--time-field <field>', 'event-time field (with --proto)')
    .option('--primary-key <field>', 'primary key field (with --proto)')
    .option('--url <url>', 'sluice node URL', DEFAULT_URL)
    .action(async (o: UrlOption & CreateOptions) => {
      const body = await createBody(o);
      const created = await requestJson(`${o.url}/v1/tables`, { method: 'POST', body, headers: { 'content-type': 'application/json' } });
      print(created);
      warnIfNotAcknowledged(created);
    });
  table
    .command('list')
    .description('list tables')
    .option('--url <url>', 'sluice node URL', DEFAULT_URL)
    .action(async (o: UrlOption) => {
      const res = (await requestJson(`${o.url}/v1/tables`)) as { tables: { name: string; version: number; shardKey: string; fields: unknown[] }[] };
      for (const t of res.tables) process.stdout.write(`${t.name}\tv${t.version}\tshardKey=${t.shardKey}\t${t.fields.length} fields\n`);
    });
  table
    .command('describe')
    .description('print a table definition')
    .argument('<name>', 'table name')
    .option('--url <url>', 'sluice node URL', DEFAULT_URL)
    .action(async (name: string, o: UrlOption) => {
      print(await requestJson(`${o.url}/v1/tables/${encodeURIComponent(name)}`));
    });
  table
    .command('alter')
    .description('evolve a table schema: the file holds {"fields": [...]}, the full new field list')
    .argument('<name>', 'table name')
    .requiredOption('--file <path>', 'JSON with the new field list ("-" for stdin)')
    .option('--url <url>', 'sluice node URL', DEFAULT_URL)
    .action(async (name: string, o: UrlOption & { file: string }) => {
      const body = await readDefinition(o.file);
      const altered = await requestJson(`${o.url}/v1/tables/${encodeURIComponent(name)}/schema`, { method: 'PATCH', body, headers: { 'content-type': 'application/json' } });
      print(altered);
      warnIfNotAcknowledged(altered);
    });
  table.addCommand(tableLimitsCommand());
  return table;
}

interface CreateOptions {
  file?: string;
  proto?: string;
  message?: string;
  name?: string;
  shardKey?: string;
  timeField?: string;
  primaryKey?: string;
}

/** The definition to send: the --file as is, or merged with the --proto message (fields may then be left out). */
async function createBody(o: CreateOptions): Promise<string> {
  if (o.proto === undefined) {
    if (o.file === undefined) throw new CliError('give --file with a table definition, or --proto and --message', 2);
    return readDefinition(o.file);
  }
  if (o.message === undefined) throw new CliError('--proto needs --message (the message the table stores)', 2);
  const def = o.file === undefined ? {} : (JSON.parse(await readDefinition(o.file)) as Record<string, unknown>);
  const flags = { name: o.name, shardKey: o.shardKey, timeField: o.timeField, primaryKey: o.primaryKey };
  for (const [k, v] of Object.entries(flags)) if (v !== undefined) def[k] = v;
  let source: string;
  try {
    source = await readFile(o.proto, 'utf8');
  } catch (err) {
    throw new CliError(`cannot read ${o.proto}: ${(err as Error).message}`, 2);
  }
  def['proto'] = { message: o.message, source };
  return JSON.stringify(def);
}

async function readDefinition(file: string): Promise<string> {
  try {
    const text = file === '-' ? await readStdin() : await readFile(file, 'utf8');
    JSON.parse(text);
    return text;
  } catch (err) {
    throw new CliError(`cannot read a JSON definition from ${file}: ${(err as Error).message}`, 2);
  }
}

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

/**
 * A warning on stderr when some live node had not loaded the change when the
 * node answered: the change is stored, but a write through such a node may
 * meet the old schema for a moment (it catches up on refusal, decision 57).
 */
export function warnIfNotAcknowledged(answer: unknown): void {
  const a = answer as { acknowledged?: unknown; pendingNodes?: unknown; version?: unknown } | null;
  if (a === null || typeof a !== 'object' || a.acknowledged !== false) return;
  const nodes = Array.isArray(a.pendingNodes) && a.pendingNodes.length > 0 ? a.pendingNodes.join(', ') : 'unknown (etcd could not be read)';
  process.stderr.write(`warning: the change is stored, but not every node had loaded schema version ${String(a.version)} when the node answered; not yet: ${nodes}\n`);
}

function print(value: unknown): void {
  process.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
}
