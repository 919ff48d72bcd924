/**
 * Rows of an imported file that the conversion refused (a CSV cell not of
 * its column's type, a row with too many or too few cells, a Parquet value
 * that does not fit its field), kept as dead letters when the import runs
 * with `on_invalid=dead_letter`. The node's own refusals of converted rows
 * are dead-lettered by the pipeline; these never reach it, so the route
 * stores them itself, each row as the record it would have been (the
 * refused cell as the file has it), so `sluice dlq replay` can send it
 * again once the schema is fixed.
 */
import { rowLetters, type FileRowProblem } from '../../../ingest/formats/file-batch.ts';
import type { ApiContext } from '../api-context.ts';
import { deadLetterRefused, type RefusedRecord } from '../dead-letter-refused.ts';

/** Where the letters of one batch of refused rows went. */
export interface RowLetters {
  readonly table: string;
  readonly count: number;
}

/**
 * Stores the refused rows among `problems` that carry their record in
 * `table`'s dead-letter table; resolves once durable (undefined when there
 * are none). With a dedupe prefix, a row's letter id follows from its row
 * key, so importing the same file again rewrites its letters instead of
 * adding to them.
 */
export async function deadLetterRows(ctx: ApiContext, table: string, source: string, problems: readonly FileRowProblem[], o: { prefix?: string; requestId: string }): Promise<RowLetters | undefined> {
  const refused: RefusedRecord[] = rowLetters(problems, o.prefix).map(({ record, ...letter }) => ({ raw: Buffer.from(JSON.stringify(record)), ...letter }));
  if (refused.length === 0) return undefined;
  const ack = await deadLetterRefused(ctx, table, source, refused, o.requestId);
  return { table: ack.table, count: refused.length };
}
