/**
 * Read endpoints: one record by id, one shard key's records by time range
 * (paged with an opaque cursor), and a streaming full export. Every read
 * passes the read barrier, so it sees every write acknowledged before it.
 *
 * `as_of=now|<version>` makes a read a snapshot: records at or below one
 * HLC version, and all of an atomic batch or none of it, across shards and
 * across requests that pass the same version (answered in the `sluice-as-of`
 * header, and in a page's `as_of`). Exports are snapshots by default. Tables
 * with a primary key keep no older versions to read a snapshot from.
 */
import { Readable } from 'node:stream';
import type { FastifyInstance, FastifyReply } from 'fastify';
import { RANGE_PAGE_BYTES_MAX } from '../../../config.ts';
import { SluiceError } from '../../../core/errors.ts';
import type { ApiContext } from '../api-context.ts';
import { needs, onTable } from '../route-auth.ts';
import type { Consistency, Coordinator, RangePage, ReadOptions, ReadRecord } from '../../../cluster/coordinator/coordinator.ts';
import { intParam, oneOf, queryParams, timeParam } from '../query-params.ts';
import { PARQUET_CONTENT_TYPE, parquetExport, parquetExportPlan } from '../../parquet-export.ts';
import { renderWithCurrentSchema, type RecordParts } from '../../record-view.ts';
import { currentDef, type TableEntry } from '../../../storage/catalog.ts';

const ID_MAX = (1n << 64n) - 1n;
/** An export writes its text to the socket once a page of records has brought it to this size. */
const EXPORT_CHUNK_BYTES = 64 * 1024;

/** Registers the read routes. */
export function registerReadRoutes(app: FastifyInstance, ctx: ApiContext): void {
  app.get<{ Params: { table: string; id: string } }>('/v1/tables/:table/records/:id', needs(onTable('read')), async (request, reply) => {
    const q = queryParams(request);
    const consistency = oneOf<Consistency>(q, 'consistency', ['one', 'quorum', 'all'], 'quorum');
    const { catalog, coordinator, tables } = ctx.services();
    const entry = catalog.require(request.params.table);
    const id = parseId(request.params.id);
    const asOf = asOfParam(q, entry, coordinator);
    const rec = await coordinator.getById(entry, id, { consistency, ...(q['token'] === undefined ? {} : { token: q['token'] }), ...asOfOption(asOf) });
    if (asOf !== undefined) reply.header(AS_OF_HEADER, String(asOf));
    if (rec === undefined) throw new SluiceError('RECORD_NOT_FOUND', `no record ${request.params.id} in table ${entry.name}`);
    return json(reply, await renderWithCurrentSchema(() => catalog.require(entry.name), () => tables.refresh(), (e) => ctx.view.toJson(e, rec)));
  });

  app.get<{ Params: { table: string } }>('/v1/tables/:table/records', needs(onTable('read')), async (request, reply) => {
    const q = queryParams(request);
    const consistency = oneOf<Consistency>(q, 'consistency', ['one', 'quorum', 'all'], 'quorum');
    const { catalog, coordinator, tables } = ctx.services();
    const entry = catalog.require(request.params.table);
    const key = q['key'];
    if (key === undefined) throw new SluiceError('INVALID_ARGUMENT', 'key is required (the shard key value); use /export for a full scan');
    const fromMs = timeParam(q, 'from');
    const toMs = timeParam(q, 'to');
    const asOf = asOfParam(q, entry, coordinator);
    const page = await coordinator.queryRange(entry, {
      ...asOfOption(asOf),
      key,
      limit: intParam(q, 'limit', ctx.config.queryLimitDefault, ctx.config.queryLimitMax),
      consistency,
      ...(fromMs === undefined ? {} : { fromMs }),
      ...(toMs === undefined ? {} : { toMs }),
      ...(q['cursor'] === undefined ? {} : { cursor: q['cursor'] }),
      ...(q['token'] === undefined ? {} : { token: q['token'] }),
    });
    const { records, nextCursor } = await renderWithCurrentSchema(() => catalog.require(entry.name), () => tables.refresh(), (e) => pageText(page, (r) => ctx.view.toJson(e, r)));
    if (asOf === undefined) return json(reply, `{"records":[${records}],"next_cursor":${JSON.stringify(nextCursor)}}`);
    reply.header(AS_OF_HEADER, String(asOf));
    return json(reply, `{"records":[${records}],"next_cursor":${JSON.stringify(nextCursor)},"as_of":"${asOf}"}`);
  });

  // Exports streaming now: each holds a scan snapshot (and for Parquet a row group), so they are bounded.
  let exports = 0;
  app.get<{ Params: { table: string } }>('/v1/tables/:table/export', needs(onTable('read')), async (request, reply) => {
    const q = queryParams(request);
    const format = oneOf(q, 'format', ['ndjson', 'parquet'], 'ndjson');
    const consistency = q['consistency'] === undefined ? undefined : oneOf<Consistency>(q, 'consistency', ['one', 'quorum', 'all'], 'quorum');
    const { catalog, coordinator, tables } = ctx.services();
    catalog.require(request.params.table);
    // Every schema version its records can name, before the export's shape is fixed (one etcd read in a cluster;
    // a node behind on versions would otherwise cut the stream at the first record of a version it lacks).
    await tables.refresh();
    const entry = catalog.require(request.params.table);
    // A consistent cut by default: every atomic batch all in or all out (not on primary-key tables: no old versions).
    const asOf = asOfParam(q, entry, coordinator, currentDef(entry).primaryKey === undefined ? 'now' : undefined);
    if (exports >= ctx.config.exportsInFlightMax) {
      throw new SluiceError('OVERLOADED', `${exports} exports are running (--exports-in-flight-max); retry after the Retry-After delay`, [{ path: 'exports', message: `limit ${ctx.config.exportsInFlightMax}` }]);
    }
    exports++;
    let released = false;
    const release = (): void => {
      if (!released) {
        released = true;
        exports--;
      }
    };
    // 'close' comes when the answer is done, failed, or the client went away.
    reply.raw.once('close', release);
    // A reader that stops reading without closing: no byte leaves for this long, and the answer is ended (which
    // closes the scan and frees the slot). An idle timer on the socket, so a steady slow reader is not cut.
    reply.raw.setTimeout(ctx.config.exportStallMs, () => reply.raw.destroy());
    try {
      if (asOf !== undefined) reply.header(AS_OF_HEADER, String(asOf));
      const options: ReadOptions = { ...(q['token'] === undefined ? {} : { token: q['token'] }), ...asOfOption(asOf), ...(consistency === undefined ? {} : { consistency }) };
      return await streamExport(ctx, reply, entry, format, options);
    } catch (err) {
      release();
      throw err;
    }
  });
}

/**
 * A range page's records as JSON text, ending once the text reaches
 * RANGE_PAGE_BYTES_MAX characters (at least one record), with the cursor to
 * go on from. The coordinator bounds the stored bytes it reads; the text
 * can be many times larger (a boolean of a 63-character field name is one
 * byte stored, 70 characters of JSON), and one string past V8's longest
 * fails the request.
 */
function pageText(page: RangePage, toJson: (rec: ReadRecord) => string): { records: string; nextCursor: string | null } {
  const parts: string[] = [];
  let chars = 0;
  for (const [i, rec] of page.records.entries()) {
    if (chars >= RANGE_PAGE_BYTES_MAX) {
      return { records: parts.join(','), nextCursor: page.cursorAfter(i - 1) };
    }
    const text = toJson(rec);
    parts.push(text);
    chars += text.length + 1;
  }
  return { records: parts.join(','), nextCursor: page.nextCursor };
}

/** Streams one table's records as NDJSON or Parquet. */
async function streamExport(ctx: ApiContext, reply: FastifyReply, entry: TableEntry, format: 'ndjson' | 'parquet', options: ReadOptions): Promise<FastifyReply> {
  const { coordinator } = ctx.services();
  const pages = coordinator.scanTable(entry, options)[Symbol.asyncIterator]();
  // The scan holds a storage iterator (and its snapshot) until it ends or is
  // closed. The generators below pull it by hand, so the return() a
  // destroyed stream sends them never reaches it (nor does one sent to a
  // generator not yet started): close it however the answer ends, the
  // client going away included. A no-op on a scan already done.
  reply.raw.once('close', () => void pages.return?.().catch(() => undefined));
  // Pull the first page before answering: the read barrier and a missing
  // table fail with a proper status, not a cut stream.
  const first = await pages.next();
  const view = ctx.view;
  // Records rewritten while the export runs may name a later schema version: shown under the export's.
  const later = (): TableEntry | undefined => ctx.services().catalog.get(entry.name);
  if (format === 'parquet') {
    async function* rows(): AsyncGenerator<RecordParts> {
      for (let p = first; p.done !== true; p = await pages.next()) for (const rec of p.value) yield view.toParts(entry, rec, later);
    }
    const plan = parquetExportPlan(currentDef(entry), entry.versions.some((v) => v.extraFields === 'keep'));
    const limits = { rowGroupRowsMax: ctx.config.exportRowGroupRowsMax, rowGroupBytesMax: ctx.config.exportRowGroupBytesMax };
    return reply
      .code(200)
      .type(PARQUET_CONTENT_TYPE)
      .header('content-disposition', `attachment; filename="${entry.name}.parquet"`)
      .send(Readable.from(parquetExport(plan, rows(), limits)));
  }
  async function* lines(): AsyncGenerator<string> {
    let chunk = '';
    for (let p = first; p.done !== true; p = await pages.next()) {
      // Per record, not per page: a page of a cluster export holds up to 16 MiB stored, far more as text.
      for (const rec of p.value) {
        chunk += view.toJson(entry, rec, later) + '\n';
        if (chunk.length >= EXPORT_CHUNK_BYTES) {
          yield chunk;
          chunk = '';
        }
      }
    }
    if (chunk.length > 0) yield chunk;
  }
  return reply.code(200).type('application/x-ndjson').send(Readable.from(lines()));
}

/** The response header naming the snapshot a read was taken at. */
const AS_OF_HEADER = 'sluice-as-of';

/**
 * The `as_of` of a read (`fallback` when absent): 'now' takes a snapshot at
 * the coordinator (above the write a `token` names); a version reads that
 * snapshot again. Undefined: not a snapshot read.
 */
function asOfParam(q: Record<string, string | undefined>, entry: TableEntry, coordinator: Coordinator, fallback?: 'now'): bigint | undefined {
  const given = q['as_of'];
  const text = given ?? fallback;
  if (text === undefined) return undefined;
  if (currentDef(entry).primaryKey !== undefined) {
    throw new SluiceError('AS_OF_UNSUPPORTED', `table ${entry.name} has a primary key: last-writer-wins keeps no older versions to read a snapshot from; read without as_of`, [{ path: 'as_of', message: 'not on a table with a primary key' }]);
  }
  if (text === 'now') return coordinator.snapshot(q['token']);
  if (!/^[0-9]{1,20}$/.test(text) || BigInt(text) > ID_MAX) {
    throw new SluiceError('INVALID_ARGUMENT', 'as_of is now, or a version a snapshot read answered with', [{ path: 'as_of', message: `got ${JSON.stringify(text)}` }]);
  }
  const asOf = BigInt(text);
  // No snapshot was answered this far ahead: reading it would move the replicas' clocks ahead, or be refused as CLOCK_SKEW.
  const max = coordinator.asOfMax();
  if (asOf > max) {
    throw new SluiceError('INVALID_ARGUMENT', 'as_of is ahead of every version a snapshot read can have answered (by this node\'s clock and --max-clock-offset-ms)', [{ path: 'as_of', message: `got ${text}, newest ${max}` }]);
  }
  return asOf;
}

function asOfOption(asOf: bigint | undefined): { asOf?: bigint } {
  return asOf === undefined ? {} : { asOf };
}

function parseId(text: string): bigint {
  if (!/^[0-9]{1,20}$/.test(text) || BigInt(text) > ID_MAX) {
    throw new SluiceError('INVALID_ARGUMENT', 'a record id is a decimal integer below 2^64', [{ path: 'id', message: `got ${JSON.stringify(text)}` }]);
  }
  return BigInt(text);
}

function json(reply: FastifyReply, body: string): FastifyReply {
  return reply.code(200).type('application/json').send(body);
}
