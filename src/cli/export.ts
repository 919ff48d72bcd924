/**
 * `sluice export --table T`: streams every record of a table as NDJSON to
 * stdout or a file.
 */
import { createWriteStream } from 'node:fs';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { Command, Option } from 'commander';
import { CliError } from './cli-error.ts';
import { DEFAULT_URL, describeError, parseAnswer } from './http-client.ts';

interface ExportOptions {
  table: string;
  format: string;
  output?: string;
  url: string;
}

/** The export command. */
export function exportCommand(): Command {
  return new Command('export')
    .description('stream every record of a table')
    .requiredOption('--table <name>', 'table')
    .addOption(new Option('--format <format>', 'output format').choices(['ndjson']).default('ndjson'))
    .option('--output <file>', 'write to a file instead of stdout')
    .option('--url <url>', 'sluice node URL', DEFAULT_URL)
    .action(async (o: ExportOptions) => {
      const url = `${o.url}/v1/tables/${encodeURIComponent(o.table)}/export?format=${o.format}`;
      let res: Response;
      try {
        res = await fetch(url);
      } catch (err) {
        throw new CliError(`cannot reach ${o.url}: ${(err as Error).message}`);
      }
      if (!res.ok || res.body === null) {
        const text = await res.text();
        throw new CliError(describeError(res.status, parseAnswer(text)));
      }
      const out = o.output === undefined ? process.stdout : createWriteStream(o.output);
      await pipeline(Readable.fromWeb(res.body as import('node:stream/web').ReadableStream), out);
    });
}
