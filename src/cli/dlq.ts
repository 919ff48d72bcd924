/**
 * `sluice dlq list|replay --table T`: the records a table refused and kept
 * in `T__dead_letters` (writes with `on_invalid=dead_letter`, or a table
 * whose `onInvalid` is `dead_letter`), and their re-sending after a schema
 * fix. See docs/operations.md, "Dead letters".
 */
import { Command } from 'commander';
import type { JsonValue } from '../core/schema/table-def.ts';
import { DEFAULT_URL } from './http-client.ts';
import { intOption } from './int-option.ts';
import { replayLetters } from './dlq/replay.ts';
import { storedLetters, type StoredLetter } from './dlq/stored-letters.ts';

/** Most letters `list` prints. */
const LIST_LIMIT_MAX = 1_000_000;

interface ListOptions {
  table: string;
  limit: string;
  all?: boolean;
  url: string;
}

interface ReplayCliOptions {
  table: string;
  dryRun?: boolean;
  url: string;
}

/** The dlq command. */
export function dlqCommand(): Command {
  const dlq = new Command('dlq').description("a table's dead letters: the records it refused, kept with their raw bytes in <table>__dead_letters");
  dlq
    .command('list')
    .description('print pending dead letters as NDJSON: id, time, source, code, path, message, dedupe key and the raw record (text for JSON, base64 for protobuf)')
    .requiredOption('--table <name>', 'the table whose letters to list (not the __dead_letters table itself)')
    .option('--limit <n>', 'most letters to print', '100')
    .option('--all', 'also list letters already replayed')
    .option('--url <url>', 'sluice node URL', DEFAULT_URL)
    .action(async (o: ListOptions) => {
      let left = intOption(o.limit, '--limit', 1, LIST_LIMIT_MAX);
      for await (const letter of storedLetters(o.url, o.table)) {
        if (o.all !== true && letter.status !== 'pending') continue;
        process.stdout.write(`${JSON.stringify(listed(letter))}\n`);
        if (--left === 0) break;
      }
    });
  dlq
    .command('replay')
    .description(
      'send every pending letter to its table again (after a schema fix): those now stored are marked replayed, those still refused stay pending. ' +
        'Safe to interrupt and run again: a letter is stored under the dedupe key its record was sent with (or one derived from its id), never twice; ' +
        'nor twice with the same rows imported again, before or after',
    )
    .requiredOption('--table <name>', 'the table to replay into')
    .option('--dry-run', 'count the pending letters; send nothing')
    .option('--url <url>', 'sluice node URL', DEFAULT_URL)
    .action(async (o: ReplayCliOptions) => {
      const report = await replayLetters({
        url: o.url,
        table: o.table,
        dryRun: o.dryRun === true,
        onRefused: (letter, reason) => process.stderr.write(`still refused: ${letter.id}: ${reason}\n`),
      });
      process.stdout.write(`${JSON.stringify(o.dryRun === true ? { pending: report.pending, already_replayed: report.skipped, dry_run: true } : { replayed: report.replayed, still_refused: report.refused, already_replayed: report.skipped })}\n`);
      // As `sluice ingest`: 3 says records are still refused (and kept), for scripts.
      if (report.refused > 0) process.exitCode = 3;
    });
  dlq.addHelpText(
    'after',
    `
Letters come from writes with on_invalid=dead_letter (or a table whose "onInvalid" is "dead_letter").
Replay after fixing the schema (PATCH /v1/tables/T/schema); exit code 3: some letters are still refused.
Example:
  sluice dlq list --table orders --limit 10
  sluice dlq replay --table orders --dry-run && sluice dlq replay --table orders
See docs/operations.md, "Dead letters".`,
  );
  return dlq;
}

/** A letter as `list` prints it: the raw record readable when it is JSON text. */
function listed(letter: StoredLetter): Record<string, JsonValue> {
  const r = letter.record;
  const failedAt = typeof r['failed_at'] === 'number' ? new Date(r['failed_at']).toISOString() : null;
  return {
    dead_letter_id: letter.id,
    failed_at: failedAt,
    source: r['source'] ?? null,
    code: r['code'] ?? null,
    path: r['path'] ?? null,
    message: r['message'] ?? null,
    status: letter.status,
    dedupe_key: letter.dedupeKey ?? null,
    raw_format: letter.rawFormat,
    raw: letter.rawFormat === 'json' ? letter.raw.toString('utf8') : letter.raw.toString('base64'),
  };
}
