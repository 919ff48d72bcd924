/**
 * `sluice query --table T --key K`: one shard key's records in event-time
 * order as NDJSON, following cursors up to --limit records. Every page is
 * read at the snapshot the first one was (`as_of`): records written while
 * the query pages are not shown, and no atomic batch shows in part. A
 * table with a primary key keeps no older versions to read a snapshot of,
 * so it is read as it is at each page.
 */
import { Command } from 'commander';
import { CliError } from './cli-error.ts';
import { DEFAULT_URL, requestJson } from './http-client.ts';
import { intOption } from './int-option.ts';

interface QueryOptions {
  table: string;
  key: string;
  from?: string;
  to?: string;
  limit: string;
  url: string;
}

/** Records per page requested from the node. */
const PAGE_RECORDS = 1000;

/** The query command. */
export function queryCommand(): Command {
  return new Command('query')
    .description("print one shard key's records (NDJSON), ordered by event time")
    .requiredOption('--table <name>', 'table')
    .requiredOption('--key <value>', 'shard key value')
    .option('--from <time>', 'inclusive start (epoch ms or ISO-8601)')
    .option('--to <time>', 'exclusive end (epoch ms or ISO-8601)')
    .option('--limit <n>', 'most records to print', '1000')
    .option('--url <url>', 'sluice node URL', DEFAULT_URL)
    .action(async (o: QueryOptions) => {
      let remaining = intOption(o.limit, '--limit', 1, Number.MAX_SAFE_INTEGER);
      let cursor: string | null = null;
      // The first page asks for a snapshot of now; the others read at the version it answered with.
      let asOf: string | undefined = 'now';
      do {
        const params = new URLSearchParams({ key: o.key, limit: String(Math.min(PAGE_RECORDS, remaining)) });
        if (o.from !== undefined) params.set('from', o.from);
        if (o.to !== undefined) params.set('to', o.to);
        if (cursor !== null) params.set('cursor', cursor);
        const page = await readPage(`${o.url}/v1/tables/${encodeURIComponent(o.table)}/records`, params, asOf);
        asOf = page.as_of;
        for (const r of page.records) process.stdout.write(`${JSON.stringify(r)}\n`);
        remaining -= page.records.length;
        cursor = page.next_cursor;
      } while (cursor !== null && remaining > 0);
    });
}

interface RangePage {
  readonly records: unknown[];
  readonly next_cursor: string | null;
  readonly as_of?: string;
}

/** One page at `asOf` (none: as it is now); a table that has no snapshots (a primary key) is read without. */
async function readPage(url: string, params: URLSearchParams, asOf: string | undefined): Promise<RangePage> {
  const at = new URLSearchParams(params);
  if (asOf !== undefined) at.set('as_of', asOf);
  try {
    return (await requestJson(`${url}?${at}`)) as RangePage;
  } catch (err) {
    if (asOf === undefined || !(err instanceof CliError) || err.code !== 'AS_OF_UNSUPPORTED') throw err;
    return (await requestJson(`${url}?${params}`)) as RangePage;
  }
}
