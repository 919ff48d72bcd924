/**
 * `sluice query --table T --key K`: one shard key's records in event-time
 * order as NDJSON, following cursors up to --limit records.
 */
import { Command } from 'commander';
import { CliError } from './cli-error.ts';
import { DEFAULT_URL, requestJson } from './http-client.ts';

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
      if (!/^[0-9]+$/.test(o.limit)) throw new CliError(`--limit must be a positive integer, got ${o.limit}`, 2);
      let remaining = Number(o.limit);
      let cursor: string | null = null;
      do {
        const params = new URLSearchParams({ key: o.key, limit: String(Math.min(PAGE_RECORDS, remaining)) });
        if (o.from !== undefined) params.set('from', o.from);
        if (o.to !== undefined) params.set('to', o.to);
        if (cursor !== null) params.set('cursor', cursor);
        const page = (await requestJson(`${o.url}/v1/tables/${encodeURIComponent(o.table)}/records?${params}`)) as { records: unknown[]; next_cursor: string | null };
        for (const r of page.records) process.stdout.write(`${JSON.stringify(r)}\n`);
        remaining -= page.records.length;
        cursor = page.next_cursor;
      } while (cursor !== null && remaining > 0);
    });
}
