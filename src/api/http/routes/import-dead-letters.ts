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
import { DEAD_LETTER_RAW_BYTES_MAX } from '../../../config.ts';
import { SluiceError } from '../../../core/errors.ts';
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
  // Checked before anything is written, as the pipeline does (collect-dead-letters.ts): the dead-letter table
  // would refuse the letter's base64, which failed the import as INTERNAL instead of naming the row.
  const tooLarge = refused.find((r) => r.raw.byteLength > DEAD_LETTER_RAW_BYTES_MAX);
  if (tooLarge !== undefined) throw tooLargeForALetter(tooLarge);
  const ack = await deadLetterRefused(ctx, table, source, refused, o.requestId);
  return { table: ack.table, count: refused.length };
}

/** SCHEMA_VIOLATION for a refused row whose record no letter can keep: refused as with reject, so it is answered. */
function tooLargeForALetter(r: RefusedRecord): SluiceError {
  return new SluiceError('SCHEMA_VIOLATION', `${r.message}; as a record it is ${r.raw.byteLength} bytes, more than a dead letter keeps (${DEAD_LETTER_RAW_BYTES_MAX}), so it is refused, not dead-lettered`, [
    { ...(r.index === undefined ? {} : { index: r.index }), ...(r.path === undefined ? {} : { path: r.path }), code: r.code, message: r.message },
  ]);
}
