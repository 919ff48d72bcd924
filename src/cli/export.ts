/**
 * `sluice export --table T [--format ndjson|parquet] [--output FILE]`:
 * streams every record of a table to stdout or a file. An export cut short
 * (node gone, connection reset, Ctrl-C) is an error, and leaves no partial
 * `--output` file: the export is written beside it and renamed to it once
 * whole. Half an NDJSON export reads as a smaller whole one; half a Parquet
 * file has no footer and no reader opens it.
 */
import { createWriteStream, renameSync, rmSync } from 'node:fs';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { Command, Option } from 'commander';
import { CliError } from './cli-error.ts';
import { authHeaders } from './client-auth.ts';
import { DEFAULT_URL, describeError, parseAnswer, retryPause } from './http-client.ts';

/** Waits for a busy node (429: its exports are all taken; 503: starting) this many times before giving up. */
const BUSY_RETRIES_MAX = 60;

/** Asks for the export, waiting the Retry-After of a busy node in between. */
async function startExport(url: string, base: string): Promise<Response & { body: NonNullable<Response['body']> }> {
  for (let attempt = 0; ; attempt++) {
    let res: Response;
    try {
      res = await fetch(url, { headers: authHeaders() });
    } catch (err) {
      throw new CliError(`cannot reach ${base}: ${(err as Error).message}`);
    }
    if (res.ok && res.body !== null) return res as Response & { body: NonNullable<Response['body']> };
    const text = await res.text();
    if ((res.status === 429 || res.status === 503) && attempt < BUSY_RETRIES_MAX) {
      await retryPause(attempt, res.headers.get('retry-after'));
      continue;
    }
    throw new CliError(describeError(res.status, parseAnswer(text)));
  }
}

interface ExportOptions {
  table: string;
  format: 'ndjson' | 'parquet';
  output?: string;
  url: string;
}

/** The export command. */
export function exportCommand(): Command {
  return new Command('export')
    .description('stream every record of a table as NDJSON (one JSON object a line) or as one Parquet file')
    .requiredOption('--table <name>', 'table')
    .addOption(new Option('--format <format>', 'output format (parquet needs --output or a redirected stdout)').choices(['ndjson', 'parquet']).default('ndjson'))
    .option('--output <file>', 'write to a file instead of stdout')
    .option('--url <url>', 'sluice node URL', DEFAULT_URL)
    .action(async (o: ExportOptions) => {
      if (o.format === 'parquet' && o.output === undefined && process.stdout.isTTY === true) {
        throw new CliError('Parquet is binary and stdout is a terminal: pass --output FILE or redirect stdout', 2);
      }
      const url = `${o.url}/v1/tables/${encodeURIComponent(o.table)}/export?format=${o.format}`;
      const res = await startExport(url, o.url);
      const partial = o.output === undefined ? undefined : `${o.output}.${process.pid}.partial`;
      const out = partial === undefined ? process.stdout : createWriteStream(partial);
      // A signal would end the process with the partial file in place: it stops the copy instead, which then cleans up.
      const stop = new AbortController();
      const interrupted = (signal: NodeJS.Signals): void => stop.abort(signal);
      process.once('SIGINT', interrupted);
      process.once('SIGTERM', interrupted);
      try {
        await pipeline(Readable.fromWeb(res.body as import('node:stream/web').ReadableStream), out, { signal: stop.signal });
        if (partial !== undefined && o.output !== undefined) renameSync(partial, o.output);
      } catch (err) {
        if (partial !== undefined) rmSync(partial, { force: true });
        const what = o.output === undefined ? 'the output is incomplete' : `${o.output} is not written`;
        if (stop.signal.aborted) throw new CliError(`export of ${o.table} interrupted by ${String(stop.signal.reason)}; ${what}`, stop.signal.reason === 'SIGINT' ? 130 : 143);
        const cause = (err as Error).cause instanceof Error ? `: ${((err as Error).cause as Error).message}` : '';
        throw new CliError(`export of ${o.table} failed: ${(err as Error).message}${cause}; ${o.output === undefined ? 'the output is incomplete' : `removed the incomplete ${o.output}`}`);
      } finally {
        process.removeListener('SIGINT', interrupted);
        process.removeListener('SIGTERM', interrupted);
      }
    });
}
